"""Album loudness on real recordings: how close `liveify render` lands to its target, per preset.

    python benchmarks/album_loudness.py ~/Music/some-album/ [--presets club stadium] [--model]

Renders the folder with each preset (DSP only unless --model) and measures the outputs with
pyloudnorm, independently of Liveify's own meter: the album's integrated loudness against the
-14 LUFS target, every output's true peak (4x oversampled) against -1 dBTP, and each track's
loudness. Not part of the test suite: point it at recordings you have.
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

import numpy as np
import pyloudnorm
import soundfile as sf
from common import REPO, print_rows, row
from scipy.signal import resample_poly

TARGET_LUFS = -14.0
CEILING_DB = -1.0


def measure(report: dict) -> tuple[float, float, list[float]]:
    """Album loudness, highest true peak and per-track loudness of a render's outputs."""
    audio, per_track, peaks = [], [], []
    for track in report["tracks"]:
        samples, rate = sf.read(track["output"], dtype="float32")
        if rate != 44100:
            samples = resample_poly(samples, 44100, rate, axis=0)
        meter = pyloudnorm.Meter(44100)
        per_track.append(meter.integrated_loudness(samples))
        peaks.append(20 * np.log10(np.abs(resample_poly(samples, 4, 1, axis=0)).max()))
        audio.append(samples)
    album = pyloudnorm.Meter(44100).integrated_loudness(np.concatenate(audio))
    return album, max(peaks), per_track


def run(folder: Path, presets: list[str], use_model: bool) -> list[dict]:
    rows = []
    work = Path(tempfile.mkdtemp(prefix="liveify-loudness-"))
    try:
        for preset in presets:
            out = work / preset
            command = [sys.executable, "-m", "liveify", "render", str(folder), "-o", str(out),
                       "-p", preset, "--no-progress"] + ([] if use_model else ["--no-model"])  # fmt: skip
            start = time.perf_counter()
            subprocess.run(command, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
            seconds = time.perf_counter() - start
            report = json.loads((out / "report.json").read_text())
            album, peak, per_track = measure(report)
            limited = max(t.get("max_gain_reduction_db") or 0.0 for t in report["tracks"])
            note = (f"tracks {min(per_track):.1f}..{max(per_track):.1f} LUFS, peak {peak:.2f} dBTP, "
                    f"limiting up to {limited:.1f} dB, {seconds:.0f} s")  # fmt: skip
            rows.append(row(f"{preset}: album loudness error", abs(album - TARGET_LUFS), "LU",
                            0.5, higher_is_better=False, note=note))  # fmt: skip
            rows.append(row(f"{preset}: highest true peak", peak, "dBTP", CEILING_DB,
                            higher_is_better=False))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--presets", nargs="+",
                        default=["club", "stadium", "arena", "festival", "theater", "cathedral",
                                 "jazz-club"])  # fmt: skip
    parser.add_argument("--model", action="store_true", help="with the model stage")
    arguments = parser.parse_args()
    print_rows(run(arguments.folder, arguments.presets, arguments.model))
