"""How the demo writes its files: 44.1 kHz 16-bit WAVs and the live take's JSON beside it, each
atomically, so the same seed gives byte-identical files and a killed run leaves no half file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from liveify.files import atomic_path, write_text_atomic

#: Rate of every demo file, studio and live.
SAMPLE_RATE_HZ = 44100


def peak_normalise(audio: np.ndarray, peak: float = 0.89) -> np.ndarray:
    """`audio` scaled so its highest absolute sample is `peak` (about -1 dBFS)."""
    return audio * (peak / max(np.max(np.abs(audio)), 1e-9))


def write_demo_wav(path: Path, audio: np.ndarray) -> None:
    """Write `(2, samples)` audio as a 16-bit WAV at `SAMPLE_RATE_HZ`, atomically."""
    import soundfile

    with atomic_path(path) as temporary:
        soundfile.write(
            str(temporary), audio.T.astype(np.float32), SAMPLE_RATE_HZ, subtype="PCM_16",
            format="WAV",
        )  # fmt: skip


def write_pair(
    outdir: Path, stem: str, studio: np.ndarray, live: np.ndarray, info: dict
) -> tuple[Path, Path]:
    """Write `outdir/studio/STEM.wav`, `outdir/live/STEM (Live).wav` and, beside the live take,
    `STEM (Live).json` holding `info` (its time map and settings); returns the two WAV paths."""
    studio_path = outdir / "studio" / f"{stem}.wav"
    live_path = outdir / "live" / f"{stem} (Live).wav"
    write_demo_wav(studio_path, studio)
    write_demo_wav(live_path, live)
    write_text_atomic(live_path.with_suffix(".json"), json.dumps(info, indent=1, sort_keys=True))
    return studio_path, live_path
