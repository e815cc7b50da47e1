"""Catalogue speed: `run_batch` on 4 albums x 2 tracks with 1 and 2 local workers and on Ray.

- 2 local workers against 1: target >= 1.6x (DESIGN.md).
- The Ray engine (an embedded instance of 2 CPUs, 2 tasks at once) against the local engine with
  2 workers: target within 15 % (time ratio <= 1.15).

Each run is a fresh Python process that imports Liveify, then times `run_batch` alone into a
fresh output folder: worker start-up (spawning, imports, the render path's first-use costs) is
inside the timed span for both engines; Ray's own start (`ray.init`) is timed on its own row.
Tracks are DSP-only renders (`--no-model`, club preset). Rounds alternate the configurations
and each keeps its best time, since the machine's load moves while the benchmark runs.

On a busy Linux machine with `kernel.sched_autogroup_enabled` the scheduler shares the cores
between sessions first: local workers live in the benchmark's session and share its one slice
(so a second worker adds little while other sessions keep the cores busy), while Ray's workers,
started by its raylet in sessions of their own, each get a slice. Only figures from a quiet
machine measure the engines themselves; the note gives the load average.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, print_rows, row, write_synthetic_track

SPEED_UP_TARGET = 1.6
RAY_OVERHEAD_TARGET = 1.15
ALBUMS, TRACKS_PER_ALBUM = 4, 2

_CHILD = """
import json, sys, time
from pathlib import Path
from liveify.batch import BatchRenderOptions, EngineOptions, run_batch
catalogue, output_root, engine, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ray_start_s = None
if engine == "ray":
    import ray
    started = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, logging_level="WARNING")
    ray_start_s = time.perf_counter() - started
options = BatchRenderOptions(preset="club", use_model=False)
started = time.perf_counter()
result = run_batch(Path(catalogue), Path(output_root), options,
                   EngineOptions(engine=engine, workers=workers), progress=False)
seconds = time.perf_counter() - started
assert not result.failed, result.failed
print(json.dumps({"seconds": seconds, "ray_start_s": ray_start_s,
                  "audio_s": sum(o.audio_s for o in result.outcomes)}))
"""


def timed_batch(catalogue: Path, output_root: Path, engine: str, workers: int) -> dict:
    """One `run_batch` in a fresh process; its seconds (and Ray's start-up, for Ray)."""
    shutil.rmtree(output_root, ignore_errors=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    output = subprocess.run(
        [sys.executable, "-c", _CHILD, str(catalogue), str(output_root), engine, str(workers)],
        check=True, capture_output=True, text=True, cwd=REPO, env=env,
    ).stdout  # fmt: skip
    return json.loads(output.strip().splitlines()[-1])


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def run(quick: bool = False) -> list[dict]:
    track_s = 30.0 if quick else 90.0
    rounds = 1 if quick else 2
    work = Path(tempfile.mkdtemp(prefix="liveify-batch-speed-"))
    try:
        catalogue = work / "catalogue"
        for album in range(ALBUMS):
            for track in range(TRACKS_PER_ALBUM):
                folder = catalogue / f"Album {album + 1}"
                folder.mkdir(parents=True, exist_ok=True)
                write_synthetic_track(folder / f"{track + 1} Song.wav", track_s,
                                      seed=album * 10 + track)  # fmt: skip
        configurations = {"local 1": ("local", 1), "local 2": ("local", 2), "ray 2": ("ray", 2)}
        times: dict[str, list[float]] = {name: [] for name in configurations}
        ray_starts, loads = [], [load_average()]
        for _ in range(rounds):
            for name, (engine, workers) in configurations.items():
                result = timed_batch(catalogue, work / "out", engine, workers)
                times[name].append(result["seconds"])
                if result["ray_start_s"] is not None:
                    ray_starts.append(result["ray_start_s"])
                audio_s = result["audio_s"]
            loads.append(load_average())
        best = {name: min(values) for name, values in times.items()}
        spread = {name: ", ".join(f"{v:.1f}" for v in values) for name, values in times.items()}
        note = f"load average {' -> '.join(loads)} (1/5/15 min) over the rounds"
        return [
            row("batch, 1 local worker", audio_s / best["local 1"], "x real time", None,
                note=f"{ALBUMS} albums x {TRACKS_PER_ALBUM} tracks of {track_s:g} s, club, "
                f"no model; runs {spread['local 1']} s"),
            row("batch, 2 local workers", audio_s / best["local 2"], "x real time", None,
                note=f"runs {spread['local 2']} s"),
            row("batch speed-up, 2 local workers / 1", best["local 1"] / best["local 2"], "x",
                SPEED_UP_TARGET, note=note),
            row("batch, Ray engine (2 CPUs)", audio_s / best["ray 2"], "x real time", None,
                note=f"runs {spread['ray 2']} s; ray.init {min(ray_starts):.1f} s, not included"),
            row("batch time, Ray engine / local engine (2 workers)", best["ray 2"] / best["local 2"],
                "x", RAY_OVERHEAD_TARGET, higher_is_better=False, note=note),
        ]  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv))
