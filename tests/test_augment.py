"""SpecAugment masks and Gaussian noise on normalised mel windows: statistics over many draws."""

import numpy as np
import pytest

from liveify.data.augment import MASK_VALUE, AugmentConfig, augment
from liveify.errors import ParameterError

N_MELS, N_FRAMES = 128, 256


def _window(rng):
    # Values well inside (-1, 1) so that masked cells (exactly -1) are unambiguous.
    return rng.uniform(-0.8, 0.8, size=(1, N_MELS, N_FRAMES)).astype(np.float32)


def test_fraction_augmented_follows_probability():
    rng = np.random.default_rng(0)
    window = _window(rng)
    config = AugmentConfig(probability=0.5)
    changed = [not np.array_equal(augment(window, config, rng), window) for _ in range(2000)]
    assert abs(np.mean(changed) - 0.5) < 0.04  # 3.5 sigma for 2000 draws


def test_mask_widths_stay_within_bounds_and_cover_the_range():
    rng = np.random.default_rng(1)
    window = _window(rng)
    config = AugmentConfig(probability=1.0, noise_std=0.0)
    freq_widths, time_widths = [], []
    for _ in range(1000):
        out = augment(window, config, rng)[0]
        masked = out == MASK_VALUE
        freq_widths.append(int(masked.all(axis=1).sum()))
        time_widths.append(int(masked.all(axis=0).sum()))
        # Masks are contiguous bands, and everything else is untouched.
        rows = np.flatnonzero(masked.all(axis=1))
        assert rows.size == 0 or rows[-1] - rows[0] + 1 == rows.size
        untouched = ~masked
        np.testing.assert_array_equal(out[untouched], window[0][untouched])
    assert max(freq_widths) <= 20 and max(time_widths) <= 40
    assert max(freq_widths) >= 18 and max(time_widths) >= 37  # uniform widths reach the top
    assert abs(np.mean(freq_widths) - 10) < 1.0 and abs(np.mean(time_widths) - 20) < 2.0


def test_noise_has_the_configured_std():
    rng = np.random.default_rng(2)
    window = _window(rng)
    config = AugmentConfig(probability=1.0, freq_mask_bins=0, time_mask_frames=0, noise_std=0.01)
    noise = np.concatenate([(augment(window, config, rng) - window).ravel() for _ in range(20)])
    assert abs(noise.mean()) < 1e-4
    assert noise.std() == pytest.approx(0.01, rel=0.02)


def test_disabled_or_zero_probability_is_identity():
    rng = np.random.default_rng(3)
    window = _window(rng)
    for config in (AugmentConfig(enabled=False, probability=1.0), AugmentConfig(probability=0.0)):
        for _ in range(50):
            assert augment(window, config, rng) is window


def test_same_seed_same_augmentation_and_input_not_modified():
    window = _window(np.random.default_rng(4))
    before = window.copy()
    config = AugmentConfig(probability=1.0)
    first = augment(window, config, np.random.default_rng(7))
    second = augment(window, config, np.random.default_rng(7))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(window, before)


def test_invalid_settings_name_the_field():
    with pytest.raises(ParameterError, match="probability"):
        AugmentConfig(probability=1.5)
    with pytest.raises(ParameterError, match="noise_std"):
        AugmentConfig(noise_std=-0.1)
