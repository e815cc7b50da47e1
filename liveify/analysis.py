"""Whole-track analysis that stages receive before a track is streamed through them in chunks.

A renderer feeds every block of a track to `TrackAnalysis` first, then hands it to the chain's
`prepare_track`; stages that react to the whole song (the crowd claps along to its beats and sits
under its playing level) read what they need from it, so chunked output equals one whole call.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from liveify.loudness import StepEnergies
from liveify.plugins.base import as_channels_first

#: Music below this (dBFS power) counts as silence.
SILENCE_DB = -70.0


class TrackAnalysis:
    """Beats and playing level of a whole track, fed block by block so hour-long tracks stream.

    Beats: librosa onset strength (spectral flux of a 64-band mel spectrogram, ~11.6 ms hops,
    frames computed per block exactly as one centred STFT would) -> global tempo from the onset
    autocorrelation, weighted by librosa's log-normal prior around 120 bpm ->
    `librosa.beat.beat_track` (Ellis 2007 dynamic programming) at that tempo. Passing the tempo
    skips librosa's per-frame tempogram, the slow part. Memory: 64 floats per 11.6 ms.

    Onsets need no more than ~6 kHz, so the mono mix is halved in rate by pair averages (a cheap
    low-pass that is enough here) until it is at most 16 kHz.

    >>> analysis = TrackAnalysis(44100)
    >>> for block in read_blocks(path): analysis.add(block)
    >>> Crowd(beat_times_s=analysis.beat_times_s(), music_level_db=analysis.music_level_db())
    """

    #: Samples per level block; blocks above SILENCE_DB count as the music playing.
    LEVEL_BLOCK = 1024

    def __init__(self, sample_rate: float):
        import librosa

        self.halvings = 0
        while sample_rate / 2**self.halvings > 16000:
            self.halvings += 1
        self._undecimated = np.zeros(0, np.float32)
        self.sample_rate = float(sample_rate) / 2**self.halvings
        self.hop = 1 << round(math.log2(self.sample_rate * 0.0116))  # librosa's 512 at 22 kHz
        self.n_fft = 4 * self.hop
        self._mel_basis = librosa.filters.mel(sr=self.sample_rate, n_fft=self.n_fft, n_mels=64)
        self._window = librosa.filters.get_window("hann", self.n_fft, fftbins=True).astype(
            np.float32
        )
        # A centred STFT pads n_fft/2 zeros before the signal; the first block starts with them.
        self._pending = np.zeros(self.n_fft // 2, np.float32)
        self._mel_frames: list[np.ndarray] = []
        self._level_steps = StepEnergies(self.LEVEL_BLOCK)
        self._level_powers: list[np.ndarray] = []
        self._samples = 0
        self._any_sound = False

    def add(self, audio: np.ndarray) -> None:
        """Analyse the next block, (channels, samples) or mono, at `sample_rate`."""
        audio = as_channels_first(audio)
        channels = audio.shape[0]
        mix = audio.sum(axis=0) * np.float32(1.0 / channels)
        mono = np.concatenate([self._undecimated, mix])
        usable = mono.size // 2**self.halvings * 2**self.halvings
        mono, self._undecimated = mono[:usable], mono[usable:]
        for _ in range(self.halvings):
            mono = 0.5 * (mono[0::2] + mono[1::2])
        self._samples += mono.size
        self._any_sound = self._any_sound or bool(np.any(mono))
        self._add_frames(mono)
        energies = self._level_steps.add(audio)
        self._level_powers.append(energies / (channels * self.LEVEL_BLOCK))

    def _add_frames(self, mono: np.ndarray) -> None:
        import scipy.fft

        buffered = np.concatenate([self._pending, mono.astype(np.float32)])
        if buffered.size < self.n_fft:
            self._pending = buffered
            return
        frames = 1 + (buffered.size - self.n_fft) // self.hop
        # librosa.stft's frames (Hann window, no centring here), without its generality: half the
        # time of the analysis.
        windowed = sliding_window_view(buffered, self.n_fft)[:: self.hop] * self._window
        spectrum = scipy.fft.rfft(windowed, axis=1)
        power = np.square(spectrum.real) + np.square(spectrum.imag)
        self._mel_frames.append(self._mel_basis @ power.T)
        self._pending = buffered[frames * self.hop :]

    def beat_times_s(self) -> np.ndarray:
        """Beat times in seconds from the start of what was fed (empty for silence or < 8 hops)."""
        import librosa

        if self._samples < 8 * self.hop or not self._any_sound:
            return np.zeros(0)
        remainder = self._pending
        # The centred STFT's end padding, plus the frames a whole-signal call would produce.
        self._add_frames(np.zeros(self.n_fft // 2, np.float32))
        expected_frames = 1 + self._samples // self.hop
        mel = np.concatenate(self._mel_frames, axis=1)[:, :expected_frames]
        self._pending = remainder
        self._mel_frames = [mel]
        strength = librosa.onset.onset_strength(
            S=librosa.power_to_db(mel), sr=self.sample_rate, hop_length=self.hop, n_fft=self.n_fft
        )
        autocorrelation = librosa.autocorrelate(strength - strength.mean())[1:]
        bpm = 60.0 * self.sample_rate / self.hop / np.arange(1, autocorrelation.size + 1)
        usable = (bpm >= 40.0) & (bpm <= 240.0)
        if not np.any(usable) or not np.any(autocorrelation[usable] > 0):
            return np.zeros(0)
        prior = np.exp(-0.5 * np.log2(bpm[usable] / 120.0) ** 2)
        tempo_bpm = float(bpm[usable][np.argmax(autocorrelation[usable] * prior)])
        _, beats_s = librosa.beat.beat_track(
            onset_envelope=strength,
            sr=self.sample_rate,
            hop_length=self.hop,
            bpm=tempo_bpm,
            units="time",
        )
        return np.asarray(beats_s, dtype=np.float64)

    def music_level_db(self) -> float | None:
        """RMS level in dBFS of the playing parts (1024-sample blocks above -70 dBFS)."""
        return _playing_level_db(
            np.concatenate(self._level_powers) if self._level_powers else np.zeros(0)
        )


def _playing_level_db(block_powers: np.ndarray) -> float | None:
    playing = block_powers > 10 ** (SILENCE_DB / 10)
    return float(10 * np.log10(block_powers[playing].mean())) if np.any(playing) else None


def track_beats(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Beat times in seconds of a whole track held in memory (see `TrackAnalysis`).

    Run it on a whole track before chunked rendering and pass the result as
    `Crowd(beat_times_s=...)`.
    """
    analysis = TrackAnalysis(sample_rate)
    analysis.add(audio)
    return analysis.beat_times_s()


def measure_music_level_db(audio: np.ndarray) -> float | None:
    """RMS level in dBFS of the non-silent parts (1024-sample blocks above -70 dBFS) of a track."""
    audio = as_channels_first(audio)
    blocks = audio.shape[1] // TrackAnalysis.LEVEL_BLOCK
    squares = np.square(audio[:, : blocks * TrackAnalysis.LEVEL_BLOCK], dtype=np.float64)
    return _playing_level_db(squares.reshape(audio.shape[0], blocks, -1).mean(axis=(0, 2)))
