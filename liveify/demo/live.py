"""The demo's own live renderer: how a band sounds in the demo's hall, through its PA, with its
audience. It shares nothing with Liveify's venue, PA and crowd stages or presets (and imports
none of them), so a DSP-only baseline cannot be right by construction.

A live take is the band's signal (a played-back recording or the synthesiser's live
arrangement) on a `TimeMap` from studio time to live time, then `demo_pa_tone`, then
`demo_hall_and_audience`: the hall's response (`demo_hall_response`), murmur and applause.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from liveify.demo.output import SAMPLE_RATE_HZ, peak_normalise


@dataclass(frozen=True)
class TimeMap:
    """Monotone map from studio time to live time, sampled on a grid (linear in between)."""

    studio_s: np.ndarray
    live_s: np.ndarray

    def __call__(self, studio_times_s):
        # Beyond the grid the local tempo is extrapolated from the end segments.
        times = np.asarray(studio_times_s, dtype=np.float64)
        inside = np.interp(times, self.studio_s, self.live_s)
        slope_start = (self.live_s[1] - self.live_s[0]) / (self.studio_s[1] - self.studio_s[0])
        slope_end = (self.live_s[-1] - self.live_s[-2]) / (self.studio_s[-1] - self.studio_s[-2])
        before = self.live_s[0] + (times - self.studio_s[0]) * slope_start
        after = self.live_s[-1] + (times - self.studio_s[-1]) * slope_end
        return np.where(
            times < self.studio_s[0], before, np.where(times > self.studio_s[-1], after, inside)
        )

    def to_dict(self) -> dict:
        return {
            "studio_s": np.round(self.studio_s, 6).tolist(),
            "live_s": np.round(self.live_s, 6).tolist(),
        }

    @classmethod
    def from_dict(cls, values: dict) -> TimeMap:
        return cls(np.asarray(values["studio_s"], float), np.asarray(values["live_s"], float))


def load_time_map(json_path: str | Path) -> TimeMap:
    """The studio->live time map stored next to a demo live file."""
    with open(json_path, encoding="utf-8") as handle:
        return TimeMap.from_dict(json.load(handle)["time_map"])


def make_time_map(duration_s: float, start_offset_s: float, rng: np.random.Generator, *,
                  max_drift: float = 0.03, grid_s: float = 0.05) -> TimeMap:  # fmt: skip
    """Live time of every studio time: a crowd intro, then a slowly drifting tempo factor.

    The tempo factor (live speed / studio speed) is a sum of slow sines scaled into
    [1 - max_drift, 1 + max_drift]; live time advances by `dt / factor`.
    """
    studio_s = np.arange(0.0, duration_s + 2 * grid_s, grid_s)
    periods_s = rng.uniform(6.0, 40.0, size=3)
    phases = rng.uniform(0, 2 * np.pi, size=3)
    wobble = np.sum(np.sin(2 * np.pi * studio_s[:, None] / periods_s + phases), axis=1)
    wobble += rng.uniform(-1.0, 1.0)  # a band that plays a touch faster or slower overall
    factor = 1.0 + max_drift * wobble / max(np.max(np.abs(wobble)), 1e-9)
    increments = np.diff(studio_s) / (0.5 * (factor[1:] + factor[:-1]))
    live_s = start_offset_s + np.concatenate([[0.0], np.cumsum(increments)])
    return TimeMap(studio_s, live_s)


def demo_hall_response(rng: np.random.Generator, *, rt60_s: float, sample_rate: int) -> np.ndarray:
    """Stereo IR of a hall: sparse early reflections, then decorrelated noise decaying faster in
    the highs than in the lows (air absorption)."""
    n_samples = int(1.2 * rt60_s * sample_rate)
    t = np.arange(n_samples) / sample_rate
    noise = rng.standard_normal((2, n_samples))
    split = signal.butter(2, 1500, fs=sample_rate, output="sos")
    low = signal.sosfilt(split, noise, axis=1)
    high = noise - low
    decay = 6.91 / rt60_s  # -60 dB over rt60 in amplitude: exp(-6.91)
    tail = low * np.exp(-decay * t) + 0.6 * high * np.exp(-2.2 * decay * t)
    predelay = int(rng.uniform(0.02, 0.04) * sample_rate)
    tail = np.concatenate([np.zeros((2, predelay)), tail[:, : n_samples - predelay]], axis=1)
    tail[:, predelay : predelay + int(0.01 * sample_rate)] *= np.linspace(
        0, 1, int(0.01 * sample_rate)
    )
    early = np.zeros((2, n_samples))
    taps = rng.integers(int(0.008 * sample_rate), predelay + int(0.03 * sample_rate), size=(2, 10))
    np.add.at(
        early,
        (np.repeat([0, 1], 10), taps.ravel()),
        rng.uniform(0.2, 0.7, size=20) * np.sign(rng.standard_normal(20)),
    )
    ir = 4.0 * early / np.sqrt(sample_rate) + tail
    return ir / np.sqrt(np.sum(ir**2, axis=1, keepdims=True))


def demo_crowd_murmur(n_samples: int, rng: np.random.Generator, *, sample_rate: int) -> np.ndarray:
    """Murmur of an audience: band-limited noise with slow level swells, stereo-decorrelated."""
    noise = rng.standard_normal((2, n_samples))
    murmur = signal.sosfilt(
        signal.butter(2, [250, 2500], btype="bandpass", fs=sample_rate, output="sos"), noise, axis=1
    )
    t = np.arange(n_samples) / sample_rate
    swell = 1.0 + 0.4 * np.sin(2 * np.pi * t / rng.uniform(3, 7) + rng.uniform(0, 6.3))
    return murmur * swell / (np.std(murmur) + 1e-12)


def demo_applause(
    envelope: np.ndarray, rng: np.random.Generator, *, sample_rate: int, claps_per_s: float = 400.0
) -> np.ndarray:
    """Applause: Poisson-timed claps (short filtered noise bursts) thinned by `envelope` (0..1).

    Only the stretches where `envelope > 0` are synthesised; the rest of the output stays silent.
    """
    n_samples = envelope.size
    output = np.zeros((2, n_samples))
    kernel_len = int(0.012 * sample_rate)
    kt = np.arange(kernel_len) / sample_rate
    # Claps from different hands have different colours: four kernels share the impulses.
    kernels = []
    for centre_hz in (900, 1400, 2100, 3000):
        band = [centre_hz * 0.6, centre_hz * 1.6]
        sos = signal.butter(2, band, btype="bandpass", fs=sample_rate, output="sos")
        kernels.append(signal.sosfilt(sos, rng.standard_normal(kernel_len)) * np.exp(-kt / 0.003))
    active = np.concatenate([[False], envelope > 0, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(active))
    for begin, stop in zip(edges[::2], edges[1::2], strict=True):
        rate = claps_per_s * envelope[begin:stop] / sample_rate
        for channel in range(2):
            impulses = (rng.random(rate.size) < rate) * rng.uniform(0.3, 1.0, rate.size)
            which = rng.integers(0, len(kernels), rate.size)
            for index, kernel in enumerate(kernels):
                claps = signal.oaconvolve(impulses * (which == index), kernel)
                end_sample = min(n_samples, begin + claps.size)
                output[channel, begin:end_sample] += claps[: end_sample - begin]
    active_level = np.std(output[:, envelope > 0]) if np.any(envelope > 0) else 1.0
    return output / (active_level + 1e-12)


def demo_pa_tone(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A small PA: tight low end, a honky mid bump, horn presence, bus compression, soft drive."""
    import pedalboard

    board = pedalboard.Pedalboard(
        [
            pedalboard.HighpassFilter(cutoff_frequency_hz=float(rng.uniform(70, 110))),
            pedalboard.LowShelfFilter(
                cutoff_frequency_hz=140.0, gain_db=float(rng.uniform(2, 4)), q=0.7
            ),
            pedalboard.PeakFilter(
                cutoff_frequency_hz=float(rng.uniform(700, 1100)), gain_db=2.5, q=1.2
            ),
            pedalboard.PeakFilter(
                cutoff_frequency_hz=float(rng.uniform(2500, 3500)), gain_db=3.0, q=0.9
            ),
            pedalboard.LowpassFilter(cutoff_frequency_hz=float(rng.uniform(11000, 14000))),
            pedalboard.Compressor(threshold_db=-16.0, ratio=3.0, attack_ms=8.0, release_ms=120.0),
            pedalboard.Distortion(drive_db=2.0),
        ]
    )
    return board(audio.astype(np.float32), SAMPLE_RATE_HZ).astype(np.float64)


def demo_hall_and_audience(
    band: np.ndarray, start_offset_s: float, song_end_s: float, total_s: float, rng
) -> tuple[np.ndarray, dict]:
    """The band's PA signal in the demo's own hall, with its audience: murmur throughout, cheers
    before `start_offset_s`, applause from `song_end_s` to `total_s`. Peak-normalised."""
    rt60_s = float(rng.uniform(1.4, 2.4))
    ir = demo_hall_response(rng, rt60_s=rt60_s, sample_rate=SAMPLE_RATE_HZ)
    wet = np.stack([signal.oaconvolve(band[c], ir[c])[: band.shape[1]] for c in range(2)])
    wet_db = float(rng.uniform(-9.0, -5.0))
    room = band + wet * 10 ** (wet_db / 20) * np.std(band) / (np.std(wet) + 1e-12)

    n_samples = room.shape[1]
    t = np.arange(n_samples) / SAMPLE_RATE_HZ
    cheer = np.interp(t, [0, 0.5, start_offset_s - 0.5, start_offset_s + 1.5, song_end_s - 0.3,
                          song_end_s + 0.5, total_s - 1.0, total_s], [0.3, 1, 1, 0, 0, 1, 0.8, 0.2])  # fmt: skip
    level = np.std(room[:, int(start_offset_s * SAMPLE_RATE_HZ) :])
    claps = demo_applause(cheer, rng, sample_rate=SAMPLE_RATE_HZ)
    murmur = demo_crowd_murmur(n_samples, rng, sample_rate=SAMPLE_RATE_HZ)
    crowd_db = float(rng.uniform(-26.0, -20.0))
    live = room + level * (10 ** (crowd_db / 20) * murmur + 0.5 * cheer * claps)
    info = {"rt60_s": round(rt60_s, 4), "reverb_wet_db": round(wet_db, 3),
            "crowd_db": round(crowd_db, 3)}  # fmt: skip
    return peak_normalise(live), info


def demo_pa_and_hall(
    band: np.ndarray, start_offset_s: float, song_end_s: float, total_s: float, rng
) -> tuple[np.ndarray, dict]:
    """A live take of the band's signal `band` (2, samples): through the demo's PA at a fixed
    drive level, then in its hall with its audience (`demo_hall_and_audience`)."""
    band = demo_pa_tone(band / (np.max(np.abs(band)) + 1e-9) * 0.5, rng)
    return demo_hall_and_audience(band, start_offset_s, song_end_s, total_s, rng)
