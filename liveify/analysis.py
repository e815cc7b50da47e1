"""Whole-track analysis that stages receive before a track is streamed through them in chunks.

A renderer feeds every block of a track to `TrackAnalysis` first, then hands it to the chain's
`prepare_track`; stages that react to the whole song (the crowd claps along where the pulse is
steady and strong, applauds after the last note and sits under the playing level) read its
`features()`, so chunked output equals one whole call. numpy and scipy only: the render path
never imports librosa or numba (the beat tracker follows librosa's, and tests compare the two).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from liveify.audio import as_channels_first
from liveify.loudness import StepEnergies

#: Music below this (dBFS power) counts as silence.
SILENCE_DB = -70.0
#: The song starts where its level first comes within START_RANGE_DB of its playing level, and
#: its last note has ended where the level stays more than END_RANGE_DB below it.
START_RANGE_DB = 30.0
END_RANGE_DB = 20.0
_ONSET_BANDS = 64
_TOP_DB = 80.0  # onset spectra are clipped this far below their loudest value (power_to_db)
_TIGHTNESS = 100.0  # how strictly the beat tracker keeps to the tempo (librosa's default)
_PULSE_BEATS = 8  # beats either side of a beat over which the pulse is judged


@dataclass(frozen=True)
class TrackFeatures:
    """What a whole track is like, in seconds from its start: the data stages react to.

    `pulse` holds one value per beat in [0, 1]: how steady and strong the beat is around it (1: a
    drum pattern at the track's playing level; 0: a soft or drumless passage). `level_db` is the
    short-term level (dBFS power) of consecutive `level_step_s` steps. `start_s` is where the song
    starts and `end_s` where its last note has ended (see START_RANGE_DB, END_RANGE_DB);
    `last_sound_s` where the audio falls silent (SILENCE_DB) for good: a quiet outro or fade lies
    between the two. All three are None for silence.
    """

    duration_s: float
    tempo_bpm: float
    beat_times_s: np.ndarray
    pulse: np.ndarray
    level_step_s: float
    level_db: np.ndarray
    playing_level_db: float | None
    start_s: float | None
    end_s: float | None
    last_sound_s: float | None


class TrackAnalysis:
    """Beats, pulse, level and the first and last notes of a whole track, fed block by block.

    Beats (after librosa's `onset_strength` and `beat_track`, Ellis 2007): spectral flux of a
    64-band mel spectrogram in dB (~11.6 ms hops, frames computed per block exactly as one centred
    STFT would) -> global tempo from the flux autocorrelation weighted by a log-normal prior around
    120 bpm -> dynamic programming for the beat sequence that best fits flux peaks and tempo.
    Memory: 64 floats per 11.6 ms, plus one level per 1024 samples.

    Onsets need no more than ~6 kHz, so the mono mix is halved in rate by pair averages (a cheap
    low-pass that is enough here) until it is at most 16 kHz.

    >>> from liveify.audio import read_blocks
    >>> analysis = TrackAnalysis(44100)
    >>> for block in read_blocks(path): analysis.add(block)
    >>> features = analysis.features()          # beat_times_s, pulse, level_db, end_s, ...
    """

    #: Samples per level step; steps above SILENCE_DB count as the music playing.
    LEVEL_BLOCK = 1024

    def __init__(self, sample_rate: float):
        self.input_rate = float(sample_rate)
        self.halvings = 0
        while sample_rate / 2**self.halvings > 16000:
            self.halvings += 1
        self._undecimated = np.zeros(0, np.float32)
        self.sample_rate = float(sample_rate) / 2**self.halvings
        self.hop = 1 << round(math.log2(self.sample_rate * 0.0116))  # 512 at 44.1 kHz
        self.n_fft = 4 * self.hop
        self._mel_basis = mel_filters(self.sample_rate, self.n_fft, _ONSET_BANDS)
        self._window = np.hanning(self.n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
        # A centred STFT pads n_fft/2 zeros before the signal; the first block starts with them.
        self._pending = np.zeros(self.n_fft // 2, np.float32)
        self._mel_frames: list[np.ndarray] = []
        self._level_steps = StepEnergies(self.LEVEL_BLOCK)
        self._level_powers: list[np.ndarray] = []
        self._samples = 0
        self._input_samples = 0
        self._any_sound = False
        self._features: TrackFeatures | None = None

    def add(self, audio: np.ndarray) -> None:
        """Analyse the next block, (channels, samples) or mono, at `sample_rate`."""
        audio = as_channels_first(audio)
        channels = audio.shape[0]
        self._input_samples += audio.shape[1]
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
        self._features = None

    def _add_frames(self, mono: np.ndarray) -> None:
        import scipy.fft

        buffered = np.concatenate([self._pending, mono.astype(np.float32)])
        if buffered.size < self.n_fft:
            self._pending = buffered
            return
        frames = 1 + (buffered.size - self.n_fft) // self.hop
        windowed = sliding_window_view(buffered, self.n_fft)[:: self.hop] * self._window
        spectrum = scipy.fft.rfft(windowed, axis=1)
        power = np.square(spectrum.real) + np.square(spectrum.imag)
        self._mel_frames.append(self._mel_basis @ power.T)
        self._pending = buffered[frames * self.hop :]

    def _mel(self) -> np.ndarray:
        """(bands, frames) mel power of everything fed, as one centred STFT would give it."""
        remainder = self._pending
        # The centred STFT's end padding, plus the frames a whole-signal call would produce.
        self._add_frames(np.zeros(self.n_fft // 2, np.float32))
        expected_frames = 1 + self._samples // self.hop
        mel = np.concatenate(self._mel_frames, axis=1)[:, :expected_frames]
        self._pending = remainder
        self._mel_frames = [mel]
        return mel

    def onset_strength(self) -> np.ndarray:
        """Spectral flux per hop (mean rise in dB over the mel bands), librosa's onset_strength."""
        return onset_strength(self._mel(), shift=1 + self.n_fft // (2 * self.hop))

    def beat_times_s(self) -> np.ndarray:
        """Beat times in seconds from the start of what was fed (empty for silence or < 8 hops)."""
        return self.features().beat_times_s

    def music_level_db(self) -> float | None:
        """RMS level in dBFS of the playing parts (1024-sample blocks above -70 dBFS)."""
        return self.features().playing_level_db

    def features(self) -> TrackFeatures:
        """The whole track's `TrackFeatures` (computed once per fed track)."""
        if self._features is None:
            self._features = self._compute_features()
        return self._features

    def _compute_features(self) -> TrackFeatures:
        powers = np.concatenate(self._level_powers) if self._level_powers else np.zeros(0)
        level_db = 10.0 * np.log10(np.maximum(powers, 1e-12))
        step_s = self.LEVEL_BLOCK / self.input_rate
        playing_db = _playing_level_db(powers)
        start_s = end_s = last_sound_s = None
        if playing_db is not None:
            start_s = float(np.argmax(level_db >= playing_db - START_RANGE_DB) * step_s)
            notes = np.flatnonzero(level_db >= playing_db - END_RANGE_DB)
            end_s = float((notes[-1] + 1) * step_s)
            last_sound_s = float((np.flatnonzero(level_db > SILENCE_DB)[-1] + 1) * step_s)
        beats_s, tempo_bpm, pulse = np.zeros(0), 0.0, np.zeros(0)
        if self._samples >= 8 * self.hop and self._any_sound:
            mel = self._mel()
            strength = onset_strength(mel, shift=1 + self.n_fft // (2 * self.hop))
            frame_rate = self.sample_rate / self.hop
            tempo_bpm = estimate_tempo(strength, frame_rate)
            if tempo_bpm > 0:
                beat_frames = track_beat_frames(strength, frame_rate * 60.0 / tempo_bpm)
                beats_s = beat_frames * (self.hop / self.sample_rate)
                pulse = pulse_strength(
                    strength,
                    attack_strength(mel),
                    beat_frames,
                    level_db,
                    step_s,
                    playing_db,
                    hop_s=self.hop / self.sample_rate,
                )
        return TrackFeatures(
            duration_s=self._input_samples / self.input_rate,
            tempo_bpm=tempo_bpm,
            beat_times_s=beats_s,
            pulse=pulse,
            level_step_s=step_s,
            level_db=level_db,
            playing_level_db=playing_db,
            start_s=start_s,
            end_s=end_s,
            last_sound_s=last_sound_s,
        )


# --- the pieces, as pure functions -------------------------------------------------------------


def mel_filters(sample_rate: float, n_fft: int, n_mels: int) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters on the Slaney mel scale, area-normalised (as
    librosa.filters.mel's defaults)."""

    def hz_to_mel(hz):
        hz = np.asarray(hz, dtype=np.float64)
        linear = hz / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / (math.log(6.4) / 27.0)
        return np.where(hz >= 1000.0, log, linear)

    def mel_to_hz(mel):
        linear = mel * (200.0 / 3)
        log = 1000.0 * np.exp((math.log(6.4) / 27.0) * (mel - 15.0))
        return np.where(mel >= 15.0, log, linear)

    edges_hz = mel_to_hz(np.linspace(0.0, hz_to_mel(sample_rate / 2.0), n_mels + 2))
    bins_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    ramps = edges_hz[:, None] - bins_hz[None, :]
    widths = np.diff(edges_hz)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights.astype(np.float32)


def onset_strength(mel_power: np.ndarray, *, shift: int) -> np.ndarray:
    """Spectral flux per frame: the mean rise in dB over the bands (spectra clipped 80 dB below
    their loudest value), moved `shift` frames later (librosa: one for the difference, n_fft /
    (2 hop) against framing)."""
    spectrum_db = 10.0 * np.log10(np.maximum(mel_power, 1e-10))
    np.maximum(spectrum_db, spectrum_db.max(initial=-100.0) - _TOP_DB, out=spectrum_db)
    flux = np.maximum(spectrum_db[:, 1:] - spectrum_db[:, :-1], 0.0).mean(axis=0)
    return np.concatenate([np.zeros(shift), flux])[: mel_power.shape[1]]


def estimate_tempo(strength: np.ndarray, frame_rate: float) -> float:
    """Global tempo in bpm: the onset-strength autocorrelation peak between 40 and 240 bpm,
    weighted by a log-normal prior around 120 bpm (one octave wide); 0 if there is no pulse."""
    centred = strength - strength.mean()
    size = 1 << int(2 * centred.size - 1).bit_length()
    spectrum = np.fft.rfft(centred, size)
    autocorrelation = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, size)[1 : centred.size]
    bpm = 60.0 * frame_rate / np.arange(1, autocorrelation.size + 1)
    usable = (bpm >= 40.0) & (bpm <= 240.0)
    if not np.any(usable) or not np.any(autocorrelation[usable] > 0):
        return 0.0
    prior = np.exp(-0.5 * np.log2(bpm[usable] / 120.0) ** 2)
    return float(bpm[usable][np.argmax(autocorrelation[usable] * prior)])


def track_beat_frames(strength: np.ndarray, period_frames: float) -> np.ndarray:
    """Frames of the beats: Ellis's dynamic programming at a fixed period, as librosa's tracker.

    Each frame's score is its smoothed onset strength plus the best score of a previous beat
    between half and two periods back, less a penalty for straying from the period; the beats
    are the best chain, backtracked from the last strong frame, with weak beats at either end
    trimmed.
    """
    if not np.any(strength):
        return np.zeros(0, dtype=np.int64)
    period = round(period_frames)
    normalised = strength / (strength.std(ddof=1) + np.finfo(np.float64).tiny)
    window = np.exp(-0.5 * (np.arange(-period, period + 1) * 32.0 / period) ** 2)
    local = np.convolve(normalised, window, "same")

    # Frames i..i+nearest-1 only look back to frames before i, so a block of them is vectorised.
    nearest = max(1, round(period / 2))
    lags = np.arange(nearest, 2 * period + 1)
    penalty = -_TIGHTNESS * (np.log(lags) - math.log(period)) ** 2
    count = local.size
    cumulative = np.empty(count)
    backlink = np.full(count, -1, dtype=np.int64)
    offsets = np.arange(nearest)[:, None] - lags[None, :]  # candidates, relative to a block's start
    rows = np.arange(nearest)
    for first in range(0, count, nearest):
        size = min(nearest, count - first)
        previous = offsets[:size] + first
        if first >= lags[-1]:  # every candidate lies in the track
            scores = cumulative[previous]
            scores += penalty
            best = scores.argmax(axis=1)  # the nearest of equal candidates, as librosa
            cumulative[first : first + size] = (
                local[first : first + size] + scores[rows[:size], best]
            )
            backlink[first : first + size] = previous[rows[:size], best]
            continue
        scores = np.where(previous >= 0, cumulative[np.maximum(previous, 0)] + penalty, -np.inf)
        best = scores.argmax(axis=1)
        best_score = scores[rows[:size], best]
        found = np.isfinite(best_score)
        cumulative[first : first + size] = local[first : first + size] + np.where(
            found, best_score, 0.0
        )
        backlink[first : first + size] = np.where(found, previous[rows[:size], best], -1)
    # No beat before the first frame with some strength.
    first_strong = int(np.argmax(local >= 0.01 * local.max()))
    backlink[:first_strong] = -1

    # The last beat: the last local maximum of the cumulative score above half their median.
    padded = np.concatenate([[cumulative[0]], cumulative, [cumulative[-1]]])
    peaks = (cumulative > padded[:-2]) & (cumulative >= padded[2:])
    tail = count - 1
    if np.any(peaks):
        strong = np.flatnonzero(peaks & (cumulative >= 0.5 * np.median(cumulative[peaks])))
        tail = int(strong[-1]) if strong.size else tail
    beats = []
    while tail >= 0:
        beats.append(tail)
        tail = int(backlink[tail])
    beats = np.array(beats[::-1], dtype=np.int64)

    # Trim leading and trailing frames weaker than half the RMS of the smoothed beat strengths.
    smoothed = np.convolve(local[beats], np.hanning(5))[2:]  # librosa's slice of the full one
    threshold = 0.5 * math.sqrt(float(np.mean(smoothed**2)))
    above = np.flatnonzero(local > threshold)
    if above.size == 0:
        return np.zeros(0, dtype=np.int64)
    return beats[(beats >= above[0]) & (beats <= above[-1])]


def attack_strength(mel_power: np.ndarray) -> np.ndarray:
    """Per hop, how much of the sound is attack: the summed rise of the mel magnitudes over their
    sum (a drum hit doubles a frame's level, ~1; legato chords ~0.1; drums 30 dB under a pad stay
    at the pad's figure). Unlike the dB flux, this sees how loud onsets are against the rest."""
    magnitude = np.sqrt(mel_power)
    rise = np.maximum(magnitude[:, 1:] - magnitude[:, :-1], 0.0).sum(axis=0)
    return np.concatenate([[0.0], rise / (magnitude[:, 1:].sum(axis=0) + 1e-9)])


def pulse_strength(
    strength: np.ndarray,
    attack: np.ndarray,
    beat_frames: np.ndarray,
    level_db: np.ndarray,
    level_step_s: float,
    playing_level_db: float | None,
    *,
    hop_s: float,
) -> np.ndarray:
    """How steady and strong the pulse is around each beat, in [0, 1].

    Three things must hold over the beats either side (`_PULSE_BEATS`): onsets repeat at the beat
    period (the flux's normalised autocorrelation at one period), the beats are strong attacks
    (`attack_strength` at the beats: about 0.15 for legato or drumless music, 0.4-0.9 for a drum
    kit), and the passage is not soft (its level within about 12 dB of the playing level).
    """
    if beat_frames.size < 2 or playing_level_db is None:
        return np.zeros(beat_frames.size)
    period = max(1, int(np.median(np.diff(beat_frames))))
    # Attack at each beat: the largest within two hops of it.
    near = np.clip(beat_frames[:, None] + np.arange(-2, 3)[None, :], 0, attack.size - 1)
    on_beat = attack[near].max(axis=1)
    sums = np.concatenate([[0.0], np.cumsum(strength)])
    squares = np.concatenate([[0.0], np.cumsum(strength**2)])
    lagged = np.concatenate([[0.0], np.cumsum(strength[:-period] * strength[period:])])

    beats = beat_frames.size
    index = np.arange(beats)
    first = beat_frames[np.maximum(index - _PULSE_BEATS, 0)]
    last = np.minimum(
        beat_frames[np.minimum(index + _PULSE_BEATS, beats - 1)] + period, strength.size - period
    )
    last = np.maximum(last, first + 1)
    frames = last - first
    mean = (sums[last] - sums[first]) / frames
    variance = (squares[last] - squares[first]) / frames - mean**2
    # Mean over the window of (x[t] - mean)(x[t + period] - mean), from running sums.
    shifted_first = np.minimum(first + period, strength.size)
    shifted_mean = (sums[np.minimum(last + period, strength.size)] - sums[shifted_first]) / frames
    covariance = (lagged[last] - lagged[first]) / frames - mean * shifted_mean
    periodicity = covariance / np.maximum(variance, 1e-12)
    on_sums = np.concatenate([[0.0], np.cumsum(on_beat)])
    lo, hi = np.maximum(index - _PULSE_BEATS, 0), np.minimum(index + _PULSE_BEATS + 1, beats)
    attack_at_beats = (on_sums[hi] - on_sums[lo]) / (hi - lo)

    # The passage's level: mean power over the same window, re the track's playing level.
    powers = 10.0 ** (level_db / 10.0)
    power_sums = np.concatenate([[0.0], np.cumsum(powers)])
    step_first = np.clip((first * hop_s / level_step_s).astype(np.int64), 0, powers.size - 1)
    step_last = np.clip((last * hop_s / level_step_s).astype(np.int64), step_first + 1, powers.size)
    passage_db = 10.0 * np.log10(
        np.maximum(
            (power_sums[step_last] - power_sums[step_first]) / (step_last - step_first), 1e-12
        )
    )
    loud = np.clip((passage_db - playing_level_db + 12.0) / 6.0, 0.0, 1.0)
    steady = np.clip((periodicity - 0.1) / 0.3, 0.0, 1.0)
    strong = np.clip((attack_at_beats - 0.22) / 0.15, 0.0, 1.0)
    return steady * strong * loud


def _playing_level_db(block_powers: np.ndarray) -> float | None:
    playing = block_powers > 10 ** (SILENCE_DB / 10)
    return float(10 * np.log10(block_powers[playing].mean())) if np.any(playing) else None


def analyse(audio: np.ndarray, sample_rate: float) -> TrackFeatures:
    """`TrackFeatures` of a whole track held in memory (see `TrackAnalysis`)."""
    analysis = TrackAnalysis(sample_rate)
    analysis.add(audio)
    return analysis.features()


def track_beats(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Beat times in seconds of a whole track held in memory (see `TrackAnalysis`)."""
    return analyse(audio, sample_rate).beat_times_s


def measure_music_level_db(audio: np.ndarray) -> float | None:
    """RMS level in dBFS of the non-silent parts (1024-sample blocks above -70 dBFS) of a track."""
    audio = as_channels_first(audio)
    blocks = audio.shape[1] // TrackAnalysis.LEVEL_BLOCK
    squares = np.square(audio[:, : blocks * TrackAnalysis.LEVEL_BLOCK], dtype=np.float64)
    return _playing_level_db(squares.reshape(audio.shape[0], blocks, -1).mean(axis=(0, 2)))
