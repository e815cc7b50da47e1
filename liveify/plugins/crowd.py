"""Crowd: procedural concert-crowd ambience that reacts to the music, with beat and MIDI cue input.

Everything is synthesised (no samples) on the absolute timeline of the stream, so chunked and whole
processing agree and a seed fixes the crowd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from os import PathLike

import numpy as np

from liveify.analysis import SILENCE_DB as _SILENCE_DB
from liveify.analysis import measure_music_level_db, track_beats
from liveify.errors import ParameterError
from liveify.loudness import StepEnergies
from liveify.plugins.base import (
    RangeParameter,
    Stage,
    as_channels_first,
    check_sample_rate,
    parameters_repr,
)

#: MIDI cue notes: note number -> crowd event. Velocity (1-127) sets the event's intensity, the
#: note's length sets how long applause, cheering or clap-along lasts (a whistle is one whistle).
CUE_NOTES = {60: "applause", 62: "cheer", 64: "whistle", 65: "clap_along"}

_FRAMES_PER_SEGMENT = 64  # random numbers are drawn per segment of 64 hops, keyed by (seed, index)
_DEFAULT_MUSIC_DB = -20.0  # music level assumed before any is heard, if none is known
_N_CENTRES = 41  # formant-bump basis: 200 Hz .. 6.4 kHz in 1/8-octave steps
_CENTRE_STEPS_PER_OCTAVE = 8
_CLAP_TEMPLATES = 32
_GROUP_CLAP_TEMPLATES = 4
_VOICE_MEAN_S = 0.9
_WHISTLE_MEAN_S = 0.75
_WHISTLE_POWER = 0.25  # one whistle, relative to the crowd at full excitement
_CLAP_ALONG_POWER = 0.5
_GROUP_CLAP_OFFSET_S = 0.02  # a group clap's energy centre lies this far after its start


@dataclass(frozen=True)
class Cue:
    """One crowd event from a MIDI cue file: kind (see CUE_NOTES), times in seconds, 0-1 intensity."""

    kind: str
    start_s: float
    end_s: float
    intensity: float


def read_cues(path: str | PathLike) -> tuple[list[Cue], np.ndarray]:
    """Read crowd cues and the beat grid from a MIDI file.

    Notes follow `CUE_NOTES` (60 applause, 62 cheer, 64 whistle, 65 clap-along; others are
    ignored); times honour every tempo change (mido's MidiFile iteration applies set_tempo).
    Returns the cues sorted by start and the file's beat times in seconds (one per quarter note),
    which the crowd claps to when no other beat times are given.
    """
    import mido

    try:
        midi = mido.MidiFile(str(path))
        messages = list(midi)  # merged tracks; .time is seconds since the previous message
    except (OSError, ValueError, EOFError, KeyError, IndexError, TypeError) as error:
        raise ParameterError(
            f"Crowd cues {str(path)!r}: cannot read the MIDI file ({str(error) or type(error).__name__}); "
            "give a Standard MIDI File (.mid)"
        ) from None

    cues: list[Cue] = []
    open_notes: dict[tuple[int, int], tuple[float, float]] = {}
    now_s = 0.0
    for message in messages:
        now_s += message.time
        if message.type not in ("note_on", "note_off"):
            continue
        key = (message.channel, message.note)
        if message.type == "note_on" and message.velocity > 0:
            open_notes[key] = (now_s, message.velocity / 127.0)
        elif key in open_notes:
            start_s, intensity = open_notes.pop(key)
            if message.note in CUE_NOTES:
                cues.append(Cue(CUE_NOTES[message.note], start_s, now_s, intensity))
    for (_, note), (start_s, intensity) in open_notes.items():
        if note in CUE_NOTES:
            cues.append(Cue(CUE_NOTES[note], start_s, now_s, intensity))
    cues.sort(key=lambda cue: (cue.start_s, cue.kind))
    return cues, _midi_beat_times_s(midi, end_s=now_s)


def _midi_beat_times_s(midi, *, end_s: float) -> np.ndarray:
    """Seconds of every quarter note of a MIDI file, through its tempo map."""
    import mido

    changes = [(0, 500_000)]  # (tick, microseconds per beat); MIDI's default is 120 bpm
    tick = 0
    for message in mido.merge_tracks(midi.tracks):
        tick += message.time
        if message.type == "set_tempo":
            changes.append((tick, message.tempo))
    ticks = np.array([t for t, _ in changes], dtype=np.float64)
    tempos = np.array([t for _, t in changes], dtype=np.float64)
    seconds_per_tick = tempos * 1e-6 / midi.ticks_per_beat
    # Seconds at each tempo change, then beats interpolate within their tempo segment.
    change_s = np.concatenate([[0.0], np.cumsum(np.diff(ticks) * seconds_per_tick[:-1])])
    last_tick = ticks[-1] + max(end_s - change_s[-1], 0.0) / seconds_per_tick[-1]
    beat_ticks = np.arange(0.0, last_tick + 1e-9, midi.ticks_per_beat)
    segment = np.searchsorted(ticks, beat_ticks, side="right") - 1
    return change_s[segment] + (beat_ticks - ticks[segment]) * seconds_per_tick[segment]


# --- per-sample-rate sound material ----------------------------------------------------------


def _log_bump(frequencies_hz: np.ndarray, centre_hz: float, width_octaves: float) -> np.ndarray:
    octaves = np.log2(np.maximum(frequencies_hz, 1.0) / centre_hz)
    return np.exp(-0.5 * (octaves / width_octaves) ** 2)


@dataclass
class _Bank:
    """Spectral shapes and clap sounds for one sample rate and seed.

    Noise spectra are built on a log-frequency grid (1/8 octave, 25 Hz-51 kHz), where smooth
    shapes need few points, and interpolated onto the FFT bins by one matrix product.
    """

    hop: int
    frame_length: int
    window: np.ndarray  # sine window: squares of 50 %-overlapping frames sum to one
    # (grid, 2 * bins): each bin's power, linear between its two grid neighbours, once for its
    # real and once for its imaginary part (no DC, no Nyquist)
    grid_to_bin_parts: np.ndarray
    shapes: np.ndarray  # (4, grid) murmur dark/bright, applause wash, roar; unit power each
    bump_kernel: np.ndarray  # a formant (1/8-octave Gaussian) on the grid
    bump_norm: np.ndarray  # (n_centres,) unit-power scale of a formant at each centre
    claps: np.ndarray  # (n, clap_length) single claps, unit energy
    group_claps: np.ndarray  # (n, group_length) a crowd clapping one beat together, unit energy

    @property
    def segment_length(self) -> int:
        return self.hop * _FRAMES_PER_SEGMENT

    def part_amplitudes(self, grid_power: np.ndarray) -> np.ndarray:
        """(frames, grid) power -> (frames, 2 * bins) amplitude of each bin's real and imaginary
        part: the noise spectra are scaled as floats, ~3x faster than a complex-by-real product,
        which casts the amplitudes to complex."""
        amplitude = grid_power.astype(np.float32) @ self.grid_to_bin_parts
        np.maximum(amplitude, 0.0, out=amplitude)
        return np.sqrt(amplitude, out=amplitude)


_MURMUR_DARK, _MURMUR_BRIGHT, _WASH, _ROAR = range(4)
_GRID_BELOW_CENTRES = 24  # grid points below the first formant centre (3 octaves: 25 Hz)
_GRID_POINTS = _GRID_BELOW_CENTRES + 65  # up to 200 Hz * 2**8 = 51.2 kHz
_BUMP_TAPS = 4


def _make_bank(sample_rate: float, seed: int) -> _Bank:
    from scipy import signal

    hop = 1 << round(math.log2(sample_rate * 0.023))  # ~23 ms at any sample rate
    frame_length = 2 * hop
    bins_hz = np.fft.rfftfreq(frame_length, 1.0 / sample_rate)
    position = _CENTRE_STEPS_PER_OCTAVE * np.log2(np.maximum(bins_hz, 1.0) / 200.0)
    position = np.clip(position + _GRID_BELOW_CENTRES, 0.0, _GRID_POINTS - 1.001)
    grid_low = np.floor(position).astype(np.int64)
    grid_fraction = position - grid_low
    grid_to_bins = np.zeros((_GRID_POINTS, bins_hz.size))
    grid_to_bins[grid_low, np.arange(bins_hz.size)] = 1.0 - grid_fraction
    grid_to_bins[grid_low + 1, np.arange(bins_hz.size)] = grid_fraction
    grid_to_bins[:, [0, -1]] = 0.0  # no DC, no Nyquist
    f = 200.0 * 2.0 ** ((np.arange(_GRID_POINTS) - _GRID_BELOW_CENTRES) / _CENTRE_STEPS_PER_OCTAVE)

    def unit_power_scale(grid_power: np.ndarray) -> np.ndarray:
        """1 / variance of noise shaped by these grid spectra (ortho irfft, see _add_frames)."""
        total = 2.0 * (grid_power @ grid_to_bins).sum(axis=1)
        # A shape that lies wholly above Nyquist (whistles at 8 kHz) stays silent, not infinite.
        return np.divide(frame_length, total, out=np.zeros_like(total), where=total > 0)

    high_pass = 1.0 / (1.0 + (120.0 / f) ** 4)
    speech_top = 1.0 / (1.0 + (f / 3500.0) ** 4)
    murmur_dark = (
        high_pass * speech_top * (_log_bump(f, 450, 0.6) + 0.3 * _log_bump(f, 1000, 0.5) + 0.03)
    )
    murmur_bright = (
        high_pass * speech_top * (_log_bump(f, 350, 0.5) + 0.5 * _log_bump(f, 2200, 0.4) + 0.03)
    )
    wash = 1.0 / (1.0 + (700.0 / f) ** 4) / (1.0 + (f / 5000.0) ** 2)
    roar = high_pass * (
        _log_bump(f, 700, 0.3)
        + 0.6 * _log_bump(f, 1150, 0.3)
        + 0.3 * _log_bump(f, 2600, 0.3)
        + 0.05
    )
    shapes = np.stack([murmur_dark, murmur_bright, wash, roar])
    shapes *= unit_power_scale(shapes)[:, None]

    # A formant: a Gaussian of 0.15 octave (1.2 grid steps) around its centre.
    bump_kernel = np.exp(-0.5 * (np.arange(-_BUMP_TAPS, _BUMP_TAPS + 1) / 1.2) ** 2)
    unit_bumps = np.zeros((_N_CENTRES, _GRID_POINTS))
    for centre in range(_N_CENTRES):
        at = _GRID_BELOW_CENTRES + centre
        unit_bumps[centre, at - _BUMP_TAPS : at + _BUMP_TAPS + 1] = bump_kernel
    bump_norm = unit_power_scale(unit_bumps)

    rng = np.random.default_rng([seed, 100])
    clap_length = round(0.010 * sample_rate)
    t = np.arange(clap_length) / sample_rate
    claps = np.empty((_CLAP_TEMPLATES, clap_length))
    for index in range(_CLAP_TEMPLATES):
        # A clap: a noise burst (~0.3 ms attack, 1.5-3 ms decay) through the resonance of the
        # cupped hands, 0.7-2.5 kHz.
        decay_s = rng.uniform(0.0015, 0.003)
        burst = rng.standard_normal(clap_length) * np.exp(-t / decay_s) * (1 - np.exp(-t / 3e-4))
        centre_hz = rng.uniform(700.0, 2500.0)
        sos = signal.butter(
            1,
            [centre_hz / 1.6, min(centre_hz * 1.6, 0.45 * sample_rate)],
            "bandpass",
            fs=sample_rate,
            output="sos",
        )
        clap = signal.sosfilt(sos, burst) + 0.3 * burst
        claps[index] = clap / np.sqrt(np.sum(clap**2))

    group_length = clap_length + round(0.06 * sample_rate)
    group_claps = np.zeros((_GROUP_CLAP_TEMPLATES, group_length))
    for index in range(_GROUP_CLAP_TEMPLATES):
        # Thirty people clapping the same beat, each a little early or late (~8 ms).
        jitter_s = np.clip(rng.normal(_GROUP_CLAP_OFFSET_S, 0.008, 30), 0.0, 0.05)
        for offset_s, which in zip(jitter_s, rng.integers(0, _CLAP_TEMPLATES, 30), strict=True):
            start = round(offset_s * sample_rate)
            group_claps[index, start : start + clap_length] += claps[which] * rng.uniform(0.5, 1.0)
        group_claps[index] /= np.sqrt(np.sum(group_claps[index] ** 2))

    window = np.sin(np.pi * (np.arange(frame_length) + 0.5) / frame_length)
    return _Bank(
        hop=hop,
        frame_length=frame_length,
        window=window.astype(np.float32),
        grid_to_bin_parts=np.repeat(grid_to_bins, 2, axis=1).astype(np.float32),
        shapes=shapes.astype(np.float32),
        bump_kernel=bump_kernel.astype(np.float32),
        bump_norm=bump_norm.astype(np.float32),
        claps=claps.astype(np.float32),
        group_claps=group_claps.astype(np.float32),
    )


def _one_pole(values: np.ndarray, alpha: float, previous: float) -> np.ndarray:
    """y[j] = y[j-1] + alpha * (x[j] - y[j-1]), starting from y[-1] = previous."""
    from scipy.signal import lfilter

    if values.size == 0:
        return values
    out, _ = lfilter([alpha], [1.0, alpha - 1.0], values, zi=[(1.0 - alpha) * previous])
    return out


def _decaying_peak(values: np.ndarray, release: float, previous: float) -> np.ndarray:
    """y[j] = max(x[j], release * y[j-1]): instant attack, exponential release; vectorised in logs."""
    if values.size == 0:
        return values
    log_release = math.log(release)
    steps = np.arange(values.size) * log_release
    with np.errstate(divide="ignore"):
        scaled = np.log(values) - steps
        start = math.log(previous) + log_release if previous > 0 else -np.inf
    running = np.maximum.accumulate(np.maximum(scaled, start))
    return np.exp(running + steps)


def _alpha(time_constant_s: float, hop_s: float) -> float:
    return 1.0 - math.exp(-hop_s / time_constant_s)


# --- the stage -------------------------------------------------------------------------------


class Crowd(Stage):
    """Concert crowd: murmur, applause, cheers, whistles and clap-along, reacting to the music.

    The crowd is added to the input (output = music + crowd, same channels). It follows the music
    with a causal envelope follower: it swells for `swell_s` after a reset (the lead-in), applauds
    and cheers when the music stops after playing (feed silence after a track for the applause),
    cheers at sudden loud moments, and while music plays it stays `margin_db` below the music's
    envelope, so quiet passages stay quiet. `level_db` sets the crowd at full excitement relative
    to the music's running level. Claps along to `beat_times_s` when `clap_along` is on (or a
    clap-along cue is active); MIDI cues (`cues=`, see `CUE_NOTES`) add events at given times.

    >>> crowd = Crowd(size=20000, intensity=0.8, clap_along=True)
    >>> live = crowd(audio, 44100)                     # beats tracked on this call's audio
    >>> cued = Crowd.from_midi("cues.mid", size=500)   # note 60 applause, 62 cheer, 64 whistle

    With `reset=False` the crowd continues the stream. A whole track in one call tracks its own
    beats and level; to stream a track in chunks, analyse it first and pass both, and chunked
    calls equal one whole call: `Crowd(beat_times_s=Crowd.track_beats(track, sample_rate),
    music_level_db=Crowd.measure_music_level_db(track))`.
    """

    size = RangeParameter(
        2000,
        10,
        100_000,
        kind=int,
        doc="Number of people: small crowds are individual claps and voices, large ones a roar.",
    )
    intensity = RangeParameter(
        0.7, 0.0, 1.0, doc="How excitable the crowd is (scales applause, cheers, clap-along)."
    )
    level_db = RangeParameter(
        -12.0, -60.0, 6.0, doc="Crowd at full excitement relative to the music's running level."
    )
    margin_db = RangeParameter(
        12.0,
        0.0,
        40.0,
        doc="While music plays the crowd stays at least this far below the music envelope.",
    )
    murmur_db = RangeParameter(-14.0, -60.0, 0.0, doc="The talking bed, relative to level_db.")
    clap_along = RangeParameter(False, kind=bool, doc="Clap on the beat while the music plays.")
    whistle_rate_hz = RangeParameter(0.3, 0.0, 10.0, doc="Whistles per second at full excitement.")
    cheer_rate_hz = RangeParameter(
        3.0, 0.0, 40.0, doc="Cheering voices ('woo!') per second at full excitement."
    )
    spread = RangeParameter(0.8, 0.0, 1.0, doc="Stereo spread: 0 mono crowd, 1 fully wide.")
    swell_s = RangeParameter(
        8.0, 0.0, 60.0, doc="Cheering and applause that fade out over this time after a reset."
    )
    seed = RangeParameter(0, 0, 2**32 - 1, kind=int, doc="Random seed of the crowd.")

    def __init__(
        self,
        size: int = 2000,
        intensity: float = 0.7,
        level_db: float = -12.0,
        margin_db: float = 12.0,
        murmur_db: float = -14.0,
        clap_along: bool = False,
        whistle_rate_hz: float = 0.3,
        cheer_rate_hz: float = 3.0,
        spread: float = 0.8,
        swell_s: float = 8.0,
        seed: int = 0,
        *,
        beat_times_s=None,
        music_level_db: float | None = None,
        cues: str | PathLike | None = None,
    ):
        self._banks: dict[float, _Bank] = {}
        self.music_level_db = music_level_db
        self._cache: dict[tuple, dict] = {}
        self.size = size
        self.intensity = intensity
        self.level_db = level_db
        self.margin_db = margin_db
        self.murmur_db = murmur_db
        self.clap_along = clap_along
        self.whistle_rate_hz = whistle_rate_hz
        self.cheer_rate_hz = cheer_rate_hz
        self.spread = spread
        self.swell_s = swell_s
        self.seed = seed
        self.beat_times_s = beat_times_s
        self.cue_file = cues
        self.cues, self._midi_beats_s = read_cues(cues) if cues is not None else ([], None)
        self.reset()

    # --- construction helpers ----------------------------------------------------------------
    @classmethod
    def from_midi(cls, path: str | PathLike, **parameters) -> Crowd:
        """A crowd driven by the cues of a MIDI file (see `CUE_NOTES`), plus its reactions."""
        return cls(cues=path, **parameters)

    @classmethod
    def preset(cls, name_or_path: str, *, seed: int = 0, **overrides) -> Crowd:
        """The crowd of a bundled preset (`"stadium"`, `"club"`, ...) or of a preset .toml file."""
        from liveify.presets import load_preset

        return cls(**{**load_preset(name_or_path).crowd, **overrides}, seed=seed)

    track_beats = staticmethod(track_beats)
    measure_music_level_db = staticmethod(measure_music_level_db)

    @property
    def beat_times_s(self) -> np.ndarray | None:
        """Beat times (seconds from the start of the stream) to clap along to, or None."""
        return self._beat_times_s

    @beat_times_s.setter
    def beat_times_s(self, value) -> None:
        if value is not None:
            value = np.asarray(value, dtype=np.float64).ravel()
            if not np.all(np.isfinite(value)) or np.any(value < 0):
                raise ParameterError("Crowd.beat_times_s must be finite, non-negative seconds")
            value = np.sort(value)
        self._beat_times_s = value
        self._beat_positions = None

    def __repr__(self) -> str:
        text = parameters_repr(self)[:-1]
        if self._beat_times_s is not None:
            text += f" beats={len(self._beat_times_s)}"
        if self._music_level_db is not None:
            text += f" music_level_db={self._music_level_db:g}"
        if self.cue_file is not None:
            text += f" cues={str(self.cue_file)!r} ({len(self.cues)} events)"
        return text + ">"

    @property
    def music_level_db(self) -> float | None:
        """RMS level (dBFS) of the music the crowd is placed against before it has heard any.

        The lead-in swell before a track is scaled to it. None: measured on the input of each
        `reset=True` call (the whole track in one call), else -20 dBFS. A renderer that streams a
        track in chunks sets it from the whole track, as it sets `beat_times_s`.
        """
        return self._music_level_db

    @music_level_db.setter
    def music_level_db(self, value: float | None) -> None:
        if value is not None and not (np.isfinite(value) and -100.0 <= value <= 20.0):
            raise ParameterError(
                f"Crowd.music_level_db = {value!r} must be None or in [-100, 20] dBFS"
            )
        self._music_level_db = None if value is None else float(value)

    def _assumed_level_db(self) -> float:
        for level in (self._music_level_db, self._initial_level_db):
            if level is not None:
                return level
        return _DEFAULT_MUSIC_DB

    wants_track_analysis = True

    def prepare_track(self, analysis, *, offset_s: float = 0.0) -> None:
        """Clap along to the whole track's beats and sit under its playing level (see `Stage`)."""
        self.beat_times_s = analysis.beat_times_s() + offset_s
        self.music_level_db = analysis.music_level_db()

    def _parameters_changed(self, name: str) -> None:
        self._cache = {}
        if name == "seed":
            self._banks = {}

    # --- streaming state ---------------------------------------------------------------------
    def reset(self) -> None:
        self._position = 0
        self._sample_rate: float | None = None
        self._pending: np.ndarray | None = None
        self._hop_energies: StepEnergies | None = None
        self._state = dict.fromkeys(
            ("fast", "slow", "played", "activity", "peak", "ref_num", "ref_den"), 0.0
        )
        self._last_control: dict[str, float] | None = None
        self._voices: dict = {}
        self._whistles: dict = {}
        self._tracked_beats_s: np.ndarray | None = None
        self._beat_positions = None
        self._initial_level_db: float | None = None

    def tail_samples(self, sample_rate: float) -> int:
        """Samples of crowd still pending after the input ends (a frame and the last claps)."""
        bank = self._bank(float(sample_rate))
        return max(bank.frame_length, bank.group_claps.shape[1])

    def process(
        self,
        input_array: np.ndarray,
        sample_rate: float,
        buffer_size: int | None = None,
        reset: bool = True,
    ) -> np.ndarray:
        """Add the crowd to `input_array` (float32 `(channels, samples)`).

        With `reset=True` and clapping wanted but no beat times known (neither `beat_times_s`
        nor a cue file's tempo map), the beats of this call's audio are tracked first; without
        `music_level_db`, its level is measured too (for the lead-in).
        """
        audio = as_channels_first(input_array)
        sample_rate = check_sample_rate(sample_rate)
        if reset:
            self.reset()
            clapping = self.clap_along or any(cue.kind == "clap_along" for cue in self.cues)
            if clapping and self._beat_times_s is None and self._midi_beats_s is None:
                self._tracked_beats_s = track_beats(audio, sample_rate)
            if self.music_level_db is None:
                self._initial_level_db = measure_music_level_db(audio)
        return self._process_block(audio, sample_rate)

    def _bank(self, sample_rate: float) -> _Bank:
        if sample_rate not in self._banks:
            self._banks[sample_rate] = _make_bank(sample_rate, self.seed)
        return self._banks[sample_rate]

    def _beats(self, sample_rate: float) -> np.ndarray:
        """Absolute sample positions where a group clap starts (its centre falls on the beat)."""
        if self._beat_positions is None:
            beats_s = next(
                (
                    b
                    for b in (self._beat_times_s, self._midi_beats_s, self._tracked_beats_s)
                    if b is not None
                ),
                np.zeros(0),
            )
            starts = np.round((beats_s - _GROUP_CLAP_OFFSET_S) * sample_rate).astype(np.int64)
            self._beat_positions = starts[starts >= 0]
        return self._beat_positions

    # --- control: the crowd's reaction, one value per hop ----------------------------------------
    def _controls(self, audio: np.ndarray, start: int, bank: _Bank, sample_rate: float) -> dict:
        """Reaction values for frames a//hop .. b//hop (frame k uses the music before k*hop)."""
        hop = bank.hop
        hop_s = hop / sample_rate
        first_block = start // hop
        if self._hop_energies is None:
            self._hop_energies = StepEnergies(hop)
        # Mean power of each hop that ends in this chunk (its start may lie in an earlier one).
        power = self._hop_energies.add(audio) / (audio.shape[0] * hop)

        s = self._state
        fast = _one_pole(power, _alpha(0.1, hop_s), s["fast"])
        slow = _one_pole(power, _alpha(4.0, hop_s), s["slow"])
        fast_db = 10.0 * np.log10(fast + 1e-15)
        slow_db = 10.0 * np.log10(slow + 1e-15)
        present = np.clip((fast_db - _SILENCE_DB) / 10.0, 0.0, 1.0)
        played = _one_pole(present, _alpha(2.0, hop_s), s["played"])
        activity = _decaying_peak(played, 1.0 - _alpha(5.0, hop_s), s["activity"])
        surprise = np.clip((fast_db - slow_db - 4.0) / 6.0, 0.0, 1.0) * present
        peak = _decaying_peak(surprise, 1.0 - _alpha(1.5, hop_s), s["peak"])
        ref_num = _one_pole(fast * present, _alpha(5.0, hop_s), s["ref_num"])
        ref_den = _one_pole(present, _alpha(5.0, hop_s), s["ref_den"])
        if power.size:
            for key, values in (
                ("fast", fast), ("slow", slow), ("played", played), ("activity", activity),
                ("peak", peak), ("ref_num", ref_num), ("ref_den", ref_den),
            ):  # fmt: skip
                s[key] = float(values[-1])
        # The music level to place the crowd against: the average while music played, held
        # through silences (numerator and denominator decay together), a default before any.
        epsilon = 1e-3
        assumed = 10 ** (self._assumed_level_db() / 10)
        reference = (ref_num + epsilon * assumed) / (ref_den + epsilon)

        last = self._last_control or {"fast": 0.0, "present": 0.0, "activity": 0.0, "peak": 0.0,
                                      "reference": assumed}  # fmt: skip
        control = {
            "fast": np.concatenate([[last["fast"]], fast]),
            "present": np.concatenate([[last["present"]], present]),
            "activity": np.concatenate([[last["activity"]], activity]),
            "peak": np.concatenate([[last["peak"]], peak]),
            "reference": np.concatenate([[last["reference"]], reference]),
        }
        self._last_control = {key: float(values[-1]) for key, values in control.items()}
        return self._reactions(control, first_block, hop_s)

    def _reactions(self, control: dict, first_frame: int, hop_s: float) -> dict:
        """Turn music-follower values into applause/cheer/clap drives and the crowd's power."""
        frames = first_frame + np.arange(control["fast"].size)
        times_s = frames * hop_s
        present = control["present"]
        after_stop = control["activity"] * (1.0 - present)
        if self.swell_s > 0:
            swell = (1.0 - np.exp(-times_s / 0.5)) * np.clip(1.0 - times_s / self.swell_s, 0.0, 1.0)
        else:
            swell = np.zeros_like(times_s)
        cue = {kind: np.zeros_like(times_s) for kind in ("applause", "cheer", "clap_along")}
        for event in self.cues:
            if event.kind in cue:
                ramp = np.clip((times_s - event.start_s) / 0.1, 0.0, 1.0)
                fade = np.clip(1.0 - (times_s - event.end_s) / 1.0, 0.0, 1.0)
                cue[event.kind] = np.maximum(cue[event.kind], event.intensity * ramp * fade)

        applause = self.intensity * np.clip(after_stop + swell + cue["applause"], 0.0, 1.0)
        cheer = self.intensity * np.clip(
            control["peak"] + 0.7 * after_stop + swell + cue["cheer"], 0.0, 1.0
        )
        clap_gate = np.maximum(float(self.clap_along) * self.intensity, cue["clap_along"]) * present

        roar_share = self.size / (self.size + 500.0)
        voice_power = float(np.clip(20.0 / math.sqrt(self.size), 0.05, 0.5))
        murmur = 10 ** (self.murmur_db / 10) * (1.0 + 0.5 * (1.0 - present))
        cheer_voices = self.cheer_rate_hz * _VOICE_MEAN_S * voice_power * 0.75
        whistles = self.whistle_rate_hz * _WHISTLE_MEAN_S * _WHISTLE_POWER
        expected = (
            murmur
            + applause
            + cheer * (roar_share + cheer_voices + whistles)
            + _CLAP_ALONG_POWER * clap_gate
        )
        level = control["reference"] * 10 ** (self.level_db / 10)
        # While music plays, cap the crowd margin_db below the music envelope; the cap fades out
        # as the music does, so applause after a song can rise to its full level.
        allowed = control["fast"] * 10 ** (-self.margin_db / 10)
        with np.errstate(divide="ignore"):
            cap_db = np.minimum(
                0.0, 10 * np.log10(allowed + 1e-30) - 10 * np.log10(level * expected)
            )
        duck = 10 ** (present * cap_db / 10)
        return {
            "first_frame": first_frame,
            "times_s": times_s,
            "scale": level * duck,
            "level": level,
            "murmur": murmur,
            "applause": applause,
            "cheer": cheer,
            "clap_gate": clap_gate,
            "roar_share": roar_share,
            "voice_power": voice_power,
        }

    # --- random material, keyed by (seed, stream, segment) -------------------------------------
    def _segment(self, stream: int, index: int, bank: _Bank, sample_rate: float) -> dict:
        key = (stream, index, sample_rate)
        if key not in self._cache:
            if len(self._cache) > 24:
                self._cache.pop(next(iter(self._cache)))
            rng = np.random.default_rng([self.seed, stream, index])
            length = bank.segment_length
            offset = index * length
            if stream == 1:  # frame noise: uniform real/imaginary parts, unit mean power
                bins = bank.frame_length // 2 + 1
                # Random bytes as 8-bit integers are plenty for noise and ~4x cheaper than floats
                # (the generator's raw 64-bit words, 8 bytes each); k + 0.5 is symmetric around 0
                # with variance (256^2 - 1) / 12, scaled to 1/2 per part.
                shape = (_FRAMES_PER_SEGMENT, 2, bins, 2)
                words = rng.bit_generator.random_raw(math.prod(shape) // 8)
                levels = words.view(np.int8).reshape(shape)
                parts = levels.astype(np.float32)
                parts += np.float32(0.5)
                parts *= np.float32(math.sqrt(0.5 * 12.0 / (256**2 - 1)))
                noise = parts.view(np.complex64)[..., 0]  # (real, imaginary) pairs
                rho = 1.0 - self.spread
                if rho > 0.0:  # stereo spread: right = rho * left + sqrt(1 - rho^2) * independent
                    noise[:, 1] *= np.float32(math.sqrt(1.0 - rho**2))
                    noise[:, 1] += np.float32(rho) * noise[:, 0]
                self._cache[key] = {"noise": noise}
            elif stream == 2:  # claps
                rate = min(4.0 * self.size, 300.0)
                count = rng.poisson(rate * length / sample_rate)
                self._cache[key] = {
                    "position": offset + np.sort(rng.integers(0, length, count)),
                    "template": rng.integers(0, _CLAP_TEMPLATES, count),
                    "gain": np.exp(0.5 * rng.standard_normal(count) - 0.25),
                    "pan": rng.uniform(-1.0, 1.0, count),
                    "chance": rng.random(count),
                    "rate": np.full(count, rate),
                }
            elif stream == 3:  # cheering voices
                count = rng.poisson(self.cheer_rate_hz * length / sample_rate)
                self._cache[key] = {
                    "position": offset + np.sort(rng.integers(0, length, count)),
                    "duration_s": rng.uniform(0.4, 1.4, count),
                    "first_formant": rng.uniform(8.0, 18.0, count),  # bump index: ~400-950 Hz
                    "vowel_steps": rng.uniform(5.0, 12.0, count),  # F2 above F1, in bump steps
                    "glide_steps": rng.uniform(2.0, 7.0, count),  # the 'woo' sweep
                    "gain": np.exp(0.5 * rng.standard_normal(count) - 0.25),
                    "chance": rng.random(count),
                }
            else:  # whistles
                count = rng.poisson(self.whistle_rate_hz * length / sample_rate)
                self._cache[key] = _whistle_events(
                    rng, count, offset + np.sort(rng.integers(0, length, count))
                )
        return self._cache[key]

    def _candidates(
        self, stream: int, start: int, stop: int, bank: _Bank, sample_rate: float
    ) -> dict:
        """Candidate events of `stream` starting in [start, stop), from every segment involved."""
        length = bank.segment_length
        parts = [
            self._segment(stream, index, bank, sample_rate)
            for index in range(start // length, (stop - 1) // length + 1)
        ]
        merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
        inside = (merged["position"] >= start) & (merged["position"] < stop)
        return {key: values[inside] for key, values in merged.items()}

    # --- synthesis -----------------------------------------------------------------------------
    def _process_block(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        if self._sample_rate not in (None, sample_rate):
            raise ParameterError(
                f"Crowd got sample_rate {sample_rate:g} Hz while continuing a "
                f"{self._sample_rate:g} Hz signal; call it with reset=True to start a new signal"
            )
        self._sample_rate = sample_rate
        length = audio.shape[1]
        if length == 0:
            return audio.copy()
        bank = self._bank(sample_rate)
        start, stop = self._position, self._position + length
        reactions = self._controls(audio, start, bank, sample_rate)
        pad = max(bank.frame_length, bank.group_claps.shape[1])
        crowd = np.zeros((2, length + pad), dtype=np.float32)
        if self._pending is not None:
            crowd[:, :pad] += self._pending

        self._add_voices(start, stop, reactions, bank, sample_rate)
        self._add_frames(crowd, start, stop, reactions, bank)
        self._add_claps(crowd, start, stop, reactions, bank, sample_rate)
        self._add_whistles(crowd, start, stop, reactions, bank, sample_rate)
        self._add_clap_along(crowd, start, stop, reactions, bank, sample_rate)

        self._pending = crowd[:, length:].copy()
        self._position = stop
        if audio.shape[0] == 2:
            return np.add(audio, crowd[:, :length])
        return audio + crowd[np.arange(audio.shape[0]) % 2, :length]

    def _frame_of(self, positions: np.ndarray, reactions: dict, hop: int) -> np.ndarray:
        """Index into the reaction arrays of the frame containing each absolute sample position."""
        return positions // hop - reactions["first_frame"]

    def _add_frames(self, crowd, start: int, stop: int, reactions: dict, bank: _Bank) -> None:
        """Noise beds (murmur, applause wash, roar, cheering voices) synthesised frame by frame."""
        import scipy.fft

        hop = bank.hop
        frames = np.arange(-(-start // hop), -(-stop // hop))
        if frames.size == 0:
            return
        at = frames - reactions["first_frame"]
        times_s = reactions["times_s"][at]
        scale = reactions["scale"][at]
        dense = np.zeros((frames.size, 4))
        # Babble: a few syllable-rate modulations; more people, smoother bed.
        rates_hz, phases = self._babble()
        wobble = np.sin(2 * np.pi * rates_hz[None, :] * times_s[:, None] + phases[None, :]).mean(
            axis=1
        )
        tone = np.sin(2 * np.pi * 0.37 * times_s + phases[0])
        depth = float(np.clip(1.5 / math.sqrt(self.size / 10.0), 0.1, 0.6))
        swing = np.maximum(1.0 + depth * wobble * math.sqrt(len(rates_hz)), 0.1)
        murmur = reactions["murmur"][at] * swing
        dense[:, _MURMUR_DARK] = murmur * (0.5 + 0.5 * tone)
        dense[:, _MURMUR_BRIGHT] = murmur * (0.5 - 0.5 * tone)
        individual = float(np.clip(200.0 / self.size, 0.1, 1.0))
        dense[:, _WASH] = reactions["applause"][at] * (1.0 - individual)
        dense[:, _ROAR] = reactions["cheer"][at] * reactions["roar_share"]
        grid = np.einsum("fk,kg->fg", dense * scale[:, None], bank.shapes)
        formants = self._voice_weights(frames, times_s)
        if formants is not None:
            # Each voice's formants: weights at their centres, spread by the formant kernel.
            formants *= (scale[:, None] * bank.bump_norm).astype(np.float64)
            for tap, height in enumerate(bank.bump_kernel):
                at_grid = _GRID_BELOW_CENTRES - _BUMP_TAPS + tap
                grid[:, at_grid : at_grid + _N_CENTRES] += height * formants
        amplitude_pairs = bank.part_amplitudes(grid)

        # Work one noise segment (<= 64 frames) at a time: arrays stay in cache.
        per_segment = _FRAMES_PER_SEGMENT
        scaled = np.empty((per_segment, 2, amplitude_pairs.shape[1]), np.float32)
        first = 0
        while first < frames.size:
            row = int(frames[first] % per_segment)
            last = min(frames.size, first + per_segment - row)
            count = last - first
            segment = self._segment(1, int(frames[first] // per_segment), bank, self._sample_rate)
            noise = segment["noise"][row : row + count].view(np.float32)
            np.multiply(noise, amplitude_pairs[first:last, None, :], out=scaled[:count])
            spectra = scaled[:count].view(np.complex64)
            signal = scipy.fft.irfft(spectra, bank.frame_length, axis=2, norm="ortho")
            signal *= bank.window
            # Overlap-add: frame k starts at k*hop, so halves of consecutive frames overlap.
            offset = int(frames[first] * hop - start)
            target = crowd[:, offset : offset + (count + 1) * hop].reshape(2, count + 1, hop)
            target[:, :count] += signal[:, :, :hop].transpose(1, 0, 2)
            target[:, 1:] += signal[:, :, hop:].transpose(1, 0, 2)
            first = last

    def _babble(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, 6])
        return rng.uniform(2.0, 6.0, 5), rng.uniform(0.0, 2 * np.pi, 5)

    def _add_voices(
        self, start: int, stop: int, reactions: dict, bank: _Bank, sample_rate: float
    ) -> None:
        """Accept the cheering voices that start in this chunk (more when the crowd is excited)."""
        candidates = self._candidates(3, start, stop, bank, sample_rate)
        at = self._frame_of(candidates["position"], reactions, bank.hop)
        keep = candidates["chance"] < reactions["cheer"][at]
        accepted = {key: values[keep] for key, values in candidates.items()}
        accepted["start_s"] = accepted["position"] / sample_rate
        accepted["power"] = accepted["gain"] ** 2 * reactions["voice_power"]
        self._voices = _concat_events(self._voices, accepted)

    def _voice_weights(self, frames: np.ndarray, times_s: np.ndarray) -> np.ndarray | None:
        """(frames, centres) formant weights of the cheering voices active in these frames."""
        voices = self._voices
        if not voices or voices["position"].size == 0:
            return None
        elapsed = times_s[None, :] - voices["start_s"][:, None]
        progress = elapsed / voices["duration_s"][:, None]
        voice, frame = np.nonzero((progress >= 0.0) & (progress < 1.0))
        # Voices that end before this chunk's last frame are not needed again.
        ongoing = voices["start_s"] + voices["duration_s"] > times_s[-1]
        self._voices = {key: values[ongoing] for key, values in voices.items()}
        if voice.size == 0:
            return None
        x = progress[voice, frame]
        envelope = np.sin(np.pi * x) ** 2
        # Pitch-glide sweep: formants rise over the first 60 % and sag a little at the end.
        sweep = np.minimum(x / 0.6, 1.0) - 0.3 * np.maximum(x - 0.6, 0.0) / 0.4
        first = voices["first_formant"][voice] + voices["glide_steps"][voice] * sweep
        second = first + voices["vowel_steps"][voice]
        power = voices["power"][voice] * envelope
        weights = np.zeros(frames.size * _N_CENTRES)
        for centre, share in ((first, 1.0), (second, 0.5)):
            column = np.clip(np.round(centre), 0, _N_CENTRES - 1).astype(np.int64)
            weights += np.bincount(
                frame * _N_CENTRES + column, weights=share * power, minlength=weights.size
            )
        return weights.reshape(frames.size, _N_CENTRES)

    def _add_claps(self, crowd, start, stop, reactions, bank: _Bank, sample_rate: float) -> None:
        """Individual claps of the nearest people, as many as the applause drive allows."""
        candidates = self._candidates(2, start, stop, bank, sample_rate)
        at = self._frame_of(candidates["position"], reactions, bank.hop)
        keep = candidates["chance"] < reactions["applause"][at]
        if not np.any(keep):
            return
        individual = float(np.clip(200.0 / self.size, 0.1, 1.0))
        # Unit-energy claps at `rate` per second make power rate/sr per unit gain^2.
        power = individual * reactions["scale"][at[keep]] * sample_rate / candidates["rate"][keep]
        gain = candidates["gain"][keep] * np.sqrt(power)
        _place(
            crowd,
            bank.claps[candidates["template"][keep]],
            candidates["position"][keep] - start,
            gain,
            candidates["pan"][keep] * self.spread,
        )

    def _add_whistles(self, crowd, start, stop, reactions, bank: _Bank, sample_rate: float) -> None:
        """Whistles: sine glides with vibrato, rendered analytically over this chunk."""
        candidates = self._candidates(4, start, stop, bank, sample_rate)
        at = self._frame_of(candidates["position"], reactions, bank.hop)
        keep = candidates["chance"] < reactions["cheer"][at]
        new = {key: values[keep] for key, values in candidates.items()}
        new["amplitude"] = new["gain"] * np.sqrt(2 * _WHISTLE_POWER * reactions["scale"][at[keep]])
        cued = self._cued_whistles(sample_rate)
        inside = (cued["position"] >= start) & (cued["position"] < stop)
        if np.any(inside):
            cued = {key: values[inside] for key, values in cued.items()}
            at = self._frame_of(cued["position"], reactions, bank.hop)
            # A cued whistle is asked for: it uses the crowd's level, not the cap under the music.
            level = reactions["level"][at]
            cued["amplitude"] = (
                cued["intensity"] * cued["gain"] * np.sqrt(2 * _WHISTLE_POWER * level)
            )
            del cued["intensity"]
            new = _concat_events(new, cued)
        whistles = self._whistles = _concat_events(self._whistles, new)
        if not whistles or whistles["position"].size == 0:
            return
        ends = whistles["position"] + np.round(whistles["duration_s"] * sample_rate).astype(
            np.int64
        )
        left, right = _pan_gains(whistles["pan"] * self.spread)
        for index in np.flatnonzero((ends > start) & (whistles["position"] < stop)):
            begin = max(int(whistles["position"][index]), start)
            end = min(int(ends[index]), stop)
            tau = (np.arange(begin, end) - whistles["position"][index]) / sample_rate
            duration = whistles["duration_s"][index]
            rate = whistles["vibrato_hz"][index]
            depth = whistles["vibrato_depth_hz"][index]
            # Phase is the integral of f0 + glide * t / T + depth * sin(2 pi rate t): exact at any
            # t, so a whistle split across chunks continues seamlessly.
            phase = 2 * np.pi * tau * (
                whistles["f0_hz"][index] + whistles["glide_hz"][index] * tau / (2 * duration)
            ) - (depth / rate) * (np.cos(2 * np.pi * rate * tau) - 1.0)
            envelope = np.clip(np.minimum(tau / 0.03, (duration - tau) / 0.08), 0.0, 1.0)
            wave = (whistles["amplitude"][index] * envelope * np.sin(phase)).astype(np.float32)
            crowd[0, begin - start : end - start] += np.float32(left[index]) * wave
            crowd[1, begin - start : end - start] += np.float32(right[index]) * wave
        ongoing = ends > stop
        self._whistles = {key: values[ongoing] for key, values in whistles.items()}

    def _cued_whistles(self, sample_rate: float) -> dict:
        """One whistle per whistle cue, each with its own seeded shape."""
        cues = [cue for cue in self.cues if cue.kind == "whistle"]
        events = [
            _whistle_events(
                np.random.default_rng([self.seed, 7, index]),
                1,
                np.array([round(cue.start_s * sample_rate)]),
            )
            | {"intensity": np.array([cue.intensity])}
            for index, cue in enumerate(cues)
        ]
        if not events:
            return {"position": np.zeros(0, dtype=np.int64)}
        return {key: np.concatenate([e[key] for e in events]) for key in events[0]}

    def _add_clap_along(
        self, crowd, start, stop, reactions, bank: _Bank, sample_rate: float
    ) -> None:
        """The whole crowd clapping on the beat while the music plays."""
        beats = self._beats(sample_rate)
        lo, hi = np.searchsorted(beats, [start, stop])
        if hi <= lo:
            return
        positions = beats[lo:hi]
        at = self._frame_of(positions, reactions, bank.hop)
        gate = reactions["clap_gate"][at]
        if not np.any(gate > 0):
            return
        intervals = np.diff(beats)
        beat_rate_hz = sample_rate / float(np.median(intervals)) if intervals.size else 2.0
        power = _CLAP_ALONG_POWER * gate * reactions["scale"][at] * sample_rate / beat_rate_hz
        templates = bank.group_claps[(np.arange(lo, hi) * 7 + self.seed) % _GROUP_CLAP_TEMPLATES]
        _place(crowd, templates, positions - start, np.sqrt(power), np.zeros(positions.size))


def _concat_events(events: dict, new: dict) -> dict:
    """Concatenate two struct-of-arrays event sets with the same keys (either may be empty)."""
    if not events or events["position"].size == 0:
        return new
    if not new or new["position"].size == 0:
        return events
    return {key: np.concatenate([events[key], new[key]]) for key in events}


def _whistle_events(rng: np.random.Generator, count: int, positions: np.ndarray) -> dict:
    return {
        "position": np.asarray(positions, dtype=np.int64),
        "duration_s": rng.uniform(0.3, 1.2, count),
        "f0_hz": rng.uniform(1500.0, 3000.0, count),
        "glide_hz": rng.uniform(-300.0, 1200.0, count),
        "vibrato_hz": rng.uniform(4.5, 7.0, count),
        "vibrato_depth_hz": rng.uniform(10.0, 60.0, count),
        "gain": np.exp(0.4 * rng.standard_normal(count) - 0.16),
        "pan": rng.uniform(-1.0, 1.0, count),
        "chance": rng.random(count),
    }


def _pan_gains(pan: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equal-power pan (-1 left .. 1 right) scaled so a centred source has unit gain per channel."""
    angle = (pan + 1.0) * (np.pi / 4.0)
    return math.sqrt(2.0) * np.cos(angle), math.sqrt(2.0) * np.sin(angle)


def _place(crowd: np.ndarray, templates: np.ndarray, offsets: np.ndarray, gains, pans) -> None:
    """Add `templates[i] * gains[i]` at `offsets[i]` (samples into `crowd`), panned.

    Many short events (claps) are summed by one bincount per ~1.5 s, which keeps its buffers small;
    few long ones (a crowd's clap on each beat) are cheaper added one by one.
    """
    count, template_length = templates.shape
    if count == 0:
        return
    offsets = np.asarray(offsets, dtype=np.int64)
    left, right = _pan_gains(np.asarray(pans, dtype=np.float64))
    shaped = templates * np.asarray(gains, dtype=np.float32)[:, None]
    if template_length >= 1024:
        for event, offset in enumerate(offsets):
            end = min(offset + template_length, crowd.shape[1])
            crowd[0, offset:end] += np.float32(left[event]) * shaped[event, : end - offset]
            crowd[1, offset:end] += np.float32(right[event]) * shaped[event, : end - offset]
        return
    window = 1 << 16
    span = window + template_length
    ramp = np.arange(template_length)
    for begin in range(int(offsets.min()), int(offsets.max()) + 1, window):
        chosen = (offsets >= begin) & (offsets < begin + window)
        if not np.any(chosen):
            continue
        index = ((offsets[chosen] - begin)[:, None] + ramp).ravel()
        part = shaped[chosen]
        both = np.bincount(
            np.concatenate([index, index + span]),
            weights=np.concatenate(
                [(part * left[chosen, None]).ravel(), (part * right[chosen, None]).ravel()]
            ),
            minlength=2 * span,
        )
        end = min(begin + span, crowd.shape[1])
        crowd[:, begin:end] += both.reshape(2, span)[:, : end - begin]
