"""VenueReverb and venue_impulse_response: decay times, tails, determinism, stereo, streaming."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from liveify.errors import ParameterError
from liveify.plugins.venue import VenueReverb, venue_impulse_response

SR = 22050


def measured_rt60_s(ir: np.ndarray, sample_rate: float, band_hz: float) -> float:
    """T30 of one octave band: Schroeder backward integration, fit from -5 to -35 dB, x2."""
    sos = signal.butter(
        3, [band_hz / np.sqrt(2), band_hz * np.sqrt(2)], "bandpass", fs=sample_rate, output="sos"
    )
    band = signal.sosfilt(sos, ir.astype(np.float64))
    energy = np.cumsum(band[::-1] ** 2)[::-1]
    decay_db = 10 * np.log10(energy / energy[0] + 1e-30)
    start, stop = np.argmax(decay_db <= -5), np.argmax(decay_db <= -35)
    times = np.arange(len(decay_db)) / sample_rate
    slope_db_per_s = np.polyfit(times[start:stop], decay_db[start:stop], 1)[0]
    return -60.0 / slope_db_per_s


def noise(seconds: float, *, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((channels, int(seconds * SR)))).astype(np.float32)


@pytest.mark.parametrize("rt60_s", [0.6, 2.5])
def test_impulse_response_decays_at_the_requested_rt60(rt60_s):
    ir = venue_impulse_response(SR, rt60_s=rt60_s, room_size_m=40, hf_damping=0.5, seed=3)
    assert ir.dtype == np.float32 and ir.shape[0] == 2
    for channel in ir:
        for band_hz in (500, 1000):
            assert measured_rt60_s(channel, SR, band_hz) == pytest.approx(rt60_s, rel=0.15)
    # High frequencies die away faster: RT60(4 kHz) is meant to be 2/3 of the mid value here.
    assert measured_rt60_s(ir[0], SR, 4000) < 0.8 * measured_rt60_s(ir[0], SR, 1000)


def test_impulse_response_length_follows_the_decay_and_predelay():
    short = venue_impulse_response(SR, rt60_s=0.5, predelay_ms=0, bass_ratio=1.0)
    long = venue_impulse_response(SR, rt60_s=3.0, predelay_ms=0, bass_ratio=1.0)
    delayed = venue_impulse_response(SR, rt60_s=0.5, predelay_ms=100, bass_ratio=1.0)
    assert 0.5 * SR <= short.shape[1] < 0.9 * SR
    assert 3.0 * SR <= long.shape[1] < 3.5 * SR
    assert delayed.shape[1] - short.shape[1] == round(0.1 * SR)
    assert np.all(delayed[:, : round(0.1 * SR)] == 0)


def test_impulse_response_is_deterministic_per_seed_and_decorrelated():
    first = venue_impulse_response(SR, rt60_s=1.2, seed=7)
    again = venue_impulse_response(SR, rt60_s=1.2, seed=7)
    other = venue_impulse_response(SR, rt60_s=1.2, seed=8)
    np.testing.assert_array_equal(first, again)
    assert abs(np.corrcoef(first[0], other[0])[0, 1]) < 0.5
    assert abs(np.corrcoef(first[0], first[1])[0, 1]) < 0.5


def test_stage_output_is_decorrelated_for_identical_left_and_right():
    mono = noise(2.0, channels=1)
    stereo_in = np.concatenate([mono, mono])
    wet = VenueReverb(rt60_s=1.0, mix=1.0)(stereo_in, SR)
    assert abs(np.corrcoef(wet[0], wet[1])[0, 1]) < 0.5
    narrowed = VenueReverb(rt60_s=1.0, mix=1.0, width=0.0)(stereo_in, SR)
    np.testing.assert_allclose(narrowed[0], narrowed[1], atol=1e-6)


def test_a_sound_on_one_side_reverberates_on_both():
    left_only = np.concatenate([noise(1.0, channels=1), np.zeros((1, SR), np.float32)])
    out = VenueReverb(rt60_s=1.0, mix=0.5)(left_only, SR)
    rms = np.sqrt(np.mean(out**2, axis=1))
    assert 0.2 * rms[0] < rms[1] < 0.6 * rms[0]  # the right channel is the left's reverb only


def test_tail_continues_after_the_input_stops():
    reverb = VenueReverb(rt60_s=1.5, predelay_ms=10, mix=0.5)
    burst = np.zeros((2, 3 * SR), dtype=np.float32)
    burst[:, : SR // 5] = noise(0.2)
    out = reverb(burst, SR)
    rms = lambda a: float(np.sqrt(np.mean(a**2)))  # noqa: E731
    during = rms(out[:, : SR // 5])
    after_half_s = rms(out[:, int(0.5 * SR) : int(0.7 * SR)])
    after_2_s = rms(out[:, int(2.0 * SR) : int(2.2 * SR)])
    # 1.5 s RT60 -> about -20 dB 0.5 s after the input stops, about -60 dB after 1.6 s.
    assert 0.01 * during < after_half_s < 0.3 * during
    assert after_2_s < 0.1 * after_half_s
    tail = reverb.tail_samples(SR)
    assert 1.5 * SR < tail < 2.0 * SR
    assert reverb.latency_samples == 0


def test_chunked_processing_equals_one_whole_call():
    audio = noise(4.0, seed=1)
    reverb = VenueReverb(rt60_s=1.2, room_size_m=25, width=0.7, mix=0.4, seed=2)
    whole = reverb(audio, SR)
    pieces, start = [], 0
    for size in (1, 4000, 999, 30000, 17, audio.shape[1]):
        pieces.append(reverb(audio[:, start : start + size], SR, reset=start == 0))
        start += size
    chunked = np.concatenate(pieces, axis=1)
    assert chunked.shape == whole.shape
    assert np.max(np.abs(chunked - whole)) < 1e-5
    # reset=True starts over: the same call again gives the same output.
    np.testing.assert_array_equal(reverb(audio, SR), whole)


def test_output_is_the_convolution_of_the_mono_mix_with_each_response():
    # A short response makes calls longer than one FFT block, so the multi-block path runs too.
    reverb = VenueReverb(rt60_s=0.1, room_size_m=5, predelay_ms=0, mix=1.0)
    ir = reverb.impulse_response(SR).astype(np.float64)
    audio = noise(3.0, seed=5)
    mono_mix = audio.astype(np.float64).mean(axis=0)
    expected = np.stack([signal.fftconvolve(mono_mix, ir[c])[: audio.shape[1]] for c in (0, 1)])
    np.testing.assert_allclose(reverb(audio, SR), expected, atol=1e-5)
    pieces = [reverb(audio[:, :5000], SR), reverb(audio[:, 5000:], SR, reset=False)]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), expected, atol=1e-5)


def test_zero_mix_is_identity_and_mono_comes_out_stereo():
    audio = noise(0.5, seed=4)
    np.testing.assert_array_equal(VenueReverb(mix=0.0)(audio, SR), audio)
    mono = noise(0.5, channels=1)
    np.testing.assert_array_equal(VenueReverb(mix=0.0)(mono, SR), np.repeat(mono, 2, axis=0))
    out = VenueReverb(mix=0.5)(mono, SR)
    assert out.shape == (2, mono.shape[1]) and out.dtype == np.float32
    # The same room as the mono signal played on both sides of a stereo input.
    both_sides = VenueReverb(mix=0.5)(np.repeat(mono, 2, axis=0), SR)
    np.testing.assert_allclose(out, both_sides, atol=1e-6)
    assert abs(np.corrcoef(out[0], out[1])[0, 1]) < 0.9  # a stereo room around a mono source


def test_parameters_are_validated_and_named():
    with pytest.raises(ParameterError, match=r"rt60_s = 40 is out of range \[0.1, 12\]"):
        VenueReverb(rt60_s=40)
    reverb = VenueReverb()
    with pytest.raises(ParameterError, match=r"VenueReverb.mix"):
        reverb.mix = 1.5
    with pytest.raises(ParameterError, match=r"seed"):
        VenueReverb(seed=1.5)
    reverb.rt60_s = 2.0
    assert "rt60_s=2.0" in repr(reverb)
    assert reverb.impulse_response(SR).shape[1] > 2.0 * SR


def test_changing_sample_rate_mid_stream_is_refused():
    reverb = VenueReverb()
    reverb(noise(0.1), SR)
    with pytest.raises(ParameterError, match="reset=True"):
        reverb(noise(0.1), 44100, reset=False)
