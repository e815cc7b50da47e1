"""The music follower: what the crowd does, moment by moment, given the music it hears.

Two sources feed it. The whole track's analysis (`liveify.analysis.TrackFeatures`) gives a `Plan`:
a cheer when the song starts and when it returns after a quiet passage, a clap-along that joins
after a few bars of steady strong pulse and drops out when the pulse weakens (or the crowd tires),
and the applause after the last note, bigger after a big ending. A causal envelope follower of the
audio itself keeps the crowd under the music (never within `margin_db` of its envelope), follows
its running level, and, for streams without an analysis, starts applause when the music stops.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from liveify.analysis import END_RANGE_DB, SILENCE_DB, TrackFeatures
from liveify.dsp import one_pole_lowpass
from liveify.loudness import StepEnergies

DEFAULT_MUSIC_DB = -20.0  # music level assumed before any is heard, if none is known
JOIN_BEATS = 16  # four bars of steady strong pulse before the crowd claps along
RAMP_BEATS = 8  # people join over two bars
LEAVE_BEATS = 4  # a bar of weak pulse and they stop
STRONG_PULSE, WEAK_PULSE = 0.6, 0.3
HALF_TIME_BEAT_S = 0.43  # beats faster than 140 bpm: the crowd claps every other one
APPLAUSE_DELAY_S = 0.15  # the first hands after the last note
STOP_SILENCE_S = 0.25  # without an analysis: this long END_RANGE_DB under its level is the end
STOP_PLAYED_S = 3.0


@dataclass(frozen=True)
class Plan:
    """One track's reactions on the stream's timeline (seconds): see the module docstring."""

    song_end_s: float | None = None
    sound_end_s: float | None = None  # the recording falls silent (after a quiet outro)
    ending: float = 1.0  # how big the ending is, 0.3 (fade-out) .. 1 (a loud final hit)
    cheers: tuple[tuple[float, float], ...] = ()  # (time_s, strength)
    beat_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    clap_gate: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per beat, 0..1
    music_level_db: float | None = None


def plan_reactions(features: TrackFeatures, offset_s: float, *, seed: int) -> Plan:
    """The crowd's plan for a track whose analysis is `features`, starting `offset_s` into the
    stream."""
    playing_db, start_s = features.playing_level_db, features.start_s
    end_s, last_sound_s = features.end_s, features.last_sound_s
    if playing_db is None or start_s is None or end_s is None or last_sound_s is None:
        return Plan()  # silence: all four are None
    powers = 10.0 ** (features.level_db / 10.0)
    step_s = features.level_step_s
    cheers = [(offset_s + start_s, 0.8)]
    cheers += [(offset_s + t, 0.6) for t in _returns_after_quiet_s(powers, step_s, playing_db)]
    last = slice(max(0, int((end_s - 3.0) / step_s)), max(1, int(end_s / step_s)))
    ending_db = 10.0 * math.log10(max(float(powers[last].mean()), 1e-12))
    ending = float(np.clip((ending_db - playing_db + 9.0) / 9.0, 0.3, 1.0))
    return Plan(
        song_end_s=offset_s + end_s,
        sound_end_s=offset_s + last_sound_s,
        ending=ending,
        cheers=tuple(cheers),
        beat_times_s=features.beat_times_s + offset_s,
        clap_gate=clap_along_gate(features.pulse, features.beat_times_s, seed=seed),
        music_level_db=features.playing_level_db,
    )


def _returns_after_quiet_s(powers: np.ndarray, step_s: float, playing_db: float) -> list[float]:
    """Times the music comes back (within 4 dB of its playing level, within 2 s) after at least
    4 s more than 10 dB below it."""
    width = max(1, round(1.0 / step_s))
    level_db = 10.0 * np.log10(
        np.maximum(np.convolve(powers, np.ones(width) / width, "same"), 1e-12)
    )
    quiet = np.concatenate([[0], (level_db < playing_db - 10.0).astype(np.int8), [0]])
    loud = level_db > playing_db - 4.0
    returns = []
    for begin, end in zip(
        np.flatnonzero(np.diff(quiet) == 1), np.flatnonzero(np.diff(quiet) == -1), strict=True
    ):
        back = np.flatnonzero(loud[end : end + round(2.0 / step_s)])
        if (end - begin) * step_s >= 4.0 and back.size:
            returns.append(float((end + back[0]) * step_s))
    return returns


def clap_along_gate(pulse: np.ndarray, beat_times_s: np.ndarray, *, seed: int) -> np.ndarray:
    """Share of the crowd clapping along on each beat, 0..1.

    The crowd joins after JOIN_BEATS beats of steady strong pulse, people joining over two bars;
    it stops after a bar of weak pulse, and after a while (32-96 beats) it tires and rests (16-48
    beats) before it may join again. On beats faster than 140 bpm it claps every other beat.
    """
    rng = np.random.default_rng([seed, 11])
    gate = np.zeros(pulse.size)
    half_time = beat_times_s.size > 1 and np.median(np.diff(beat_times_s)) < HALF_TIME_BEAT_S
    steady = weak = 0
    clapping_since = resting_until = -1
    stamina = 0
    for beat, strength in enumerate(pulse):
        steady = steady + 1 if strength >= STRONG_PULSE else 0
        weak = weak + 1 if strength < WEAK_PULSE else 0
        if clapping_since < 0:
            if steady >= JOIN_BEATS and beat >= resting_until:
                clapping_since, stamina = beat, int(rng.integers(32, 97))
            continue
        clapped = beat - clapping_since
        if weak >= LEAVE_BEATS or clapped >= stamina:
            clapping_since, steady = -1, 0
            resting_until = beat + int(rng.integers(16, 49)) if clapped >= stamina else beat
            continue
        if half_time and clapped % 2:
            continue
        gate[beat] = min(1.0, (clapped + 1) / RAMP_BEATS)
    return gate


def applause_timing(
    applause_s: float, rise_s: float, end_s: float, sound_end_s: float | None
) -> tuple[float, float, float]:
    """Rise, hold and decay (s) of the applause after a last note at `end_s`: within
    `applause_s` of it, except that through a quiet outro (until `sound_end_s`, where the
    recording falls silent) the applause holds, and dies away after it."""
    rise_s = min(rise_s, 0.35 * applause_s)  # a short applause rises quicker
    decay_s = 0.65 * (applause_s - APPLAUSE_DELAY_S - rise_s)
    hold_s = applause_s - APPLAUSE_DELAY_S - rise_s - decay_s
    if sound_end_s is not None:
        hold_s = max(hold_s, sound_end_s - end_s - APPLAUSE_DELAY_S - rise_s)
    return rise_s, hold_s, decay_s


def event_envelope(
    elapsed_s: np.ndarray, rise_s: float, hold_s: float, decay_s: float
) -> np.ndarray:
    """0 before the event, a smooth rise over `rise_s`, a hold, then a fall that loses 25 dB
    over `decay_s` and reaches exactly 0 at its end (the last people stop)."""
    rise = np.clip(elapsed_s / rise_s, 0.0, 1.0)
    rising = rise * rise * (3.0 - 2.0 * rise)
    fall = np.clip((elapsed_s - rise_s - hold_s) / decay_s, 0.0, 1.0)
    floor = 10.0**-2.5
    falling = (10.0 ** (-2.5 * fall) - floor) / (1.0 - floor)
    return np.where(elapsed_s > 0.0, rising * falling, 0.0)


@dataclass
class Control:
    """What the causal follower heard, per hop frame (frame k uses the music before k * hop)."""

    first_frame: int
    fast: np.ndarray  # power, 100 ms envelope
    present: np.ndarray  # 0..1, music playing
    reference: np.ndarray  # the music's running playing level (power)
    released: np.ndarray  # 1 from a detected stop until the music plays again, else 0
    stops_s: list[float]  # times music stopped after playing (no analysis only)


class MusicFollower:
    """Causal envelope follower of the music a crowd hears, continued across chunks."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self._steps: StepEnergies | None = None
        self._state = dict.fromkeys(("fast", "present", "ref_num", "ref_den", "released"), 0.0)
        self._played_s = self._silent_s = 0.0
        self._released = False
        self.stops_s: list[float] = []

    def follow(
        self,
        audio: np.ndarray,
        start: int,
        hop: int,
        sample_rate: float,
        assumed_level_db: float,
        *,
        detect_stops: bool,
    ) -> Control:
        """Envelope values for frames start//hop .. (start+len)//hop of the stream."""
        hop_s = hop / sample_rate
        if self._steps is None:
            self._steps = StepEnergies(hop)
        power = self._steps.add(audio) / (audio.shape[0] * hop)
        s = self._state

        def one_pole(values, time_constant_s, key):
            if values.size == 0:
                return values
            pole = math.exp(-hop_s / time_constant_s)
            return one_pole_lowpass(values, pole=pole, previous_output=s[key])

        fast = one_pole(power, 0.1, "fast")
        present = np.clip((10.0 * np.log10(fast + 1e-15) - SILENCE_DB) / 10.0, 0.0, 1.0)
        ref_num = one_pole(fast * present, 5.0, "ref_num")
        ref_den = one_pole(present, 5.0, "ref_den")
        # The music level to place the crowd against: the average while music played, held
        # through silences (numerator and denominator decay together), a default before any.
        epsilon, assumed = 1e-3, 10 ** (assumed_level_db / 10)
        reference = (ref_num + epsilon * assumed) / (ref_den + epsilon)
        previous = (
            s["fast"],
            s["present"],
            (s["ref_num"] + epsilon * assumed) / (s["ref_den"] + epsilon),
        )
        if power.size:
            s.update(
                fast=float(fast[-1]),
                present=float(present[-1]),
                ref_num=float(ref_num[-1]),
                ref_den=float(ref_den[-1]),
            )
        first_frame = start // hop
        released = np.zeros(fast.size)
        if detect_stops:
            playing = 10.0 * np.log10(fast + 1e-15) > 10.0 * np.log10(reference) - END_RANGE_DB
            released = self._detect_stops(playing, first_frame + 1, hop_s)
        previous_released = s["released"]
        if power.size:
            s["released"] = float(released[-1])
        return Control(
            first_frame=first_frame,
            fast=np.concatenate([[previous[0]], fast]),
            present=np.concatenate([[previous[1]], present]),
            reference=np.concatenate([[previous[2]], reference]),
            released=np.concatenate([[previous_released], released]),
            stops_s=self.stops_s,
        )

    def _detect_stops(self, playing: np.ndarray, first_frame: int, hop_s: float) -> np.ndarray:
        """Note where the music stops after playing (STOP_SILENCE_S below its running level after
        at least STOP_PLAYED_S of it); returns per frame whether the crowd is released from
        staying under the music (from a stop until the music plays again)."""
        released = np.zeros(playing.size)
        bounds = np.concatenate(
            [[0], np.flatnonzero(np.diff(playing.astype(np.int8))) + 1, [playing.size]]
        )
        for begin, end in itertools.pairwise(bounds):
            if end <= begin:
                continue
            seconds = (end - begin) * hop_s
            if playing[begin]:
                self._played_s += seconds
                self._silent_s = 0.0
                self._released = False
                continue
            before = self._silent_s
            self._silent_s += seconds
            if self._played_s >= STOP_PLAYED_S and before < STOP_SILENCE_S <= self._silent_s:
                stop = begin + math.ceil((STOP_SILENCE_S - before) / hop_s)
                self.stops_s.append((first_frame + stop) * hop_s)
                self._played_s = 0.0
                self._released = True
                released[stop:end] = 1.0
            elif self._released:
                released[begin:end] = 1.0
        return released


@dataclass
class Reactions:
    """The crowd's drives per hop frame of one block (index 0 is frame `first_frame`)."""

    first_frame: int
    times_s: np.ndarray
    scale: np.ndarray  # power of the crowd at full excitement, kept under the music
    level: np.ndarray  # the same without keeping under the music (for asked-for sounds)
    present: np.ndarray  # 0..1, music playing
    murmur: np.ndarray  # power of the talking bed, re scale
    applause: np.ndarray  # share of people clapping
    cheer: np.ndarray  # 0..1, how hard the crowd cheers

    def frame_of(self, positions: np.ndarray, hop: int) -> np.ndarray:
        """Index into these arrays of the frame holding each absolute sample position."""
        return positions // hop - self.first_frame


def react(crowd, plan: Plan, control: Control, hop_s: float, *, powers: dict) -> Reactions:
    """Turn the plan and what the follower heard into the crowd's drives and power.

    `crowd` is the Crowd stage (its parameters); `powers` the expected power of each kind of sound
    at full drive (murmur, applause, cheer, clap_along), used to keep the total under the music.
    """
    frames = control.first_frame + np.arange(control.fast.size)
    times_s = frames * hop_s
    present = control.present
    applause = np.zeros_like(times_s)
    cheer = np.zeros_like(times_s)
    murmur_gain = np.ones_like(times_s)
    rng = np.random.default_rng([crowd.seed, 12])
    rise_s = float(rng.uniform(0.5, 1.5))
    ends = [(plan.song_end_s, plan.ending)] if plan.song_end_s is not None else []
    ends += [(stop_s, 0.8) for stop_s in control.stops_s] if not ends else []
    for end_s, size in ends:
        rise, hold, decay = applause_timing(
            crowd.applause_s, rise_s * (1.3 - 0.5 * size), end_s, plan.sound_end_s
        )
        elapsed = times_s - end_s - APPLAUSE_DELAY_S
        applause += size * event_envelope(elapsed, rise, hold, decay)
        cheer += size * event_envelope(elapsed, rise, 0.0, 0.5 * crowd.applause_s)
        if plan.song_end_s is not None:
            # The talking dies away with the applause: the tail ends in silence.
            murmur_gain = np.where(
                elapsed > rise + hold, event_envelope(elapsed, 1e-3, rise + hold, decay), 1.0
            )
    for time_s, strength in plan.cheers:
        cheer += strength * event_envelope(times_s - time_s, 0.3, 0.5, 3.0)
    if crowd.swell_s > 0:
        cheer += (1.0 - np.exp(-times_s / 0.5)) * np.clip(1.0 - times_s / crowd.swell_s, 0.0, 1.0)
        applause += (
            0.7 * (1.0 - np.exp(-times_s / 0.5)) * np.clip(1.0 - times_s / crowd.swell_s, 0.0, 1.0)
        )
    for cue in crowd.cues:
        if cue.kind in ("applause", "cheer"):
            hold = max(cue.end_s - cue.start_s - 0.1, 0.0)
            drive = cue.intensity * event_envelope(times_s - cue.start_s, 0.1, hold, 2.0)
            if cue.kind == "applause":
                applause = np.maximum(applause, drive)
            else:
                cheer = np.maximum(cheer, drive)
    applause = crowd.intensity * np.clip(applause, 0.0, 1.0)
    cheer = crowd.intensity * np.clip(cheer, 0.0, 1.0)
    murmur = 10 ** (crowd.murmur_db / 10) * (1.0 + 0.5 * (1.0 - present)) * murmur_gain
    clapping = crowd.intensity * present * float(crowd.clap_along or bool(len(plan.clap_gate)))
    expected = (
        murmur
        + powers["applause"] * applause
        + powers["cheer"] * cheer
        + powers["clap_along"] * clapping
    )
    reference = control.reference
    if plan.song_end_s is not None and plan.music_level_db is not None:
        # After the last note the crowd answers the song as it was, not a quiet outro.
        after = times_s >= plan.song_end_s
        reference = np.where(after, 10 ** (plan.music_level_db / 10), reference)
    level = reference * 10 ** (crowd.level_db / 10)
    # While music plays, cap the crowd margin_db below the music envelope; the cap fades out
    # as the music does, so applause after a song can rise to its full level.
    allowed = control.fast * 10 ** (-crowd.margin_db / 10)
    with np.errstate(divide="ignore"):
        cap_db = np.minimum(0.0, 10 * np.log10(allowed + 1e-30) - 10 * np.log10(level * expected))
    ducking = present * (1.0 - control.released)
    if plan.song_end_s is not None:
        # After the last note the crowd no longer waits for the music's envelope to die away.
        ducking = present * np.clip((plan.song_end_s + 0.3 - times_s) / 0.3, 0.0, 1.0)
    fade_in = np.clip(times_s / 1.0, 0.0, 1.0)  # from silence: seamless after a previous track
    return Reactions(
        first_frame=control.first_frame,
        times_s=times_s,
        scale=level * 10 ** (ducking * cap_db / 10) * fade_in,
        level=level * fade_in,
        present=present,
        murmur=murmur,
        applause=applause,
        cheer=cheer,
    )
