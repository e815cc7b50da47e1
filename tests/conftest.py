"""Shared fixtures: small generated audio, written to temporary files."""

from __future__ import annotations

import os

# One math thread per test process: on a shared 2-core machine, torch's and ONNX Runtime's thread
# pools fighting over the cores make small tests many times slower, and the results are the same.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
import soundfile as sf


def tone_mix(
    duration_s: float, sample_rate: int, *, channels: int = 2, seed: int = 0
) -> np.ndarray:
    """A music-like test signal: a chord with a decaying pluck every half second, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    pluck_envelope = np.exp(-6.0 * (t % 0.5))
    mono = 0.3 * chord * (0.3 + 0.7 * pluck_envelope) + 0.01 * rng.standard_normal(len(t))
    stereo = np.stack([mono * (1.0 - 0.2 * ch) for ch in range(channels)])
    return stereo.astype(np.float32)


@pytest.fixture
def write_track(tmp_path):
    """Write a generated track and return its path: write_track("01 Song.wav", seconds=3)."""

    def write(
        name: str,
        *,
        seconds: float = 3.0,
        sample_rate: int = 44100,
        channels: int = 2,
        seed: int = 0,
        subtype: str | None = None,
        folder=None,
    ):
        path = (folder or tmp_path) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(
            path,
            tone_mix(seconds, sample_rate, channels=channels, seed=seed).T,
            sample_rate,
            subtype=subtype,
        )
        return path

    return write
