import librosa
import numpy as np
import pytest

from liveify.errors import ParameterError
from liveify.mel import (
    MelConfig,
    denormalize,
    mel_power,
    normalize,
    reconstruct_griffinlim,
    reconstruct_mask,
)
from tests.conftest import tone_mix

CONFIG = MelConfig()


def rms_db(signal):
    return 20 * np.log10(np.sqrt(np.mean(np.square(signal, dtype=np.float64))) + 1e-12)


def analysis_mel(audio, sample_rate):
    mono = librosa.resample(audio.mean(axis=0), orig_sr=sample_rate, target_sr=CONFIG.sample_rate)
    return mel_power(mono, CONFIG)


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


@pytest.mark.parametrize("sample_rate", [44100, 48000, 22050])
def test_mask_reconstruction_of_an_unchanged_mel_returns_the_input(sample_rate):
    audio = tone_mix(3.0, sample_rate)
    studio = analysis_mel(audio, sample_rate)
    output = reconstruct_mask(audio, sample_rate, studio, studio, CONFIG)
    assert output.shape == audio.shape
    assert rms_db(output - audio) - rms_db(audio) < -60


def test_mask_applies_band_gains_and_keeps_channels_apart():
    audio = tone_mix(3.0, 44100)
    audio[1] *= 0.5
    studio = analysis_mel(audio, 44100)
    output = reconstruct_mask(audio, 44100, studio, studio * 10 ** (6 / 10), CONFIG)
    assert rms_db(output[0]) - rms_db(audio[0]) == pytest.approx(6.0, abs=0.3)
    stereo_balance_db = rms_db(audio[0]) - rms_db(audio[1])
    assert rms_db(output[0]) - rms_db(output[1]) == pytest.approx(stereo_balance_db, abs=0.1)


def test_energy_beyond_the_clamp_appears_as_noise_where_the_studio_was_silent():
    audio = tone_mix(3.0, 44100)
    audio[:, 44100:88200] = 0.0
    studio = analysis_mel(audio, 44100)
    predicted = studio.copy()
    silent_frames = slice(CONFIG.n_frames(22050) + 3, CONFIG.n_frames(44100) - 3)
    predicted[:, silent_frames] = CONFIG.ref_power * 1e-3  # -30 dB room sound
    output = reconstruct_mask(audio, 44100, studio, predicted, CONFIG)
    quiet_part = output[:, 50000:80000]
    assert -60 < rms_db(quiet_part) < -10
    without_noise = reconstruct_mask(audio, 44100, studio, predicted, CONFIG, residual_noise=False)
    assert rms_db(without_noise[:, 50000:80000]) < -100


def test_mask_rejects_mismatched_mels():
    with pytest.raises(ParameterError, match="differ in shape"):
        reconstruct_mask(
            np.zeros((2, 1000), np.float32), 44100, np.ones((128, 4)), np.ones((128, 5)), CONFIG
        )


def test_griffinlim_reproduces_the_spectral_envelope():
    audio = tone_mix(2.0, 22050)
    studio = analysis_mel(audio, 22050)
    output = reconstruct_griffinlim(studio, 44100, CONFIG, channels=2, length=88200)
    assert output.shape == (2, 88200)
    rebuilt = analysis_mel(output, 44100)
    peak_band = np.argmax(studio.mean(axis=1))
    assert abs(int(np.argmax(rebuilt.mean(axis=1))) - int(peak_band)) <= 1
    assert abs(rms_db(output) - rms_db(audio)) < 3
