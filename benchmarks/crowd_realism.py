"""Does the crowd sound like people? Issue 12's acceptance figures on real recordings, per preset.

    python benchmarks/crowd_realism.py /path/to/album               # stadium arena club theater jazz-club
    python benchmarks/crowd_realism.py album/ --presets club --keep renders/ --tracks

Renders the folder the way users do (`python -m liveify render FOLDER -p PRESET --no-model`, this
checkout's code, seed 0), then measures every output against its input. Not part of the test suite
and never run on recordings in the repository: give it your own held-out tracks.

Figures, per track (each preset row gives the worst track; the note gives the median):
- tail 8k-1k: level of the applause tail's 8 kHz octave (5.66-11.3 kHz, cut at Nyquist) minus its
  1 kHz octave (707-1414 Hz), from the tail's Welch power spectrum. Real applause: -16 dB, a large
  crowd -27 dB. Target <= -10 dB.
- tail decay: level of the tail's loudest second minus its last second (1 s windows counted back
  from the end of the file). Target >= 20 dB.
- last 50 ms: peak level of the file's last 50 ms in dBFS. Target <= -60 dBFS.
- tail flatness: median spectral flatness (geometric over arithmetic mean of the 2048-point power
  spectrum, Hann, hop 512) of the tail's frames within 50 dB of its loudest frame (silence has no
  spectrum to be flat). Real recordings < 0.01. Target <= 0.05.
- click share: of the energy above 4 kHz (4th-order Butterworth high-pass) in 2 ms frames during
  the music, the share carried by the 10 % of frames with the most of it; the output's music span
  minus the input's own share. A click track concentrates it. Target <= 0.05.

The tail is everything after the song: the preset's `tail_s` seconds at the end of each output.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import REPO, print_rows, row

PRESETS = ("stadium", "arena", "club", "theater", "jazz-club")
#: (metric, unit, target, higher is better, label)
METRICS = (
    ("tail_8k_re_1k_db", "dB", -10.0, False, "tail 8k-1k octave"),
    ("tail_decay_db", "dB", 20.0, True, "tail decay"),
    ("last_50ms_dbfs", "dBFS", -60.0, False, "last 50 ms peak"),
    ("tail_flatness", "", 0.05, False, "tail flatness"),
    ("click_share_added", "", 0.05, False, "click share added"),
)


def octave_power(audio: np.ndarray, sample_rate: float, centre_hz: float) -> float:
    """Power of `audio` (channels, n) in the octave around `centre_hz` (Welch, both channels)."""
    from scipy.signal import welch

    frequencies, density = welch(audio, fs=sample_rate, nperseg=4096, axis=-1)
    band = (frequencies >= centre_hz / np.sqrt(2)) & (frequencies < centre_hz * np.sqrt(2))
    return float(density[..., band].sum())


def tail_decay_db(tail: np.ndarray, sample_rate: float) -> float:
    """Loudest 1 s window of the tail minus its last one (windows counted back from the end)."""
    second = int(sample_rate)
    count = tail.shape[1] // second
    windows = tail[:, tail.shape[1] - count * second :].reshape(tail.shape[0], count, second)
    levels_db = 10 * np.log10(np.mean(windows.astype(np.float64) ** 2, axis=(0, 2)) + 1e-20)
    return float(levels_db.max() - levels_db[-1])


def median_flatness(tail: np.ndarray) -> float:
    """Median spectral flatness of the tail's frames within 50 dB of its loudest frame."""
    mono = tail.mean(axis=0).astype(np.float64)
    n_fft, hop = 2048, 512
    if mono.size < n_fft:
        return float("nan")
    frames = np.lib.stride_tricks.sliding_window_view(mono, n_fft)[::hop] * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-20
    energy = power.sum(axis=1)
    audible = energy >= energy.max() * 1e-5
    flatness = np.exp(np.mean(np.log(power), axis=1)) / np.mean(power, axis=1)
    return float(np.median(flatness[audible]))


def high_share(audio: np.ndarray, sample_rate: float) -> float:
    """Share of the >4 kHz energy carried by the 10 % of 2 ms frames with the most of it."""
    from scipy.signal import butter, sosfilt

    sos = butter(4, 4000.0, "highpass", fs=sample_rate, output="sos")
    high = sosfilt(sos, audio.astype(np.float64), axis=-1)
    frame = max(1, round(0.002 * sample_rate))
    count = high.shape[1] // frame
    energies = np.sum(high[:, : count * frame].reshape(high.shape[0], count, frame) ** 2, (0, 2))
    energies = np.sort(energies)[::-1]
    loudest = max(1, count // 10)
    return float(energies[:loudest].sum() / max(energies.sum(), 1e-30))


def measure(source: Path, output: Path, lead_in_s: float, tail_s: float) -> dict:
    """Issue 12's five figures for one rendered track (see the module docstring)."""
    from liveify.audio import read_audio

    rendered, rate = read_audio(output)
    studio, _ = read_audio(source, sample_rate=rate)
    lead_in, tail = round(lead_in_s * rate), round(tail_s * rate)
    music = rendered[:, lead_in : rendered.shape[1] - tail]
    applause = rendered[:, rendered.shape[1] - tail :]
    last = np.abs(rendered[:, -round(0.05 * rate) :]).max()
    return {
        "tail_8k_re_1k_db": 10
        * np.log10(
            (octave_power(applause, rate, 8000.0) + 1e-30)
            / (octave_power(applause, rate, 1000.0) + 1e-30)
        ),
        "tail_decay_db": tail_decay_db(applause, rate),
        "last_50ms_dbfs": 20 * np.log10(last + 1e-12),
        "tail_flatness": median_flatness(applause),
        "click_share_added": high_share(music, rate) - high_share(studio, rate),
    }


def render(folder: Path, preset: str, out_dir: Path, seed: int) -> dict:
    """`liveify render FOLDER -p PRESET --no-model` with this checkout's code; returns report.json."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [
        sys.executable,
        "-m",
        "liveify",
        "render",
        str(folder),
        "-p",
        preset,
        "--no-model",
        "-o",
        str(out_dir),
        "--no-progress",
        "--force",
        "--seed",
        str(seed),
    ]
    subprocess.run(command, env=env, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return json.loads((out_dir / "report.json").read_text())


def preset_rows(folder: Path, preset: str, out_dir: Path, seed: int, per_track: bool) -> list:
    from liveify.presets import load_preset

    settings = load_preset(preset)
    report = render(folder, preset, out_dir, seed)
    figures = {}
    for track in report["tracks"]:
        if track["status"] == "ok":
            figures[Path(track["input"]).name] = measure(
                Path(track["input"]), Path(track["output"]), settings.lead_in_s, settings.tail_s
            )
    rows = []
    for key, unit, target, higher, label in METRICS:
        values = np.array([f[key] for f in figures.values()])
        worst = values.min() if higher else values.max()
        failing = int(np.sum(values < target if higher else values > target))
        rows.append(
            row(
                f"{preset}: {label}",
                float(worst),
                unit,
                target,
                higher,
                note=f"worst of {len(values)} tracks; median {np.median(values):.3g}; "
                f"{failing} miss",
            )
        )
        if per_track:
            rows += [row(f"  {name}", float(f[key]), unit, None) for name, f in figures.items()]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder of real recordings (full tracks)")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the renders in KEEP/PRESET/")
    parser.add_argument("--tracks", action="store_true", help="also print every track's figure")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    rows = []
    with tempfile.TemporaryDirectory(prefix="liveify-crowd-") as scratch:
        base = args.keep or Path(scratch)
        for preset in args.presets:
            rows += preset_rows(args.folder, preset, base / preset, args.seed, args.tracks)
    print_rows(rows)


if __name__ == "__main__":
    main()
