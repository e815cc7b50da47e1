"""The no-harm measurements tell a static EQ from resonances, gating and a dulled top octave."""

from __future__ import annotations

import numpy as np
import pedalboard
import pytest

from liveify.errors import ParameterError
from liveify.no_harm import gating_db, no_harm, resonance_db, top_octave_change_db

SAMPLE_RATE = 44100


@pytest.fixture(scope="module")
def noise():
    """Six seconds of stereo pink-ish noise: energy in every band, like a dense mix."""
    rng = np.random.default_rng(0)
    white = rng.standard_normal((2, 6 * SAMPLE_RATE))
    spectrum = np.fft.rfft(white, axis=-1)
    spectrum /= np.sqrt(np.maximum(np.fft.rfftfreq(white.shape[1], 1 / SAMPLE_RATE), 20.0))
    pink = np.fft.irfft(spectrum, n=white.shape[1], axis=-1)
    return (0.1 * pink / pink.std()).astype(np.float32)


def through(plugin, audio):
    return plugin(audio, SAMPLE_RATE)


def scaled_bands(audio, gain_below, gain_above, split_hz):
    """`audio` with everything below `split_hz` times gain_below, the rest times gain_above."""
    spectrum = np.fft.rfft(audio, axis=-1)
    below = np.fft.rfftfreq(audio.shape[-1], 1 / SAMPLE_RATE) < split_hz
    spectrum *= np.where(below, gain_below, gain_above)
    return np.fft.irfft(spectrum, n=audio.shape[-1], axis=-1).astype(np.float32)


def test_identity_and_a_static_broad_eq_do_no_harm(noise):
    assert no_harm(noise, noise, SAMPLE_RATE).to_dict() == pytest.approx(
        {"top_octave_change_db": 0.0, "resonance_db": 0.0, "gating_db": 0.0}, abs=1e-6
    )
    tilted = through(pedalboard.LowShelfFilter(cutoff_frequency_hz=300, gain_db=4.0), noise)
    figures = no_harm(noise, tilted, SAMPLE_RATE)
    assert figures.resonance_db < 1.0 and figures.gating_db < 0.3
    assert figures.passes()


def test_a_narrow_peak_is_a_resonance(noise):
    peaked = through(pedalboard.PeakFilter(cutoff_frequency_hz=750, gain_db=12.0, q=12.0), noise)
    assert resonance_db(noise, peaked, SAMPLE_RATE) > 3.0  # the target is <= 3 dB


def test_bands_switching_on_and_off_are_gating(noise):
    gated = noise.copy()
    switch = (np.arange(noise.shape[1]) // SAMPLE_RATE) % 2 == 1  # every other second
    dropped = scaled_bands(noise, 10 ** (-10 / 20), 1.0, 3000.0)  # the lower bands drop 10 dB
    gated[:, switch] = dropped[:, switch]
    assert gating_db(noise, gated, SAMPLE_RATE) > 4.0  # sd of 0 and -10 dB halves: 5 dB
    assert gating_db(noise, 0.5 * noise, SAMPLE_RATE) < 1e-6  # a fixed gain is not gating


def test_a_dulled_top_octave_shows_and_a_22_khz_source_has_none(noise):
    dull = through(pedalboard.LowpassFilter(cutoff_frequency_hz=6000), noise)
    assert top_octave_change_db(noise, dull, SAMPLE_RATE) < -10
    narrow = scaled_bands(noise, 1.0, 0.0, 10000.0)  # a 22.05 kHz recording played at 44.1
    assert no_harm(narrow, narrow, SAMPLE_RATE).top_octave_change_db is None
    with pytest.raises(ParameterError, match="shape"):
        no_harm(noise, noise[:, :-1], SAMPLE_RATE)
