"""Real-time factor of `liveify render --no-model --preset stadium` on one CPU core.

Renders a generated multi-minute 44.1 kHz stereo track in a fresh process pinned to one core
(startup, beat tracking, rendering, loudness pass and writing all included) and prints
audio seconds per wall second. Target (DESIGN.md): >= 100x real time.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from common import print_rows, row, run_cli, write_synthetic_track

TARGET_REAL_TIME = 100.0


def run(quick: bool = False, preset: str = "stadium") -> list[dict]:
    duration_s = 60.0 if quick else 300.0
    work = Path(tempfile.mkdtemp(prefix="liveify-bench-"))
    try:
        album = work / "album"
        album.mkdir()
        write_synthetic_track(album / "01 Track.wav", duration_s)
        seconds, _peak_mib = run_cli(
            [
                "render",
                str(album),
                "-o",
                str(work / "out"),
                "--no-model",
                "--preset",
                preset,
                "--no-progress",
            ],
            cores="0",
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [
        row(
            f"render DSP-only ({preset}), 1 core",
            duration_s / seconds,
            "x real time",
            TARGET_REAL_TIME,
            note=f"{duration_s:.0f} s track in {seconds:.2f} s",
        )
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1-minute track instead of 5")
    parser.add_argument("--preset", default="stadium")
    arguments = parser.parse_args()
    print_rows(run(quick=arguments.quick, preset=arguments.preset))
