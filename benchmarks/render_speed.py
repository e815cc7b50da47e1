"""Real-time factor of `liveify render --no-model --preset stadium` on one CPU core.

Two figures from one generated multi-minute 44.1 kHz stereo track, both pinned to one core:
- warm: `render_album` in a process that has already imported its libraries and rendered a
  5-second track once (librosa compiles its beat tracker with numba on import, ~1.5-4 s, once per
  process), so the figure is the per-track throughput an album render sees; target >= 100x.
- cold: the whole `liveify render` command in a fresh process, start-up included (no target; the
  gap to warm is the fixed start-up cost, which an album pays once).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import print_rows, row, run_cli, write_synthetic_track

TARGET_REAL_TIME = 100.0


def _warm_render_seconds(album: Path, work: Path, preset_name: str) -> float:
    """Seconds `render_album` takes on `album` after a warm-up render in this process."""
    from liveify.presets import load_preset
    from liveify.render import RenderSettings, collect_tracks, render_album

    preset = load_preset(preset_name)
    warm_album = work / "warm-up"
    warm_album.mkdir()
    write_synthetic_track(warm_album / "warm.wav", 5.0)
    for source, name in ((warm_album, "warm-out"), (album, "out")):
        settings = RenderSettings(preset=preset, output_dir=work / name, progress=False)
        start = time.perf_counter()
        render_album(collect_tracks([source]), settings, model_path=None, model_note="off")
        elapsed = time.perf_counter() - start
    return elapsed


def run(quick: bool = False, preset: str = "stadium") -> list[dict]:
    duration_s = 60.0 if quick else 300.0
    work = Path(tempfile.mkdtemp(prefix="liveify-bench-"))
    try:
        album = work / "album"
        album.mkdir()
        write_synthetic_track(album / "01 Track.wav", duration_s)
        os.sched_setaffinity(0, {0})
        warm_s = _warm_render_seconds(album, work, preset)
        cold_s, _ = run_cli(
            ["render", str(album), "-o", str(work / "cold-out"), "--no-model", "--preset",
             preset, "--no-progress"],
            cores="0",
        )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [
        row(f"render DSP-only ({preset}), 1 core, warm", duration_s / warm_s, "x real time",
            TARGET_REAL_TIME, note=f"{duration_s:.0f} s track in {warm_s:.2f} s"),
        row(f"render DSP-only ({preset}), 1 core, cold CLI", duration_s / cold_s, "x real time",
            None, note=f"whole command incl. start-up: {cold_s:.2f} s"),
    ]  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1-minute track instead of 5")
    parser.add_argument("--preset", default="stadium")
    arguments = parser.parse_args()
    print_rows(run(quick=arguments.quick, preset=arguments.preset))
