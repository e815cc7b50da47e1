"""Real-time factor of `liveify render --no-model --preset stadium` on one CPU core.

Two figures from one generated multi-minute 44.1 kHz stereo track, both in processes pinned to one
core from their start (taskset, one math thread):
- warm: `render_album` in a process that has already imported its libraries and rendered a
  5-second track once (ONNX Runtime arenas, numpy/scipy FFT plans and the first file's codecs
  are set up then), so the figure is the per-track throughput an album render sees. The best of three
  renders is reported (the spread is in the note): on a shared machine the slower runs measure
  the neighbours. Target >= 100x.
- cold: the whole `liveify render` command in a fresh process, start-up included (no target; the
  gap to warm is the fixed start-up cost, which an album pays once).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, pinned, print_rows, row, run_cli, write_synthetic_track

TARGET_REAL_TIME = 100.0
WARM_RUNS = 3


def warm_render_seconds(album: Path, work: Path, preset_name: str, runs: int) -> list[float]:
    """Seconds each of `runs` `render_album` calls on `album` takes after a warm-up render."""
    from liveify.presets import load_preset
    from liveify.render import RenderSettings, collect_tracks, render_album

    preset = load_preset(preset_name)
    warm_album = work / "warm-up"
    warm_album.mkdir()
    write_synthetic_track(warm_album / "warm.wav", 5.0)
    times = []
    for name, source in [("warm-out", warm_album)] + [(f"out-{i}", album) for i in range(runs)]:
        settings = RenderSettings(preset=preset, output_dir=work / name, progress=False)
        start = time.perf_counter()
        render_album(collect_tracks([source]).tracks, settings)
        times.append(time.perf_counter() - start)
        shutil.rmtree(work / name)
    return times[1:]


def run(quick: bool = False, preset: str = "stadium") -> list[dict]:
    duration_s = 60.0 if quick else 300.0
    work = Path(tempfile.mkdtemp(prefix="liveify-bench-"))
    try:
        album = work / "album"
        album.mkdir()
        write_synthetic_track(album / "01 Track.wav", duration_s)
        command, env = pinned(
            [sys.executable, __file__, "--warm-child", str(album), str(work), preset], cores="0"
        )
        child = subprocess.run(command, env=env, check=True, capture_output=True, text=True,
                               cwd=REPO)  # fmt: skip
        warm = json.loads(child.stdout.splitlines()[-1])
        cold_s, _ = run_cli(
            ["render", str(album), "-o", str(work / "cold-out"), "--no-model", "--preset",
             preset, "--no-progress"],
            cores="0",
        )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best_s = min(warm)
    runs = ", ".join(f"{duration_s / s:.0f}x" for s in warm)
    return [
        row(f"render DSP-only ({preset}), 1 core, warm", duration_s / best_s, "x real time",
            TARGET_REAL_TIME,
            note=f"{duration_s:.0f} s track in {best_s:.2f} s, best of {len(warm)} ({runs})"),
        row(f"render DSP-only ({preset}), 1 core, cold CLI", duration_s / cold_s, "x real time",
            None, note=f"whole command incl. start-up: {cold_s:.2f} s"),
    ]  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1-minute track instead of 5")
    parser.add_argument("--preset", default="stadium")
    parser.add_argument("--warm-child", nargs=3, metavar=("ALBUM", "WORK", "PRESET"),
                        help=argparse.SUPPRESS)  # fmt: skip
    arguments = parser.parse_args()
    if arguments.warm_child:
        album, work, preset_name = arguments.warm_child
        print(json.dumps(warm_render_seconds(Path(album), Path(work), preset_name, WARM_RUNS)))
    else:
        print_rows(run(quick=arguments.quick, preset=arguments.preset))
