"""Mel features for the model and the way back from a predicted live mel to audio.

Forward: audio at 22.05 kHz -> power mel -> dB against a fixed reference, clipped to [-80, 0] ->
`dB / 40 + 1` in [-1, 1]. Back: `reconstruct_mask` turns the predicted/studio mel ratio into gains
on the source's own STFT (its rate, channels and phase), `reconstruct_griffinlim` synthesises the
prediction from scratch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from liveify.config import DictConfig
from liveify.errors import ParameterError

#: The normalised level of silence (dB at the -top_db floor); pad windows with it.
SILENT_LEVEL = -1.0


@dataclass(frozen=True)
class MelConfig(DictConfig):
    """Mel analysis settings; saved in checkpoints and ONNX metadata so every stage agrees.

    `ref_power` is the mel power that reads 0 dB: a 0 dBFS sine centred in a band reads about
    +40 dB against 1.0, so 1e4 puts full-scale tones at the top of the [-80, 0] dB range and keeps
    quiet room sound (around -60 dBFS) above the floor.
    """

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    top_db: float = 80.0
    ref_power: float = 1e4
    fmin_hz: float = 0.0
    fmax_hz: float | None = None
    segment_duration: float = 0.5
    context_length: int = 64

    def __post_init__(self):
        checks = {
            "sample_rate": self.sample_rate >= 8000,
            "n_fft": self.n_fft >= 16,
            "hop_length": 0 < self.hop_length <= self.n_fft,
            "n_mels": self.n_mels >= 1,
            "top_db": self.top_db > 0,
            "ref_power": self.ref_power > 0,
            "segment_duration": self.segment_duration > 0,
            "context_length": self.context_length >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ParameterError(f"MelConfig.{name} = {getattr(self, name)!r} is out of range")

    @property
    def frames_per_segment(self) -> int:
        """Mel frames in one segment: `segment_duration` of audio, centred STFT framing."""
        return int(self.segment_duration * self.sample_rate) // self.hop_length + 1

    @property
    def context_frames(self) -> int:
        """Frames in one model context window (1408 for the defaults: 22 frames x 64 segments)."""
        return self.frames_per_segment * self.context_length

    @property
    def frame_duration_s(self) -> float:
        return self.hop_length / self.sample_rate

    def n_frames(self, n_samples: int) -> int:
        """Frames a centred STFT produces for `n_samples` samples at `sample_rate`."""
        return 1 + n_samples // self.hop_length


@functools.lru_cache(maxsize=8)
def mel_filterbank(config: MelConfig) -> np.ndarray:
    """The (n_mels, 1 + n_fft // 2) Slaney-normalised filterbank of `config` (cached)."""
    import librosa

    return librosa.filters.mel(
        sr=config.sample_rate,
        n_fft=config.n_fft,
        n_mels=config.n_mels,
        fmin=config.fmin_hz,
        fmax=config.fmax_hz,
    ).astype(np.float32)


def mel_band_centres_hz(config: MelConfig) -> np.ndarray:
    """Centre frequency of every mel band, in Hz."""
    import librosa

    fmax_hz = config.fmax_hz if config.fmax_hz is not None else config.sample_rate / 2
    return librosa.mel_frequencies(n_mels=config.n_mels + 2, fmin=config.fmin_hz, fmax=fmax_hz)[
        1:-1
    ]


def mel_power(audio: np.ndarray, config: MelConfig) -> np.ndarray:
    """Power mel (n_mels, frames) of `audio` sampled at `config.sample_rate`.

    Multichannel input `(channels, samples)` is downmixed to mono first: the model sees the song,
    and reconstruction re-applies its result to every channel.
    """
    import librosa

    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=0)
    spectrum = librosa.stft(samples, n_fft=config.n_fft, hop_length=config.hop_length)
    return mel_filterbank(config) @ (np.abs(spectrum) ** 2)


def normalize(power: np.ndarray, config: MelConfig) -> np.ndarray:
    """Power mel -> dB against `ref_power`, clipped to [-top_db, 0] -> [-1, 1]."""
    floor = config.ref_power * 10.0 ** (-config.top_db / 10.0)
    level_db = 10.0 * np.log10(np.maximum(power, floor) / config.ref_power)
    level_db = np.clip(level_db, -config.top_db, 0.0)
    return (level_db / (config.top_db / 2.0) + 1.0).astype(np.float32)


def denormalize(normalized: np.ndarray, config: MelConfig) -> np.ndarray:
    """Inverse of `normalize`: [-1, 1] -> power mel (clipped levels stay clipped)."""
    level_db = (np.clip(normalized, -1.0, 1.0) - 1.0) * (config.top_db / 2.0)
    return (config.ref_power * 10.0 ** (level_db / 10.0)).astype(np.float32)


def _source_stft_size(sample_rate: float, config: MelConfig) -> tuple[int, int]:
    """FFT size and hop at the source rate spanning about the analysis window's duration."""
    scaled = config.n_fft * sample_rate / config.sample_rate
    n_fft = int(2 ** round(np.log2(scaled)))
    return n_fft, n_fft // 4


def _frames_onto_times(values: np.ndarray, frame_s: float, times_s: np.ndarray) -> np.ndarray:
    """Linearly interpolate per-frame columns of `values` (bands, frames) onto `times_s`."""
    position = np.clip(times_s / frame_s, 0, values.shape[1] - 1)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, values.shape[1] - 1)
    fraction = (position - lower)[np.newaxis, :]
    return values[:, lower] * (1.0 - fraction) + values[:, upper] * fraction


def _bands_onto_bins(values: np.ndarray, band_hz: np.ndarray, bin_hz: np.ndarray) -> np.ndarray:
    """Interpolate per-band rows of `values` (bands, frames) onto STFT bin frequencies.

    Bins below the first band or above the last follow the nearest band, so the gain of the top
    mel band carries on up to the source's Nyquist frequency.
    """
    position = np.interp(bin_hz, band_hz, np.arange(len(band_hz), dtype=np.float64))
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, len(band_hz) - 1)
    fraction = (position - lower)[:, np.newaxis]
    return values[lower] * (1.0 - fraction) + values[upper] * fraction


def reconstruct_mask(
    audio: np.ndarray,
    sample_rate: float,
    studio_power: np.ndarray,
    predicted_power: np.ndarray,
    config: MelConfig,
    *,
    gain_range_db: tuple[float, float] = (-30.0, 12.0),
    smoothing_frames: int = 3,
    residual_noise: bool = True,
    seed: int = 0,
) -> np.ndarray:
    """Apply the predicted live mel to the studio audio at its own rate, channels and phase.

    Parameters
    ----------
    audio : (channels, samples) float32 source audio at `sample_rate`.
    studio_power, predicted_power : (n_mels, frames) power mels at `config.sample_rate`, frame 0
        centred on sample 0 (as `mel_power` computes them).
    gain_range_db : per band/frame gains are clamped to this range, so a prediction can reshape
        the studio sound but not replace it; what it asks for beyond the upper clamp (room sound,
        crowd noise where the studio track is quiet) is added as shaped noise.
    smoothing_frames : moving-average length over time of the dB gains; removes frame-rate
        flutter ("musical noise") at the cost of ~`smoothing_frames` x 23 ms of time resolution.
    residual_noise : add the residual energy as decorrelated noise per channel.
    seed : seed of that noise.

    Returns
    -------
    (channels, samples) float32, same shape as `audio`.
    """
    import librosa
    from scipy.ndimage import uniform_filter1d

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[np.newaxis, :]
    if studio_power.shape != predicted_power.shape:
        raise ParameterError(
            f"studio and predicted mels differ in shape: {studio_power.shape} vs "
            f"{predicted_power.shape}"
        )
    low_db, high_db = gain_range_db
    if not low_db <= 0.0 <= high_db:
        raise ParameterError(f"gain_range_db must contain 0 dB; got {gain_range_db}")
    n_samples = audio.shape[1]
    floor = config.ref_power * 10.0 ** (-config.top_db / 10.0)
    studio = np.maximum(studio_power, floor).astype(np.float64)
    predicted = np.maximum(predicted_power, floor).astype(np.float64)
    gain_db = 10.0 * np.log10(predicted / studio)
    if smoothing_frames > 1:
        gain_db = uniform_filter1d(gain_db, size=smoothing_frames, axis=1, mode="nearest")
    clamped_db = np.clip(gain_db, low_db, high_db)

    n_fft, hop = _source_stft_size(sample_rate, config)
    spectrum = librosa.stft(audio, n_fft=n_fft, hop_length=hop)
    frame_times_s = np.arange(spectrum.shape[-1]) * hop / sample_rate
    bin_hz = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    band_hz = mel_band_centres_hz(config)

    def onto_source_grid(values: np.ndarray) -> np.ndarray:
        on_times = _frames_onto_times(values, config.frame_duration_s, frame_times_s)
        return _bands_onto_bins(on_times, band_hz, bin_hz)

    gain = 10.0 ** (onto_source_grid(clamped_db) / 20.0)
    shaped = spectrum * gain.astype(np.float32)

    if residual_noise:
        residual = np.maximum(predicted - studio * 10.0 ** (high_db / 10.0), 0.0)
        if residual.max() > floor:
            shaped = shaped + _residual_noise_spectrum(
                residual, audio.shape[0], sample_rate, n_fft, config, onto_source_grid, seed
            )
    output = librosa.istft(shaped, hop_length=hop, n_fft=n_fft, length=n_samples)
    return np.ascontiguousarray(output, dtype=np.float32)


def _residual_noise_spectrum(
    residual_power: np.ndarray,
    channels: int,
    sample_rate: float,
    n_fft: int,
    config: MelConfig,
    onto_source_grid,
    seed: int,
) -> np.ndarray:
    """Complex Gaussian STFT noise whose mel power at the analysis rate is `residual_power`.

    A mel band's power is the sum of its bins' power weighted by the filter, so the power per bin
    is the band's power over the filter's weight sum; moving from the analysis STFT to the source
    STFT scales bin power by sample rate x window energy.
    """
    weight_sums = mel_filterbank(config).sum(axis=1).astype(np.float64)
    power_per_bin = residual_power / np.maximum(weight_sums, 1e-12)[:, np.newaxis]
    analysis_window_energy = 3.0 * config.n_fft / 8.0
    source_window_energy = 3.0 * n_fft / 8.0
    scale = (sample_rate * source_window_energy) / (config.sample_rate * analysis_window_energy)
    bin_power = np.maximum(onto_source_grid(power_per_bin), 0.0) * scale
    rng = np.random.default_rng(seed)
    shape = (channels, *bin_power.shape)
    noise = np.empty(shape, dtype=np.complex64)
    noise.real = rng.standard_normal(shape, dtype=np.float32)
    noise.imag = rng.standard_normal(shape, dtype=np.float32)
    noise *= np.sqrt(bin_power / 2.0).astype(np.float32)
    return noise


def reconstruct_griffinlim(
    predicted_power: np.ndarray,
    sample_rate: float,
    config: MelConfig,
    *,
    channels: int = 2,
    length: int | None = None,
    n_iter: int = 32,
    seed: int = 0,
) -> np.ndarray:
    """Synthesise audio from a power mel alone: pseudo-inverse mel -> Griffin-Lim -> resample.

    The spec's reconstruction. It loses the studio phase and everything above the mel range, so it
    sounds duller than `reconstruct_mask`; the pseudo-inverse replaces librosa's NNLS inverse,
    which is ~20x slower for a similar result after Griffin-Lim.
    """
    import librosa

    basis = mel_filterbank(config).astype(np.float64)
    magnitude = np.sqrt(np.maximum(np.linalg.pinv(basis) @ predicted_power, 0.0))
    mono = librosa.griffinlim(
        magnitude,
        n_iter=n_iter,
        hop_length=config.hop_length,
        n_fft=config.n_fft,
        random_state=seed,
    )
    if sample_rate != config.sample_rate:
        mono = librosa.resample(mono, orig_sr=config.sample_rate, target_sr=sample_rate)
    if length is not None:
        mono = librosa.util.fix_length(mono, size=length)
    return np.ascontiguousarray(np.repeat(mono[np.newaxis, :], channels, axis=0), dtype=np.float32)
