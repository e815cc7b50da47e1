"""Tests for the way back from a predicted mel to audio: the conditioned mask and Griffin-Lim."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from liveify.errors import ParameterError
from liveify.mel import MelConfig, mel_band_centres_hz, mel_power
from liveify.plugins.model_stage.reconstruction import (
    GainConditioner,
    MaskSettings,
    reconstruct_griffinlim,
    reconstruct_mask,
)
from tests.helpers import tone_mix

CONFIG = MelConfig()


def rms_db(signal):
    return 20 * np.log10(np.sqrt(np.mean(np.square(signal, dtype=np.float64))) + 1e-12)


def analysis_mel(audio, sample_rate):
    mono = np.atleast_2d(audio).mean(axis=0)
    if sample_rate != CONFIG.sample_rate:
        mono = soxr.resample(mono, sample_rate, CONFIG.sample_rate, quality="HQ")
    return mel_power(mono, CONFIG)


def band_level_db(audio, sample_rate, low_hz, high_hz):
    spectrum = np.abs(np.fft.rfft(np.atleast_2d(audio).astype(np.float64), axis=-1)) ** 2
    bin_hz = np.fft.rfftfreq(audio.shape[-1], 1 / sample_rate)
    inside = (bin_hz >= low_hz) & (bin_hz < high_hz)
    return 10 * np.log10(spectrum[..., inside].sum() + 1e-30)


def tones_with_air(seconds, sample_rate, seed=0):
    """A chord, a tone at 15 kHz (above the model's 11 kHz band limit) and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    mono = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 880.0, 3000.0, 15000.0)) * 0.1
    mono = mono + 0.003 * rng.standard_normal(t.size)
    return np.stack([mono, 0.8 * mono]).astype(np.float32)


@pytest.mark.parametrize("sample_rate", [44100, 48000, 22050])
def test_unchanged_mel_returns_the_input(sample_rate):
    audio = tone_mix(3.0, sample_rate)
    studio = analysis_mel(audio, sample_rate)
    output = reconstruct_mask(audio, sample_rate, studio, studio, CONFIG)
    assert output.shape == audio.shape and output.dtype == np.float32
    assert rms_db(output - audio) - rms_db(audio) < -60


def test_a_uniform_change_is_applied_to_every_channel():
    audio = tone_mix(3.0, 44100)
    audio[1] *= 0.5
    studio = analysis_mel(audio, 44100)
    settings = MaskSettings(max_gain_db=24.0, edge_gain_db=24.0, residual_db=None)
    output = reconstruct_mask(audio, 44100, studio, studio * 10 ** (6 / 10), CONFIG, settings)
    # tanh bound: 24 x tanh(6 / 24) = 5.87 dB
    assert rms_db(output[0]) - rms_db(audio[0]) == pytest.approx(5.87, abs=0.2)
    stereo_balance_db = rms_db(audio[0]) - rms_db(audio[1])
    assert rms_db(output[0]) - rms_db(output[1]) == pytest.approx(stereo_balance_db, abs=0.05)


@pytest.mark.parametrize("asked_db", [-30.0, 12.0])
def test_the_band_above_the_model_continues_its_top_gain_without_a_cliff(asked_db):
    """The model asks for a big change in its top octave (5.5-11 kHz): the 15 kHz tone, which the
    model never sees, moves by no more than the edge bound, and the gain has no step at 11 kHz."""
    sample_rate = 44100
    audio = tones_with_air(4.0, sample_rate)
    studio = analysis_mel(audio, sample_rate)
    predicted = studio.copy()
    top_octave = mel_band_centres_hz(CONFIG) > 5500
    predicted[top_octave] *= 10 ** (asked_db / 10)
    settings = MaskSettings()
    output = reconstruct_mask(audio, sample_rate, studio, predicted, CONFIG, settings)

    def change_db(low_hz, high_hz):
        return band_level_db(output, sample_rate, low_hz, high_hz) - band_level_db(
            audio, sample_rate, low_hz, high_hz
        )

    air = change_db(11500, 20000)
    assert abs(air) <= settings.edge_gain_db + 0.1
    assert np.sign(air) == np.sign(asked_db) and abs(air) > 0.5 * settings.edge_gain_db
    just_below, just_above = change_db(10000, 11000), change_db(11000, 12000)
    assert abs(just_above - just_below) < 0.5  # no cliff at the band limit
    assert abs(change_db(200, 1000)) < 0.3  # the bands the model left alone stay put


def blocky_mask(n_frames, block=16, step_db=15.0):
    """+-step_db in a checkerboard of 16 bands x 16 frames: the model's patch grid at its worst."""
    bands = (np.arange(CONFIG.n_mels) // block) % 2
    frames = (np.arange(n_frames) // block) % 2
    return np.where(bands[:, None] ^ frames[None, :], step_db, -step_db)


def test_a_blocky_mask_becomes_bounded_and_smooth():
    rng = np.random.default_rng(1)
    n_frames = 400
    studio = 10 ** rng.uniform(-1, 2, size=(CONFIG.n_mels, n_frames))  # music-like spread
    predicted = studio * 10 ** (blocky_mask(n_frames) / 10)
    settings = MaskSettings(max_gain_db=6.0)
    conditioner = GainConditioner(CONFIG, settings)
    gain_db, residual = conditioner(studio, predicted)
    assert gain_db.shape == (CONFIG.n_mels, n_frames - 2 * conditioner.margin_frames)
    assert np.abs(gain_db).max() <= settings.max_gain_db
    # The raw mask steps by 30 dB at every patch edge; conditioned, neighbours differ by little.
    assert np.abs(np.diff(gain_db, axis=1)).max() < 1.0  # frames are 23 ms apart
    centres = mel_band_centres_hz(CONFIG)
    per_octave = np.abs(np.diff(gain_db, axis=0)) / np.diff(np.log2(centres))[:, None]
    assert np.median(per_octave) < 12.0  # dB per octave: no edge narrower than ~1/3 octave
    cap = studio[:, conditioner.margin_frames : -conditioner.margin_frames] * 10 ** (-12 / 10)
    assert residual.min() >= 0 and residual.max() <= 1.5 * cap.max()


def test_strength_scales_the_log_gain_and_zero_is_no_change():
    rng = np.random.default_rng(2)
    studio = 10 ** rng.uniform(0, 1, size=(CONFIG.n_mels, 200))
    predicted = studio * 10 ** (1.0 / 10)  # +1 dB: far inside the bound, so nearly linear
    wide = {"max_gain_db": 24.0, "edge_gain_db": 24.0}  # tanh(1 / 24) is linear to 0.1 %
    full, _ = GainConditioner(CONFIG, MaskSettings(strength=1.0, **wide))(studio, predicted)
    half, _ = GainConditioner(CONFIG, MaskSettings(strength=0.5, **wide))(studio, predicted)
    none, residual = GainConditioner(CONFIG, MaskSettings(strength=0.0))(studio, predicted * 100)
    np.testing.assert_allclose(half, 0.5 * full, atol=0.01)
    assert np.all(none == 0) and np.all(residual == 0)


def test_residual_noise_fills_what_the_bound_holds_back_up_to_its_cap():
    """Asked for +10 dB with a 1 dB bound: the bound gives ~1 dB, and noise capped at the studio's
    own level adds as much power again (so the noise level is calibrated: 10 log10(1.26 + 1)).
    The mel is of the mono downmix, so the noise matches a sound in the middle of the image."""
    rng = np.random.default_rng(3)
    sample_rate = 44100
    audio = np.repeat(0.05 * rng.standard_normal((1, 4 * sample_rate)), 2, 0).astype(np.float32)
    studio = analysis_mel(audio, sample_rate)
    settings = MaskSettings(max_gain_db=1.0, edge_gain_db=1.0, residual_db=0.0)
    output = reconstruct_mask(audio, sample_rate, studio, studio * 10.0, CONFIG, settings)
    change = band_level_db(output, sample_rate, 300, 8000) - band_level_db(
        audio, sample_rate, 300, 8000
    )
    assert change == pytest.approx(10 * np.log10(10**0.1 + 1), abs=0.4)
    without = reconstruct_mask(
        audio, sample_rate, studio, studio * 10.0, CONFIG, MaskSettings(max_gain_db=1.0, edge_gain_db=1.0, residual_db=None)
    )  # fmt: skip
    quiet = band_level_db(without, sample_rate, 300, 8000) - band_level_db(
        audio, sample_rate, 300, 8000
    )
    assert quiet == pytest.approx(1.0, abs=0.1)


def test_no_noise_in_a_silent_intro():
    """Noise is capped relative to the studio's smoothed level: a silent intro stays silent three
    seconds (6 smoothing sigmas) before the music, although the model hears a room there."""
    audio = tone_mix(6.0, 44100)
    audio[:, : 4 * 44100] = 0.0
    studio = analysis_mel(audio, 44100)
    predicted = studio + CONFIG.ref_power * 1e-3  # the model hears a -30 dB room everywhere
    output = reconstruct_mask(audio, 44100, studio, predicted, CONFIG)
    assert rms_db(output[:, :44100]) - rms_db(output[:, 4 * 44100 :]) < -60


def test_bad_settings_and_shapes_are_parameter_errors():
    for bad in (
        {"strength": 1.5},
        {"max_gain_db": 0.0},
        {"edge_gain_db": 9.0},
        {"residual_db": 3.0},
    ):
        with pytest.raises(ParameterError):
            MaskSettings(**bad)
    with pytest.raises(ParameterError, match="differ in shape"):
        GainConditioner(CONFIG, MaskSettings())(np.ones((128, 4)), np.ones((128, 5)))


def test_griffinlim_reproduces_the_spectral_envelope():
    audio = tone_mix(2.0, 22050)
    studio = analysis_mel(audio, 22050)
    output = reconstruct_griffinlim(studio, 44100, CONFIG, channels=2, length=88200)
    assert output.shape == (2, 88200)
    rebuilt = analysis_mel(output, 44100)
    peak_band = np.argmax(studio.mean(axis=1))
    assert abs(int(np.argmax(rebuilt.mean(axis=1))) - int(peak_band)) <= 1
    assert abs(rms_db(output) - rms_db(audio)) < 3
