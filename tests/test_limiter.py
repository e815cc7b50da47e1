"""TruePeakLimiter: true peak under the ceiling, transparent below it, chunk-exact streaming."""

import numpy as np
import pytest
from scipy.signal import chirp

from liveify.plugins.limiter import TruePeakLimiter
from tests.helpers import true_peak_db


def hard_signals(sample_rate, seconds=2.0):
    """Signals that defeat sample-peak limiters: inter-sample peaks, clicks, dense loud noise."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    impulses = np.zeros((2, t.size))
    impulses[:, :: sample_rate // 7] = 12.0
    return {
        # A quarter-rate sine at 45 degrees: every sample is 3 dB below the waveform's peak.
        "inter-sample": np.stack([np.sin(2 * np.pi * sample_rate / 4 * t + np.pi / 4)] * 2) * 3,
        "noise +20 dB": rng.standard_normal((2, t.size)) * 3,
        "clicks": impulses,
        "sweep": np.stack([chirp(t, 40, seconds, 0.45 * sample_rate)] * 2) * 4,
        "bursts": rng.standard_normal((2, t.size)) * (np.sin(2 * np.pi * 2 * t) > 0.8) * 8,
    }


@pytest.mark.parametrize("sample_rate", [44100, 48000, 96000])
def test_output_true_peak_stays_under_the_ceiling(sample_rate):
    for name, signal in hard_signals(sample_rate).items():
        limiter = TruePeakLimiter(ceiling_db=-1.0)
        limited = limiter(signal.astype(np.float32), sample_rate)
        assert limited.shape == signal.shape
        assert true_peak_db(limited) <= -1.0, name
        assert limiter.max_gain_reduction_db > 1.0, name


def test_audio_below_the_ceiling_passes_unchanged():
    t = np.arange(44100 * 2) / 44100
    quiet = (0.5 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)])).astype(
        np.float32
    )
    limiter = TruePeakLimiter(ceiling_db=-1.0)
    np.testing.assert_array_equal(limiter(quiet, 44100), quiet)
    assert limiter.max_gain_reduction_db == 0.0


def test_gain_recovers_after_a_peak_at_the_release_rate():
    rate = 44100
    signal = np.full((1, rate * 2), 0.5, np.float32)
    signal[0, rate // 2] = 8.0  # one hot click, 24 dB over the ceiling
    limiter = TruePeakLimiter(ceiling_db=-1.0, release_ms=100.0)
    gain_db = 20 * np.log10(limiter(signal, rate)[0] / 0.5 + 1e-12)
    after = rate // 2 + 200
    # Recovery is linear in dB at 6 dB per release time: about 18 dB left after 100 ms.
    later = after + round(0.1 * rate)
    assert gain_db[later] - gain_db[after] == pytest.approx(6.0 * 100 / 100, abs=0.5)
    assert gain_db[-1] == pytest.approx(0.0, abs=1e-6)  # fully recovered, unity again
    assert gain_db[: rate // 2 - 200].max() == pytest.approx(0.0, abs=1e-6)  # untouched before


def test_chunked_streaming_equals_one_whole_call_delayed_by_the_latency():
    rate = 48000
    signal = sum(hard_signals(rate, seconds=3.0).values()).astype(np.float32)
    limiter = TruePeakLimiter(ceiling_db=-2.0, lookahead_ms=2.0)
    whole = limiter(signal, rate)
    latency = limiter.latency_samples_at(rate)
    rng = np.random.default_rng(1)
    for sizes in ([4096], [1000], [77], list(rng.integers(1, 20000, size=400))):
        limiter.reset()
        chunks, start, index = [], 0, 0
        while start < signal.shape[1]:
            size = int(sizes[index % len(sizes)])
            chunks.append(limiter(signal[:, start : start + size], rate, reset=False))
            start, index = start + size, index + 1
        chunks.append(limiter(np.zeros((2, latency), np.float32), rate, reset=False))
        streamed = np.concatenate(chunks, axis=1)
        assert streamed.shape[1] == signal.shape[1] + latency
        np.testing.assert_array_equal(streamed[:, latency:], whole)
        np.testing.assert_array_equal(streamed[:, :latency], 0.0)


def test_repr_and_parameter_validation():
    assert "ceiling_db=-1.0" in repr(TruePeakLimiter())
    with pytest.raises(ValueError, match="ceiling_db"):
        TruePeakLimiter(ceiling_db=3.0)
