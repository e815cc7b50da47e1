"""Shared fixtures: small generated audio, written to temporary files."""

from __future__ import annotations

import os

# One math thread per test process: on a shared 2-core machine, torch's and ONNX Runtime's thread
# pools fighting over the cores make small tests many times slower, and the results are the same.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import soundfile as sf

from tests.helpers import make_tiny_model, tone_mix


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


@pytest.fixture
def tiny_model():
    """A seeded random LiveifyModel of `helpers.TINY_MODEL` (imports torch when used)."""
    return make_tiny_model()
