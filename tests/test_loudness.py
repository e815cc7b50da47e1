import numpy as np
import pyloudnorm
import pytest

from liveify.loudness import LoudnessMeter, integrated_lufs
from tests.conftest import tone_mix


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
