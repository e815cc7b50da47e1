"""From a predicted live mel back to audio, doing no harm: the mask is conditioned, then applied.

`GainConditioner` turns studio and predicted mels into a gain per band and frame that is smooth
in time and frequency (no patch or window edges), bounded (softly, to a range the preset and the
model set), scaled by `strength`, and held within a narrow range at the top of the mel range so
that the band above it (which the model never sees) continues it without a cliff; plus the
residual power the model asked for beyond the bound, capped relative to the studio's own level.
`MaskApplier` applies that to the source audio at its own rate, channels and phase, one group of
STFT frames at a time (sqrt-Hann windows at 50 % overlap sum to one, so groups join exactly).
`reconstruct_mask` does both on a whole signal; `reconstruct_griffinlim` is the spec's
phase-free resynthesis.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from liveify.errors import ParameterError
from liveify.mel import MelConfig, hann_window, mel_band_centres_hz, mel_filterbank, stft

#: Gains above this fraction of the band limit narrow towards `edge_gain_db` (an octave below it).
_NARROWING_START = 0.5
#: Residual noise fades out over this many octaves below the band limit: the model asks for
#: nothing above it, and a fade leaves no cliff.
_NOISE_TAPER_OCTAVES = 0.25


@dataclass(frozen=True)
class MaskSettings:
    """How far and how fast the model may change the sound (defaults: the no-harm settings).

    strength : 0-1, scales the predicted log-gain; 0 is the input unchanged.
    max_gain_db : the gain is bounded softly (`max_gain_db x tanh(g / max_gain_db)`) to this many
        dB of boost or cut.
    edge_gain_db : the bound at the model's band limit (it narrows from `max_gain_db` over the
        octave below); above the limit the gain continues at its value there, so the top octave
        stays within this much of the input.
    smoothing_s : standard deviation of the Gaussian smoothing over time (of mel power, so loud
        frames set the gain of quiet ones next to them; 0.5 s hides the model's 0.37 s patches
        and keeps the gain from following single notes).
    smoothing_octaves : standard deviation of the smoothing over log-frequency; a quarter octave
        keeps the gain from carving resonances narrower than a third of an octave.
    residual_db : cap of the added noise (energy the model asks for beyond the bound) relative to
        the studio level in its own band, smoothed over time; None adds no noise.
    """

    strength: float = 1.0
    max_gain_db: float = 6.0
    edge_gain_db: float = 2.0
    smoothing_s: float = 0.5
    smoothing_octaves: float = 0.25
    residual_db: float | None = -12.0

    def __post_init__(self):
        checks = {
            "strength": 0.0 <= self.strength <= 1.0,
            "max_gain_db": 0.0 < self.max_gain_db <= 40.0,
            "edge_gain_db": 0.0 < self.edge_gain_db <= self.max_gain_db,
            "smoothing_s": 0.0 <= self.smoothing_s <= 5.0,
            "smoothing_octaves": 0.0 <= self.smoothing_octaves <= 2.0,
            "residual_db": self.residual_db is None or -80.0 <= self.residual_db <= 0.0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ParameterError(
                    f"{name} = {getattr(self, name)!r} is out of range (strength 0-1, "
                    "0 < edge_gain_db <= max_gain_db <= 40, smoothing_s 0-5, "
                    "smoothing_octaves 0-2, residual_db -80-0 or None)"
                )


class GainConditioner:
    """Studio and predicted mel power -> bounded, smoothed gain (dB) and capped residual power.

    Works on a block of frames and returns the frames more than `margin_frames` from its edges:
    those depend only on frames within the margin, so blocks on any grid give the same values.
    """

    def __init__(self, config: MelConfig, settings: MaskSettings):
        self.config = config
        self.settings = settings
        self.floor = config.ref_power * 10.0 ** (-config.top_db / 10.0)
        sigma_frames = settings.smoothing_s / config.frame_duration_s
        # Three passes of a centred moving average (odd width w, variance (w^2 - 1) / 12 each)
        # make a near-Gaussian of this sigma that reaches exactly 3 (w - 1) / 2 frames, at a cost
        # independent of the width.
        half_width = round((math.sqrt(4.0 * sigma_frames**2 + 1.0) - 1.0) / 2.0)
        self.box_frames = 2 * half_width + 1
        self.margin_frames = 3 * half_width
        self.frequency_kernel = _log_frequency_kernel(config, settings.smoothing_octaves)
        self.limit_db = _gain_limit_db(config, settings)[:, np.newaxis]

    def _smooth_time(self, power: np.ndarray) -> np.ndarray:
        from scipy.ndimage import uniform_filter1d

        smooth = np.asarray(power, dtype=np.float32)
        for _ in range(3 if self.box_frames > 1 else 0):
            smooth = uniform_filter1d(smooth, self.box_frames, axis=1, mode="nearest")
        return smooth

    def _smooth(self, power: np.ndarray) -> np.ndarray:
        return self._smooth_time(self.frequency_kernel @ power)

    def __call__(
        self, studio_power: np.ndarray, predicted_power: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Gain (dB) and residual power (n_mels, frames - 2 x margin) of the block's inner frames."""
        if studio_power.shape != predicted_power.shape:
            raise ParameterError(
                f"studio and predicted mels differ in shape: {studio_power.shape} vs "
                f"{predicted_power.shape}"
            )
        studio = self._smooth(studio_power)
        predicted = self._smooth(predicted_power)
        inner = slice(self.margin_frames, studio.shape[1] - self.margin_frames)
        studio, predicted = studio[:, inner], predicted[:, inner]
        ratio = np.maximum(predicted, self.floor) / np.maximum(studio, self.floor)
        asked_db = self.settings.strength * 10.0 * np.log10(ratio)
        gain_db = self.limit_db * np.tanh(asked_db / self.limit_db)
        residual = np.zeros_like(studio)
        if self.settings.residual_db is not None and self.settings.strength > 0:
            beyond = studio * (10.0 ** (asked_db / 10.0) - 10.0 ** (gain_db / 10.0))
            # Capped by the band's own level (smoothed over time only), so noise neither fills
            # silence nor the valleys between the harmonics of a tonal sound.
            own = self._smooth_time(studio_power)[:, inner]
            residual = np.clip(beyond, 0.0, own * 10.0 ** (self.settings.residual_db / 10.0))
        return gain_db.astype(np.float32), residual.astype(np.float32)


def _log_frequency_kernel(config: MelConfig, sigma_octaves: float):
    """(n_mels, n_mels) sparse rows of Gaussian weights over log-frequency (cut at 3 sigma),
    each summing to one."""
    from scipy.sparse import csr_matrix

    octaves = np.log2(np.maximum(mel_band_centres_hz(config), 1.0))
    distance = np.abs(octaves[:, None] - octaves[None, :]) / max(sigma_octaves, 1e-9)
    kernel = np.where(distance <= 3.0, np.exp(-0.5 * distance**2), 0.0)
    return csr_matrix(kernel / kernel.sum(axis=1, keepdims=True))


def _gain_limit_db(config: MelConfig, settings: MaskSettings) -> np.ndarray:
    """Bound per mel band: `max_gain_db`, narrowing (raised cosine over log-frequency) to
    `edge_gain_db` at the top band, so the continuation above the band limit stays close."""
    centres = mel_band_centres_hz(config)
    top = centres[-1]
    position = np.clip(
        np.log2(centres / (top * _NARROWING_START)) / -np.log2(_NARROWING_START), 0, 1
    )
    blend = 0.5 - 0.5 * np.cos(np.pi * position)  # 0 below the narrowing, 1 at the top band
    return settings.max_gain_db + (settings.edge_gain_db - settings.max_gain_db) * blend


def source_stft_size(sample_rate: float, config: MelConfig) -> int:
    """FFT size at the source rate spanning about the analysis window (4096 at 44.1/48 kHz)."""
    return int(2 ** round(math.log2(config.n_fft * sample_rate / config.sample_rate)))


class MaskApplier:
    """Applies per-frame gains and residual noise to audio at its own rate, one frame group at a
    time: frame k of the source STFT (sqrt-Hann, hop n_fft / 2) is centred on sample k x hop."""

    def __init__(self, config: MelConfig, sample_rate: float):
        self.n_fft = source_stft_size(sample_rate, config)
        self.hop = self.n_fft // 2
        self.window = np.sqrt(hann_window(self.n_fft))
        bin_hz = np.fft.rfftfreq(self.n_fft, 1.0 / sample_rate)
        self.gain_onto_bins = _band_interpolation(config, bin_hz)
        noise_matrix = self.gain_onto_bins.multiply(_noise_taper(config, bin_hz)[:, np.newaxis])
        # Band power -> power per source bin: a band's power is its filter's weighted sum of
        # analysis-bin powers (Hann, sum of squares 3N/8); a source bin of power q gives noise of
        # variance q / n_fft after the inverse FFT and the sqrt-Hann overlap-add, at a rate
        # sample_rate / config.sample_rate times the analysis rate for the same density.
        per_analysis_bin = 1.0 / mel_filterbank(config).sum(axis=1).astype(np.float64)
        scale = self.n_fft * sample_rate / (config.sample_rate * 3.0 * config.n_fft / 8.0)
        self.noise_onto_bins = noise_matrix.multiply(per_analysis_bin * scale).tocsr()
        self.noise_onto_bins = self.noise_onto_bins.astype(np.float32)

    def span_samples(self, n_frames: int) -> int:
        """Samples of audio that `n_frames` consecutive frames read and write."""
        return (n_frames + 1) * self.hop

    def apply(
        self,
        audio: np.ndarray,
        gain_db: np.ndarray,
        residual_power: np.ndarray | None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Frames of `audio` (channels, span_samples(F)) shaped by `gain_db` (n_mels, F) and
        `residual_power` (n_mels, F, or None), overlap-added: (channels, span_samples(F))."""
        from scipy import fft

        channels, n_frames = audio.shape[0], gain_db.shape[1]
        frames = np.lib.stride_tricks.sliding_window_view(audio, self.n_fft, axis=-1)[
            :, :: self.hop
        ]
        spectrum = fft.rfft(frames * self.window, axis=-1)  # (channels, F, bins)
        gain_log2 = np.asarray(self.gain_onto_bins @ gain_db).T  # (F, bins), dB
        gain_log2 *= np.float32(math.log2(10) / 20)
        spectrum *= np.exp2(gain_log2, out=gain_log2)
        if residual_power is not None and rng is not None:
            bin_power = np.asarray(self.noise_onto_bins @ residual_power).T  # (F, bins)
            noise = unit_complex_noise(rng, (channels, *bin_power.shape))
            noise *= np.sqrt(np.maximum(bin_power, 0.0, out=bin_power), out=bin_power)
            spectrum += noise
        segments = fft.irfft(spectrum, n=self.n_fft, axis=-1)
        segments *= self.window
        output = np.zeros((channels, n_frames + 1, self.hop), dtype=np.float32)
        output[:, :-1] += segments[..., : self.hop]
        output[:, 1:] += segments[..., self.hop :]
        return output.reshape(channels, -1)


def _band_interpolation(config: MelConfig, bin_hz: np.ndarray):
    """(bins, n_mels) sparse linear interpolation between band centres; bins beyond the first or
    last band take that band's value (the continuation above the band limit)."""
    from scipy.sparse import csr_matrix

    centres = mel_band_centres_hz(config)
    position = np.interp(bin_hz, centres, np.arange(len(centres), dtype=np.float64))
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, len(centres) - 1)
    fraction = position - lower
    rows = np.arange(len(bin_hz))
    values = np.concatenate([1.0 - fraction, fraction]).astype(np.float32)
    shape = (len(bin_hz), len(centres))
    return csr_matrix((values, (np.tile(rows, 2), np.concatenate([lower, upper]))), shape=shape)


def unit_complex_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Complex noise of unit mean power (1/2 per part), from random bytes: 8-bit levels are
    plenty for noise and ~4x cheaper to draw than floats; k + 0.5 is symmetric around 0 with
    variance (256^2 - 1) / 12."""
    words = rng.bit_generator.random_raw(-(-2 * math.prod(shape) // 8))
    parts = words.view(np.int8)[: 2 * math.prod(shape)].astype(np.float32)
    parts += np.float32(0.5)
    parts *= np.float32(math.sqrt(0.5 * 12.0 / (256**2 - 1)))
    return parts.view(np.complex64).reshape(shape)


def _noise_taper(config: MelConfig, bin_hz: np.ndarray) -> np.ndarray:
    """1 up to a quarter octave below the band limit, falling (raised cosine) to 0 at it."""
    limit = config.fmax_hz if config.fmax_hz is not None else config.sample_rate / 2
    start = limit * 2.0**-_NOISE_TAPER_OCTAVES
    position = np.clip(np.log2(np.maximum(bin_hz, start) / start) / _NOISE_TAPER_OCTAVES, 0, 1)
    return 0.5 + 0.5 * np.cos(np.pi * position)


def frames_at(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Columns of `values` (rows, frames) linearly interpolated at fractional `positions`."""
    lower = np.clip(np.floor(positions).astype(np.int64), 0, values.shape[1] - 1)
    upper = np.minimum(lower + 1, values.shape[1] - 1)
    fraction = (positions - lower).astype(np.float32)
    return values[:, lower] * (1.0 - fraction) + values[:, upper] * fraction


def reconstruct_mask(
    audio: np.ndarray,
    sample_rate: float,
    studio_power: np.ndarray,
    predicted_power: np.ndarray,
    config: MelConfig,
    settings: MaskSettings = MaskSettings(),
    *,
    seed: int = 0,
) -> np.ndarray:
    """Apply a predicted live mel to the studio audio of a whole signal (what `LiveModel` does
    block by block): condition the mask, then shape the source's own STFT.

    Parameters
    ----------
    audio : (channels, samples) float32 source audio at `sample_rate`.
    studio_power, predicted_power : (n_mels, frames) power mels at `config.sample_rate`, frame 0
        centred on sample 0 (as `mel_power` computes them).
    settings : bounds, smoothing, strength and residual noise (`MaskSettings`).
    seed : seed of the residual noise.

    Returns
    -------
    (channels, samples) float32, same shape as `audio`.
    """
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    conditioner = GainConditioner(config, settings)
    margin = conditioner.margin_frames
    edge = ((0, 0), (margin, margin))
    gain_db, residual = conditioner(
        np.pad(studio_power, edge, mode="edge"), np.pad(predicted_power, edge, mode="edge")
    )
    applier = MaskApplier(config, sample_rate)
    n_samples = audio.shape[1]
    n_frames = n_samples // applier.hop + 2  # frame k covers samples up to (k + 1) x hop
    samples_per_frame = config.hop_length * sample_rate / config.sample_rate
    positions = np.arange(n_frames) * applier.hop / samples_per_frame
    padded = np.zeros((audio.shape[0], applier.span_samples(n_frames)), dtype=np.float32)
    padded[:, applier.hop : applier.hop + n_samples] = audio  # frame 0 starts n_fft / 2 early
    output = applier.apply(
        padded,
        frames_at(gain_db, positions),
        frames_at(residual, positions) if residual.any() else None,
        np.random.default_rng(seed),
    )
    return np.ascontiguousarray(output[:, applier.hop : applier.hop + n_samples])


# --- Griffin-Lim ---------------------------------------------------------------------------------
def _istft(spectrum: np.ndarray, n_fft: int, hop_length: int, length: int) -> np.ndarray:
    """Inverse of `liveify.mel.stft` (Hann synthesis, divided by the summed squared window)."""
    from scipy import fft

    window = hann_window(n_fft)
    segments = fft.irfft(spectrum.T, n=n_fft, axis=-1) * window
    n_frames = segments.shape[0]
    total = n_fft + hop_length * (n_frames - 1)
    signal = np.zeros(total, dtype=np.float32)
    weight = np.zeros(total, dtype=np.float32)
    for index in range(n_frames):
        signal[index * hop_length : index * hop_length + n_fft] += segments[index]
        weight[index * hop_length : index * hop_length + n_fft] += window**2
    signal /= np.maximum(weight, 1e-8)
    trimmed = signal[n_fft // 2 : n_fft // 2 + length]
    return np.pad(trimmed, (0, length - trimmed.size))


@functools.lru_cache(maxsize=4)
def _pseudo_inverse(config: MelConfig) -> np.ndarray:
    return np.linalg.pinv(mel_filterbank(config).astype(np.float64))


def reconstruct_griffinlim(
    predicted_power: np.ndarray,
    sample_rate: float,
    config: MelConfig,
    *,
    channels: int = 2,
    length: int | None = None,
    n_iter: int = 32,
    momentum: float = 0.99,
    seed: int = 0,
) -> np.ndarray:
    """Synthesise audio from a power mel alone: pseudo-inverse mel -> fast Griffin-Lim -> resample.

    The spec's reconstruction. It loses the studio phase, stereo image and everything above the
    mel range, so it sounds duller than the mask; the pseudo-inverse replaces an NNLS inverse,
    which is ~20x slower for a similar result after Griffin-Lim.
    """
    magnitude = np.sqrt(np.maximum(_pseudo_inverse(config) @ predicted_power, 0.0))
    magnitude = magnitude.astype(np.float32)
    analysis_length = config.hop_length * (magnitude.shape[1] - 1)
    rng = np.random.default_rng(seed)
    angles = np.exp(2j * np.pi * rng.random(magnitude.shape)).astype(np.complex64)
    previous = np.zeros_like(angles)
    for _ in range(n_iter):  # Perraudin et al.'s fast Griffin-Lim, as librosa runs it
        signal = _istft(magnitude * angles, config.n_fft, config.hop_length, analysis_length)
        rebuilt = stft(signal, config.n_fft, config.hop_length)
        angles = rebuilt - (momentum / (1 + momentum)) * previous
        angles /= np.abs(angles) + 1e-16
        previous = rebuilt
    mono = _istft(magnitude * angles, config.n_fft, config.hop_length, analysis_length)
    if sample_rate != config.sample_rate:
        import soxr

        mono = soxr.resample(mono, config.sample_rate, sample_rate, quality="HQ")
    if length is not None:
        mono = np.pad(mono[:length], (0, max(0, length - mono.size)))
    return np.ascontiguousarray(np.repeat(mono[np.newaxis, :], channels, axis=0), dtype=np.float32)
