"""Start-up costs: light commands, and the first render after install against a warm one.

- `liveify presets list`, `presets show` and `render --dry-run` in fresh processes: target
  < 0.5 s each (they import no DSP beyond numpy, no scipy.signal, no librosa).
- The first render after install: `liveify render` of a 20 s track in a fresh process with an
  empty numba cache directory (NUMBA_CACHE_DIR), against the same command once its caches are
  warm (the second run). Target: at most a few seconds more (DESIGN.md); the render path uses no
  numba JIT, so the two differ by page cache and bytecode only.

Each figure is the best of three runs (the spread is in the note).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, print_rows, row, write_synthetic_track

LIGHT_COMMAND_TARGET_S = 0.5
FIRST_RENDER_EXTRA_TARGET_S = 3.0
RUNS = 3


def command_seconds(args: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "liveify", *args], check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)  # fmt: skip
    return time.perf_counter() - start


def best(seconds: list[float]) -> tuple[float, str]:
    return min(seconds), ", ".join(f"{value:.2f}" for value in seconds)


def run(quick: bool = False) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="liveify-startup-"))
    rows = []
    try:
        album = work / "album"
        album.mkdir()
        write_synthetic_track(album / "01 Song.wav", 20.0)
        for label, args in [
            ("presets list", ["presets", "list"]),
            ("presets show stadium", ["presets", "show", "stadium"]),
            ("render --dry-run", ["render", str(album), "-o", str(work / "plan"), "--dry-run"]),
        ]:
            value, spread = best([command_seconds(args) for _ in range(RUNS)])
            rows.append(row(f"start-up: {label}", value, "s", LIGHT_COMMAND_TARGET_S,
                            higher_is_better=False, note=f"runs {spread} s"))  # fmt: skip
        cold, warm = [], []
        for attempt in range(1 if quick else RUNS):
            env = {**os.environ, "NUMBA_CACHE_DIR": str(work / f"numba-{attempt}")}
            args = ["render", str(album), "-o", str(work / f"out-{attempt}"), "--no-progress",
                    "--force", "-p", "stadium"]  # fmt: skip
            cold.append(command_seconds(args, env))
            warm.append(command_seconds(args, env))
        cold_s, cold_spread = best(cold)
        warm_s, warm_spread = best(warm)
        rows.append(row("first render after install: extra seconds over a warm run",
                        cold_s - warm_s, "s", FIRST_RENDER_EXTRA_TARGET_S, higher_is_better=False,
                        note=f"20 s track with the bundled model; empty numba cache {cold_spread} s,"
                             f" then warm {warm_spread} s"))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv))
