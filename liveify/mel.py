"""Mel features for the model: audio at 22.05 kHz -> power mel -> dB against a fixed reference,
clipped to [-80, 0] -> `dB / 40 + 1` in [-1, 1], and back to power.

The STFT and the Slaney mel filterbank are numpy (equal to librosa's defaults, which training
used), so the render path imports neither librosa nor numba. The way back from a predicted mel to
audio is `liveify.plugins.model_stage.reconstruction`.
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


def hann_window(n_samples: int) -> np.ndarray:
    """The periodic Hann window of `n_samples` (scipy's `get_window("hann", n)`, librosa's)."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_samples) / n_samples)).astype(np.float32)


def stft(signal: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """Centred STFT `(..., 1 + n_fft // 2, frames)` of `signal` (..., samples) with a periodic Hann
    window, zero-padded by n_fft / 2 on both sides: librosa's `stft` defaults, frame i centred on
    sample i x hop_length."""
    from scipy import fft

    signal = np.asarray(signal, dtype=np.float32)
    pad = [(0, 0)] * (signal.ndim - 1) + [(n_fft // 2, n_fft // 2)]
    padded = np.pad(signal, pad)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[..., ::hop_length, :]
    spectrum = fft.rfft(frames * hann_window(n_fft), axis=-1)
    return np.swapaxes(spectrum, -1, -2)


#: Slaney's mel scale (the Auditory Toolbox's, librosa's default `htk=False`).
_MEL_LINEAR_HZ = 200.0 / 3
_BREAK_HZ = 1000.0
_MEL_BREAK = _BREAK_HZ / _MEL_LINEAR_HZ
_MEL_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(frequencies_hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    frequencies_hz = np.asarray(frequencies_hz, dtype=np.float64)
    linear = frequencies_hz / _MEL_LINEAR_HZ
    logarithmic = _MEL_BREAK + np.log(np.maximum(frequencies_hz, 1e-12) / _BREAK_HZ) / _MEL_LOG_STEP
    return np.where(frequencies_hz >= _BREAK_HZ, logarithmic, linear)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    linear = mels * _MEL_LINEAR_HZ
    logarithmic = _BREAK_HZ * np.exp(_MEL_LOG_STEP * (mels - _MEL_BREAK))
    return np.where(mels >= _MEL_BREAK, logarithmic, linear)


def mel_frequencies(n_mels: int, fmin_hz: float, fmax_hz: float) -> np.ndarray:
    """`n_mels` frequencies (Hz) evenly spaced on Slaney's mel scale from `fmin_hz` to `fmax_hz`
    (librosa's `mel_frequencies(htk=False)`)."""
    mels = np.linspace(_hz_to_mel(fmin_hz), _hz_to_mel(fmax_hz), n_mels)
    return _mel_to_hz(mels)


@functools.lru_cache(maxsize=8)
def mel_filterbank(config: MelConfig) -> np.ndarray:
    """The (n_mels, 1 + n_fft // 2) Slaney-normalised triangular filterbank of `config` (cached):
    librosa's `filters.mel` with its defaults, in numpy (the render path never imports librosa)."""
    fmax_hz = config.fmax_hz if config.fmax_hz is not None else config.sample_rate / 2
    edges_hz = mel_frequencies(config.n_mels + 2, config.fmin_hz, fmax_hz)
    bin_hz = np.fft.rfftfreq(config.n_fft, 1.0 / config.sample_rate)
    widths_hz = np.diff(edges_hz)
    ramps = edges_hz[:, np.newaxis] - bin_hz[np.newaxis, :]
    rising = -ramps[:-2] / widths_hz[:-1, np.newaxis]
    falling = ramps[2:] / widths_hz[1:, np.newaxis]
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    # Slaney normalisation: every filter has the same area, so bands read energy, not width.
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, np.newaxis].astype(np.float32)
    weights.setflags(write=False)
    return weights


@functools.lru_cache(maxsize=8)
def _sparse_filterbank(config: MelConfig):
    """`mel_filterbank` as a CSR matrix: every bin feeds at most two bands, so the product with a
    spectrogram costs ~1/60 of the dense one."""
    from scipy.sparse import csr_matrix

    return csr_matrix(mel_filterbank(config))


def mel_band_centres_hz(config: MelConfig) -> np.ndarray:
    """Centre frequency of every mel band, in Hz."""
    fmax_hz = config.fmax_hz if config.fmax_hz is not None else config.sample_rate / 2
    return mel_frequencies(config.n_mels + 2, config.fmin_hz, fmax_hz)[1:-1]


def mel_power(audio: np.ndarray, config: MelConfig) -> np.ndarray:
    """Power mel (n_mels, frames) of `audio` sampled at `config.sample_rate`.

    Multichannel input `(channels, samples)` is downmixed to mono first: the model sees the song,
    and reconstruction re-applies its result to every channel.
    """
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=0)
    spectrum = stft(samples, config.n_fft, config.hop_length)
    power = np.square(spectrum.real) + np.square(spectrum.imag)
    return np.asarray(_sparse_filterbank(config) @ power, dtype=np.float32)


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
