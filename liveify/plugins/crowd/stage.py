"""The Crowd stage: parameters, streaming state, and one block at a time through the crowd's parts."""

from __future__ import annotations

import math
from os import PathLike
from typing import Any

import numpy as np

from liveify.analysis import TrackAnalysis, TrackFeatures, measure_music_level_db, track_beats
from liveify.errors import ParameterError
from liveify.plugins.base import RangeParameter, Stage, parameters_repr
from liveify.plugins.crowd.beds import add_beds
from liveify.plugins.crowd.cues import read_cues
from liveify.plugins.crowd.events import (
    CLAP_ALONG_POWER,
    RENDERED_VOICES_HZ,
    VOICE_MEAN_S,
    WHISTLE_MEAN_S,
    WHISTLE_POWER,
    Block,
    add_applause,
    add_clap_along,
    add_voices,
    add_whistles,
    nearest_people,
)
from liveify.plugins.crowd.follower import (
    DEFAULT_MUSIC_DB,
    MusicFollower,
    Plan,
    event_envelope,
    plan_reactions,
    react,
)
from liveify.plugins.crowd.sources import Bank, make_bank


class Crowd(Stage):
    """Concert crowd: talking, applause, cheers, whistles and clap-along that follow the music.

    The crowd is added to the input (output = music + crowd, same channels), synthesised from
    physical models (no samples): claps with the resonance of each clapper's hands, voices with
    formants and pitch contours, whistles with breath, each person at a distance (air absorption,
    the venue's high-frequency loss), so large crowds are dark and diffuse and small ones have
    audible single claps. It reacts to the whole track's analysis (see `prepare_track`): a cheer
    as the song starts and when it returns after a quiet passage, a clap-along (`clap_along`)
    that joins after a few bars of steady strong pulse and never plays in soft or drumless parts,
    and applause that builds for 0.5-1.5 s after the last note, then dies away to silence within
    `applause_s`. While music plays the crowd stays `margin_db` below its envelope; `level_db`
    sets the crowd at full excitement relative to the music's running level.

    >>> crowd = Crowd(size=20000, intensity=0.8, clap_along=True)
    >>> live = crowd(audio, 44100)                     # the call's audio is the whole track
    >>> cued = Crowd.from_midi("cues.mid", size=500)   # note 60 applause, 62 cheer, 64 whistle

    A call with `reset=True` is the whole track, and the crowd analyses it unless `prepare_track`
    gave it the analysis already. To stream a track in chunks (`reset=False`), give it the whole
    track's analysis first, and chunked calls equal one whole call: `analysis =
    liveify.analysis.TrackAnalysis(rate)`, `analysis.add(chunk)` for every chunk, then
    `crowd.prepare_track(analysis, offset_s=...)`. Without one, the crowd follows the stream as it
    comes (applause when the music stops; no clap-along unless `beat_times_s` is set).
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
    clap_along = RangeParameter(
        False, kind=bool, doc="Clap along where the music has a steady, strong pulse."
    )
    whistle_rate_hz = RangeParameter(0.3, 0.0, 10.0, doc="Whistles per second at full excitement.")
    cheer_rate_hz = RangeParameter(
        3.0, 0.0, 40.0, doc="Cheering voices ('woo!') per second at full excitement."
    )
    spread = RangeParameter(0.8, 0.0, 1.0, doc="Stereo spread: 0 mono crowd, 1 fully wide.")
    swell_s = RangeParameter(
        8.0, 0.0, 60.0, doc="Cheering and applause that fade out over this time after a reset."
    )
    applause_s = RangeParameter(
        6.0,
        0.5,
        60.0,
        doc="Seconds from the last note until the applause has died away to silence.",
    )
    seed = RangeParameter(0, 0, 2**32 - 1, kind=int, doc="Random seed of the crowd.")

    wants_track_analysis = True

    def __init__(
        self,
        *args,
        beat_times_s=None,
        music_level_db: float | None = None,
        cues: str | PathLike | None = None,
        **parameters,
    ):  # `args` and `parameters` are the parameters above (see Stage.__init__)
        self._banks: dict[float, Bank] = {}
        self._cache: dict[tuple, Any] = {}  # arrays and dicts of drawn material
        self._track: tuple[TrackFeatures, float] | None = None
        self._plan: Plan | None = None
        self._people: dict | None = None
        self.music_level_db = music_level_db
        self.beat_times_s = beat_times_s
        self.cue_file = cues
        self._midi_beats_s: np.ndarray | None
        self.cues, self._midi_beats_s = read_cues(cues) if cues is not None else ([], None)
        self._follower = MusicFollower()
        super().__init__(*args, **parameters)

    # --- construction helpers ----------------------------------------------------------------
    @classmethod
    def from_midi(cls, path: str | PathLike, **parameters) -> Crowd:
        """A crowd driven by the cues of a MIDI file (see `CUE_NOTES`), plus its reactions."""
        return cls(cues=path, **parameters)

    track_beats = staticmethod(track_beats)
    measure_music_level_db = staticmethod(measure_music_level_db)

    # --- what the crowd knows about the track ------------------------------------------------
    def prepare_track(self, analysis, *, offset_s: float = 0.0) -> None:
        """React to the whole track: `analysis` is a `liveify.analysis.TrackAnalysis` (or its
        `features()`) of the track that starts `offset_s` into the stream this crowd will hear.
        It holds for every following call until the next `prepare_track` (None forgets it)."""
        if analysis is None:
            self._track = None
        else:
            features = analysis.features() if hasattr(analysis, "features") else analysis
            self._track = (features, float(offset_s))
        self._plan = None

    @property
    def beat_times_s(self) -> np.ndarray | None:
        """Beat times (seconds from the start of the stream) to clap along to on every beat
        while music plays, instead of the analysis's judgement of where the pulse allows it."""
        return self._beat_times_s

    @beat_times_s.setter
    def beat_times_s(self, value) -> None:
        if value is not None:
            value = np.asarray(value, dtype=np.float64).ravel()
            if not np.all(np.isfinite(value)) or np.any(value < 0):
                raise ParameterError("Crowd.beat_times_s must be finite, non-negative seconds")
            value = np.sort(value)
        self._beat_times_s = value

    @property
    def music_level_db(self) -> float | None:
        """RMS level (dBFS) of the music the crowd is placed against before it has heard any
        (the lead-in). None: the analysed track's playing level, else -20 dBFS."""
        return self._music_level_db

    @music_level_db.setter
    def music_level_db(self, value: float | None) -> None:
        if value is not None and not (np.isfinite(value) and -100.0 <= value <= 20.0):
            raise ParameterError(
                f"Crowd.music_level_db = {value!r} must be None or in [-100, 20] dBFS"
            )
        self._music_level_db = None if value is None else float(value)

    def __repr__(self) -> str:
        text = parameters_repr(self)[:-1]
        if self._track is not None:
            text += f" track={self._track[0].duration_s:.1f}s"
        if self._beat_times_s is not None:
            text += f" beats={len(self._beat_times_s)}"
        if self._music_level_db is not None:
            text += f" music_level_db={self._music_level_db:g}"
        if self.cue_file is not None:
            text += f" cues={str(self.cue_file)!r} ({len(self.cues)} events)"
        return text + ">"

    def _parameters_changed(self, name: str) -> None:
        self._cache = {}
        self._plan = None
        if name in ("seed", "size"):
            self._banks = {}
            self._people = None

    # --- streaming state ---------------------------------------------------------------------
    def reset(self) -> None:
        self._position = 0
        self._sample_rate: float | None = None
        self._pending: np.ndarray | None = None
        self._follower.reset()
        self._call_track: TrackFeatures | None = None
        if self._track is None:
            self._plan = None

    def tail_samples(self, sample_rate: float) -> int:
        """Samples of crowd still pending after the input ends (the last sounds placed)."""
        return self._bank(float(sample_rate)).longest_event

    def start_signal(self, audio: np.ndarray, sample_rate: float) -> None:
        """A whole-track call (`reset=True`): unless `prepare_track` gave the track's analysis,
        the crowd reacts to this call's audio, analysed here."""
        if self._track is None:
            analysis = TrackAnalysis(sample_rate)
            analysis.add(audio)
            self._call_track = analysis.features()

    def _bank(self, sample_rate: float) -> Bank:
        if sample_rate not in self._banks:
            self._banks[sample_rate] = make_bank(sample_rate, self.seed, self.size)
        return self._banks[sample_rate]

    def _current_plan(self) -> Plan:
        if self._plan is None:
            if self._track is not None:
                self._plan = plan_reactions(*self._track, seed=self.seed)
            elif self._call_track is not None:
                self._plan = plan_reactions(self._call_track, 0.0, seed=self.seed)
            else:
                self._plan = Plan()
        return self._plan

    def _beats(self, plan: Plan, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
        """Absolute sample positions of the beats and the share of people clapping on each."""
        if self._beat_times_s is not None:
            beats_s, gate = (
                self._beat_times_s,
                np.full(self._beat_times_s.size, float(self.clap_along)),
            )
        elif plan.beat_times_s.size:
            beats_s, gate = plan.beat_times_s, plan.clap_gate * float(self.clap_along)
        elif self._midi_beats_s is not None:
            beats_s, gate = self._midi_beats_s, np.zeros(self._midi_beats_s.size)
        else:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        gate = gate * self.intensity
        for cue in self.cues:
            if cue.kind == "clap_along":
                hold = max(cue.end_s - cue.start_s - 0.1, 0.0)
                gate = np.maximum(
                    gate, cue.intensity * event_envelope(beats_s - cue.start_s, 0.1, hold, 1.0)
                )
        return np.round(beats_s * sample_rate).astype(np.int64), gate

    def _powers(self) -> dict:
        """Power of each kind of sound at full drive, re the crowd's level: applause and the
        cheering (the roar of many voices, single voices, whistles) together make the crowd at
        full excitement, `level_db`; per single voice and whistle as they come."""
        roar = self.size / (self.size + 500.0)  # many voices merge into a roar
        voice = float(np.clip(20.0 / math.sqrt(self.size), 0.05, 0.5))
        whistle = WHISTLE_POWER
        cheer = (
            roar
            + min(self.cheer_rate_hz, RENDERED_VOICES_HZ) * VOICE_MEAN_S * voice
            + self.whistle_rate_hz * WHISTLE_MEAN_S * whistle
        )
        full = 1.0 / (1.0 + cheer)  # applause and cheering, together at level_db
        return {
            "applause": full,
            "cheer": cheer * full,
            "roar": roar * full,
            "voice": voice * full,
            "whistle": whistle * full,
            "clap_along": CLAP_ALONG_POWER,
        }

    # --- synthesis ---------------------------------------------------------------------------
    def process_block(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
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
        plan = self._current_plan()
        start, stop = self._position, self._position + length
        assumed_db = next(
            (db for db in (self._music_level_db, plan.music_level_db) if db is not None),
            DEFAULT_MUSIC_DB,
        )
        control = self._follower.follow(
            audio, start, bank.hop, sample_rate, assumed_db, detect_stops=plan.song_end_s is None
        )
        powers = self._powers()
        reactions = react(self, plan, control, bank.hop / sample_rate, powers=powers)
        out = np.zeros((2, length + bank.longest_event), dtype=np.float32)
        if self._pending is not None:
            out[:, : self._pending.shape[1]] += self._pending
        if self._people is None:
            self._people = nearest_people(self.seed, self.size)
        people = self._people
        block = Block(self, start, stop, sample_rate, bank, people, powers, reactions, out)
        add_beds(block)
        add_applause(block)
        add_clap_along(block, *self._beats(plan, sample_rate))
        add_voices(block)
        add_whistles(block)

        self._pending = out[:, length:].copy()
        self._position = stop
        if audio.shape[0] == 2:
            return np.add(audio, out[:, :length])
        return audio + out[np.arange(audio.shape[0]) % 2, :length]
