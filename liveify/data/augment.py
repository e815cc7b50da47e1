"""Training-time augmentation of normalised mel windows: SpecAugment masks and Gaussian noise.

Apply it to the studio (input) window of training samples only; the live target and every
validation sample stay untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liveify.config import DictConfig, Range, setting

#: Masked cells are set to the normalised level of silence (-80 dB), the floor of [-1, 1]: a mask
#: then reads as "nothing here", like a dropped band or a gap, rather than as a loud plateau.
MASK_VALUE = -1.0


@dataclass(frozen=True)
class AugmentConfig(DictConfig):
    """What augmentation a training sample may get (each field is a `--aug-*` CLI option).

    Parameters
    ----------
    enabled : off -> `augment` returns its input unchanged.
    probability : fraction of samples augmented; the others pass unchanged.
    freq_mask_bins : an augmented sample gets one frequency mask of uniform width in
        [0, freq_mask_bins] mel bins.
    time_mask_frames : ... and one time mask of uniform width in [0, time_mask_frames] frames.
    noise_std : ... and Gaussian noise of this standard deviation (normalised units; 0.01 is
        about 0.4 dB), added before masking so masked cells stay exactly silent. Values are not
        clipped, so the noise stays Gaussian; the input may stray ~0.05 beyond [-1, 1].
    """

    enabled: bool = setting(
        True,
        option="use-augmentation/no-augmentation",
        help="SpecAugment and noise on training windows (never on validation).",
    )
    probability: float = setting(
        0.5,
        range=Range(0, 1),
        option="aug-probability",
        help="Share of training windows augmented.",
    )
    freq_mask_bins: int = setting(
        20, range=Range(0), option="aug-freq-mask", help="Widest frequency mask, in mel bands."
    )
    time_mask_frames: int = setting(
        40, range=Range(0), option="aug-time-mask", help="Widest time mask, in frames."
    )
    noise_std: float = setting(
        0.01,
        range=Range(0),
        option="aug-noise-std",
        help="Gaussian noise on the normalised mel (0.01 is about 0.4 dB).",
    )

    def __post_init__(self):
        self.check_settings()


def augment(mel: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Maybe augment one normalised mel window shaped (..., n_mels, frames); returns a new array.

    With probability `config.probability` the window gets Gaussian noise, one frequency mask and
    one time mask (shared by any leading channel axes); otherwise (or when disabled) the input is
    returned as is. Draws come from `rng` only, so a seeded generator reproduces a run.

    >>> rng = np.random.default_rng(0)
    >>> studio_window = np.zeros((1, 128, 1408), np.float32)
    >>> augment(studio_window, AugmentConfig(probability=1.0), rng).shape
    (1, 128, 1408)
    """
    if not config.enabled or rng.random() >= config.probability:
        return mel
    n_mels, n_frames = mel.shape[-2:]
    out = np.array(mel, dtype=np.float32, copy=True)
    if config.noise_std > 0:
        out += rng.normal(0.0, config.noise_std, size=out.shape).astype(np.float32)
    freq_width = int(rng.integers(0, min(config.freq_mask_bins, n_mels) + 1))
    freq_start = int(rng.integers(0, n_mels - freq_width + 1))
    out[..., freq_start : freq_start + freq_width, :] = MASK_VALUE
    time_width = int(rng.integers(0, min(config.time_mask_frames, n_frames) + 1))
    time_start = int(rng.integers(0, n_frames - time_width + 1))
    out[..., time_start : time_start + time_width] = MASK_VALUE
    return out
