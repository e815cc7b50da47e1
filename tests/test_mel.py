import librosa
import numpy as np
import pytest

from liveify.mel import (
    MelConfig,
    denormalize,
    mel_band_centres_hz,
    mel_filterbank,
    mel_frequencies,
    mel_power,
    normalize,
    stft,
)

CONFIG = MelConfig()


def test_default_context_window_is_1408_frames_of_32_seconds():
    assert CONFIG.context_frames == 1408
    assert CONFIG.context_frames * CONFIG.frame_duration_s == pytest.approx(32.7, abs=0.1)


def test_normalisation_spans_minus_one_to_one_and_inverts():
    power = np.logspace(-8, 8, 50).reshape(5, 10) * CONFIG.ref_power / 1e8
    normalized = normalize(power, CONFIG)
    assert normalized.min() == -1.0 and normalized.max() == 1.0
    inside = (power >= CONFIG.ref_power * 1e-8) & (power <= CONFIG.ref_power)
    np.testing.assert_allclose(denormalize(normalized, CONFIG)[inside], power[inside], rtol=1e-4)


def test_full_scale_tone_reads_near_the_top_of_the_range():
    t = np.arange(CONFIG.sample_rate) / CONFIG.sample_rate
    level = normalize(mel_power(np.sin(2 * np.pi * 1000 * t), CONFIG), CONFIG)
    assert 0.9 < level.max() <= 1.0


@pytest.mark.parametrize(
    "config",
    [CONFIG, MelConfig(n_mels=32, fmin_hz=30.0, fmax_hz=8000.0), MelConfig(sample_rate=16000, n_fft=512, n_mels=40)],
)  # fmt: skip
def test_numpy_filterbank_equals_librosa(config):
    """Training used librosa's Slaney filterbank; the render path's numpy one must match it."""
    expected = librosa.filters.mel(
        sr=config.sample_rate,
        n_fft=config.n_fft,
        n_mels=config.n_mels,
        fmin=config.fmin_hz,
        fmax=config.fmax_hz,
    )
    np.testing.assert_allclose(mel_filterbank(config), expected, rtol=1e-5, atol=1e-9)
    fmax_hz = config.fmax_hz or config.sample_rate / 2
    np.testing.assert_allclose(
        mel_frequencies(config.n_mels + 2, config.fmin_hz, fmax_hz),
        librosa.mel_frequencies(n_mels=config.n_mels + 2, fmin=config.fmin_hz, fmax=fmax_hz),
        rtol=1e-12,
    )
    assert mel_band_centres_hz(config).shape == (config.n_mels,)


def test_numpy_stft_and_mel_power_equal_librosa():
    rng = np.random.default_rng(0)
    stereo = rng.standard_normal((2, 22050 + 123)).astype(np.float32)
    expected = librosa.stft(stereo, n_fft=2048, hop_length=512)
    np.testing.assert_allclose(
        stft(stereo, 2048, 512), expected, atol=2e-4 * np.abs(expected).max()
    )
    mono = stereo.mean(axis=0)
    librosa_mel = librosa.feature.melspectrogram(
        y=mono, sr=22050, n_fft=2048, hop_length=512, n_mels=128, power=2.0
    )
    np.testing.assert_allclose(
        mel_power(stereo, CONFIG), librosa_mel, rtol=1e-3, atol=1e-6 * librosa_mel.max()
    )
