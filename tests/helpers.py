"""Helpers shared by the tests (imported explicitly; fixtures stay in conftest.py): generated
audio, true-peak measurement, the CLI in-process and the tiny model configuration."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner, Result
from scipy.signal import resample_poly

from liveify.model_config import ModelConfig

#: A ViT-GRU small enough to build, train and export in milliseconds: 32 mel bands x 64 frames,
#: 2 x 4 patches of 16.
TINY_MODEL = ModelConfig(
    embed_dim=32,
    num_heads=2,
    num_transformer_layers=2,
    n_mels=32,
    context_frames=64,
    patch_size=16,
)


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


def true_peak_db(audio: np.ndarray, *, axis: int = -1) -> float:
    """True peak (dBTP) by 4x oversampling along `axis` (the samples' axis: -1 for the stages'
    (channels, samples), 0 for soundfile's (frames, channels))."""
    oversampled = resample_poly(np.asarray(audio, np.float64), 4, 1, axis=axis)
    return float(20 * np.log10(np.abs(oversampled).max()))


def invoke(*args) -> Result:
    """Run the `liveify` command line in-process with these arguments (paths allowed)."""
    from liveify.cli import main

    return CliRunner().invoke(main, [str(arg) for arg in args])


def render(*args, model: bool = False) -> Result:
    """`liveify render --no-progress ...`, without the model stage unless `model`."""
    return invoke("render", "--no-progress", *([] if model else ["--no-model"]), *args)


def make_tiny_model():
    """A seeded random LiveifyModel of TINY_MODEL (imports torch: training-side tests only)."""
    import torch

    from liveify.model import LiveifyModel

    torch.manual_seed(0)
    return LiveifyModel(TINY_MODEL)
