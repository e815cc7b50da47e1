import itertools

import numpy as np
import pyloudnorm
import pytest
from scipy import signal

from liveify.loudness import LoudnessMeter, StepEnergies, integrated_lufs
from tests.helpers import tone_mix


def measure(audio, sample_rate, block=12345):
    meter = LoudnessMeter(sample_rate, audio.shape[0])
    for start in range(0, audio.shape[1], block):
        meter.add(audio[:, start : start + block])
    meter.finish()
    return meter


def test_streaming_loudness_matches_pyloudnorm():
    audio = tone_mix(6.0, 44100)
    expected = pyloudnorm.Meter(44100).integrated_loudness(audio.T.astype(np.float64))
    assert measure(audio, 44100).integrated_lufs() == pytest.approx(expected, abs=0.01)


def test_gain_shifts_loudness_by_the_same_decibels():
    audio = tone_mix(4.0, 48000)
    louder = measure(audio * 10 ** (5 / 20), 48000).integrated_lufs()
    assert louder - measure(audio, 48000).integrated_lufs() == pytest.approx(5.0, abs=0.01)


def test_true_peak_sees_intersample_peaks():
    # A sine at fs/4 sampled at 45 degrees: samples peak at 0.707, the waveform at 1.0.
    n = np.arange(48000)
    audio = np.stack([np.sin(np.pi / 2 * n + np.pi / 4)] * 2).astype(np.float32)
    meter = measure(audio, 48000, block=1000)
    assert 20 * np.log10(np.abs(audio).max()) == pytest.approx(-3.0, abs=0.05)
    assert meter.true_peak_db() == pytest.approx(0.0, abs=0.2)


def test_silence_has_no_loudness():
    assert integrated_lufs(np.zeros(100)) == float("-inf")
    assert integrated_lufs(np.ones(2)) == float("-inf")


@pytest.mark.parametrize("block", [1, 7, 4096, 100003])
def test_true_peak_equals_the_4x_resampled_peak_for_any_blocking(block):
    # The streamed, row-batched interpolation must see every inter-sample value, including those
    # of the last samples next to the silence after the signal.
    rng = np.random.default_rng(3)
    for length in [*range(1, 41), 44117 if block > 1 else 500]:  # every length modulo 16
        audio = (0.3 * rng.standard_normal((2, length))).astype(np.float32)
        audio[:, -2:] = 0.9  # the loudest inter-sample value lies between the last two samples
        padded = np.pad(audio.astype(np.float64), ((0, 0), (30, 30)))
        expected = np.abs(signal.resample_poly(padded, 4, 1, axis=1)).max()
        measured = 10 ** (measure(audio, 44100, block=block).true_peak_db() / 20)
        assert measured == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("sample_rate", [48000, 192000])
def test_loudness_of_deep_bass_matches_pyloudnorm(sample_rate):
    # Low notes near the K-weighting high-pass are where a filter's precision shows.
    t = np.arange(6 * sample_rate) / sample_rate
    bass = 0.9 * np.sin(2 * np.pi * 30 * t) * np.sin(2 * np.pi * 0.5 * t)
    audio = np.stack([bass, 0.5 * bass]).astype(np.float32)
    expected = pyloudnorm.Meter(sample_rate).integrated_loudness(audio.T.astype(np.float64))
    assert measure(audio, sample_rate).integrated_lufs() == pytest.approx(expected, abs=0.005)


def test_step_energies_of_a_stream_equal_those_of_the_whole_signal():
    audio = np.random.default_rng(4).standard_normal((2, 10_000)).astype(np.float32)
    expected = np.square(audio.astype(np.float64)).reshape(2, 100, 100).sum(axis=(0, 2))
    steps = StepEnergies(100)
    cuts = [0, 1, 50, 99, 100, 2_345, 2_346, 10_000]
    streamed = np.concatenate([steps.add(audio[:, a:b]) for a, b in itertools.pairwise(cuts)])
    np.testing.assert_allclose(streamed, expected, rtol=1e-5)


def test_add_returns_the_sample_peak_and_flags_nan_and_inf():
    meter = LoudnessMeter(44100, 2)
    audio = tone_mix(1.0, 44100)
    assert meter.add(audio) == pytest.approx(np.abs(audio).max())
    for bad in (np.nan, np.inf, -np.inf):
        block = audio.copy()
        block[1, 1234] = bad
        assert not np.isfinite(meter.add(block))
    meter.finish()  # the bad blocks were left out: the measurement is the good block's alone
    assert meter.integrated_lufs() == pytest.approx(measure(audio, 44100).integrated_lufs())
    assert meter.true_peak_db() == pytest.approx(measure(audio, 44100).true_peak_db())
