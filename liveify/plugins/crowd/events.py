"""Event placement: which clap, voice and whistle sounds when, and adding them to the crowd.

Random choices are drawn per segment of the stream from generators keyed by (seed, stream,
segment), and every sound is rendered whole by the block its start falls in (the block's buffer
reaches past its end by the longest sound), so chunked and whole processing agree exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from liveify.dsp import equal_power_pan
from liveify.plugins.crowd.acoustics import HAND_CONFIGURATIONS, Audience
from liveify.plugins.crowd.follower import Reactions
from liveify.plugins.crowd.sources import (
    CLAP_DISTANCES_M,
    CLAP_VARIANTS,
    NEAR_CLAPPERS,
    VOICE_KINDS,
    Bank,
    render_voice,
    render_whistle,
    voice_duration_s,
)

if TYPE_CHECKING:  # the stage imports this module
    from liveify.plugins.crowd.stage import Crowd

CLAP_STREAM, VOICE_STREAM, WHISTLE_STREAM, BEAT_STREAM = 2, 3, 4, 5
MAX_JITTER_S = 0.06
RENDERED_VOICES_HZ = 3.0  # at most this many single voices a second; the rest is the roar
VOICE_MEAN_S = 0.8
WHISTLE_MEAN_S = 0.9
WHISTLE_POWER = 0.25  # one whistle, relative to the crowd at full excitement
CLAP_ALONG_POWER = 0.5
BEATS_PER_DRAW = 64
CLAP_ALONG_NEAREST = 8  # the nearest people heard one by one on the beat; the rest is the group
VOICES_AMONG, WHISTLES_AMONG = 200, 1000  # single voices stand out nearby; whistles carry


@dataclass
class Block:
    """One call's worth of crowd: what every placement step needs, in one place."""

    crowd: Crowd  # the stage: parameters, seed, cues, random-number cache
    start: int  # absolute sample positions of the block
    stop: int
    sample_rate: float
    bank: Bank
    people: dict  # the nearest people, one array per attribute (see `nearest_people`)
    powers: dict  # power of each kind of sound at full drive (see `Crowd._powers`)
    reactions: Reactions
    out: np.ndarray  # (2, stop - start + bank.longest_event) crowd being built

    def frame_of(self, positions: np.ndarray) -> np.ndarray:
        return self.reactions.frame_of(np.asarray(positions, dtype=np.int64), self.bank.hop)


def nearest_people(seed: int, size: int) -> dict:
    """The NEAR_CLAPPERS people nearest the microphones: where they are, how they clap."""
    rng = np.random.default_rng([seed, 13])
    audience = Audience.of(size)
    count = min(NEAR_CLAPPERS, size)
    distance_m = np.sort(audience.person_distances_m(rng, count, among=count))
    weights = 1.0 / distance_m**2
    configurations = np.array([share for _, _, share in HAND_CONFIGURATIONS])
    return {
        "distance_m": distance_m,
        "distance_class": np.searchsorted(
            np.sqrt(np.multiply(CLAP_DISTANCES_M[:-1], CLAP_DISTANCES_M[1:])), distance_m
        ),
        # Each one's share of the crowd's clapping power.
        "share": weights / weights.sum() * audience.nearest_share(count),
        "pan": rng.uniform(-1.0, 1.0, count),
        "configuration": rng.choice(
            configurations.size, count, p=configurations / configurations.sum()
        ),
        "period_s": 1.0 / rng.uniform(3.3, 5.5, count),  # applause rate (Neda et al.: 2-5 Hz)
        "phase_s": rng.uniform(0.0, 1.0, count),
        "eagerness": rng.uniform(0.0, 1.0, count),  # joins when the drive exceeds it
        "bias_s": rng.normal(0.01, 0.015, count),  # early or late on the beat
        "drift_beats": rng.uniform(16.0, 64.0, count),
        "drift_phase": rng.uniform(0.0, 2 * np.pi, count),
    }


def _draw(block: Block, stream: int, index: int, make) -> dict:
    """Cached random material of `stream` for segment `index`: make(rng, segment start)."""
    cache = block.crowd._cache
    key = (stream, index, block.sample_rate)
    if key not in cache:
        if len(cache) > 48:
            cache.pop(next(iter(cache)))
        cache[key] = make(
            np.random.default_rng([block.crowd.seed, stream, index]),
            index * block.bank.segment_length,
        )
    return cache[key]


def _candidates(block: Block, stream: int, make, reach: int = 0) -> dict:
    """Events of `stream` starting in this block, from every segment that can hold one
    (`reach`: samples an event may move from its segment)."""
    length = block.bank.segment_length
    first, last = (block.start - reach) // length, (block.stop - 1 + reach) // length
    parts = [_draw(block, stream, index, make) for index in range(max(first, 0), last + 1)]
    merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    inside = (merged["position"] >= block.start) & (merged["position"] < block.stop)
    return {key: values[inside] for key, values in merged.items()}


# --- applause: the nearest people clap by clap -------------------------------------------------


def add_applause(block: Block) -> None:
    """Claps of the nearest people, each at their own rate, while the applause drive exceeds
    their eagerness: as applause dies away they stop one by one."""
    if not np.any(block.reactions.applause > 0):
        return
    people, rate = block.people, block.sample_rate

    def make(rng, offset):
        seconds = block.bank.segment_length / rate
        period, phase = people["period_s"][:, None], people["phase_s"][:, None]
        first = np.ceil((offset / rate - phase) / period)
        times = phase + (first + np.arange(math.ceil(seconds / period.min()) + 1)) * period
        person = np.broadcast_to(np.arange(period.size)[:, None], times.shape)
        keep = times < offset / rate + seconds
        jitter = np.clip(rng.normal(0.0, 0.012, keep.sum()), -MAX_JITTER_S, MAX_JITTER_S)
        return {
            "position": np.round((times[keep] + jitter) * rate).astype(np.int64),
            "person": person[keep],
            "variant": rng.integers(0, CLAP_VARIANTS, keep.sum()),
            "gain": np.exp(0.3 * rng.standard_normal(keep.sum()) - 0.09),
        }

    claps = _candidates(block, CLAP_STREAM, make, reach=round(MAX_JITTER_S * rate))
    at = block.frame_of(claps["position"])
    person = claps["person"]
    keep = block.reactions.applause[at] > people["eagerness"][person]
    if not np.any(keep):
        return
    person, at = person[keep], at[keep]
    # As the applause dies away the last people clap softer, too.
    softer = 0.3 + 0.7 * block.reactions.applause[at] / max(block.crowd.intensity, 1e-3)
    power = people["share"][person] * block.reactions.scale[at] * rate * people["period_s"][person]
    power *= softer * block.powers["applause"]
    sounds = block.bank.claps[
        people["configuration"][person], people["distance_class"][person], claps["variant"][keep]
    ]
    place(
        block.out,
        sounds,
        claps["position"][keep] - block.start,
        claps["gain"][keep] * np.sqrt(power),
        people["pan"][person] * block.crowd.spread,
    )


# --- clap-along: everyone on the beat, each person a little early or late -------------------------


def add_clap_along(block: Block, beat_positions: np.ndarray, gate: np.ndarray) -> None:
    """On each beat whose gate is open: the far crowd's smeared group clap and the nearest
    people's own claps, each with a bias, a slow drift and a jitter of its own (tens of ms).

    Every sound takes its loudness from the reactions where it starts, which every chunking of
    the stream agrees on."""
    bank, rate, people, reactions = block.bank, block.sample_rate, block.people, block.reactions
    reach = bank.group_offset + round(0.25 * rate)
    lo, hi = np.searchsorted(beat_positions, [block.start - reach, block.stop + reach])
    beats = np.arange(lo, hi)[gate[lo:hi] > 0]
    if beats.size == 0:
        return
    intervals = np.diff(beat_positions)
    samples_per_beat = float(np.median(intervals)) if intervals.size else rate / 2.0

    def power_at(positions: np.ndarray, beat_gate: np.ndarray) -> np.ndarray:
        at = block.frame_of(positions)
        return (
            CLAP_ALONG_POWER
            * beat_gate
            * reactions.scale[at]
            * reactions.present[at]
            * samples_per_beat
        )

    # People are sorted nearest first: the nearest few clap one by one, the rest is the group.
    near = people["share"][:CLAP_ALONG_NEAREST]
    far = 1.0 - near.sum()
    starts = beat_positions[beats] - bank.group_offset
    own = (starts >= block.start) & (starts < block.stop)
    for beat, start, power in zip(
        beats[own], starts[own], power_at(starts[own], gate[beats[own]]), strict=True
    ):
        template = bank.group_claps[(beat * 7 + block.crowd.seed) % bank.group_claps.shape[0]]
        offset = int(start - block.start)
        block.out[:, offset : offset + template.shape[1]] += (
            np.float32(math.sqrt(far * power)) * template
        )

    draws = range(beats[0] // BEATS_PER_DRAW, beats[-1] // BEATS_PER_DRAW + 1)
    jitter_s = np.concatenate(
        [_draw(block, BEAT_STREAM, index, _beat_jitter)["jitter_s"] for index in draws]
    )
    jitter_s = jitter_s[beats - draws[0] * BEATS_PER_DRAW, : near.size]
    drift_s = 0.02 * np.sin(
        2 * np.pi * beats[:, None] / people["drift_beats"][: near.size]
        + people["drift_phase"][: near.size]
    )
    offsets_s = np.clip(
        people["bias_s"][: near.size] + drift_s + jitter_s, -2 * MAX_JITTER_S, 2 * MAX_JITTER_S
    )
    clap_at = beat_positions[beats][:, None] + np.round(offsets_s * rate).astype(np.int64)
    joined = gate[beats][:, None] > people["eagerness"][None, : near.size]
    beat, person = np.nonzero(joined & (clap_at >= block.start) & (clap_at < block.stop))
    if beat.size == 0:
        return
    positions = clap_at[beat, person]
    power = power_at(positions, gate[beats[beat]]) * people["share"][person]
    sounds = bank.claps[
        people["configuration"][person],
        people["distance_class"][person],
        (beats[beat] + person) % CLAP_VARIANTS,
    ]
    place(
        block.out,
        sounds,
        positions - block.start,
        np.sqrt(power),
        people["pan"][person] * block.crowd.spread,
    )


def _beat_jitter(rng: np.random.Generator, _offset: int) -> dict:
    """Each near person's timing jitter on BEATS_PER_DRAW consecutive beats."""
    jitter = rng.normal(0.0, 0.012, (BEATS_PER_DRAW, CLAP_ALONG_NEAREST))
    return {"jitter_s": np.clip(jitter, -MAX_JITTER_S, MAX_JITTER_S)}


# --- voices and whistles --------------------------------------------------------------------------


def add_voices(block: Block) -> None:
    """Single cheering voices ("woo!", "yeah!", "hey!", a held "oh"), more when the crowd cheers
    harder; each has its own pitch, vowel, distance and place."""
    if not np.any(block.reactions.cheer > 0):
        return
    rate = block.sample_rate
    voices_hz = min(block.crowd.cheer_rate_hz, RENDERED_VOICES_HZ)
    audience = Audience.of(block.crowd.size)

    def make(rng, offset):
        count = rng.poisson(voices_hz * block.bank.segment_length / rate)
        return {
            "position": offset + np.sort(rng.integers(0, block.bank.segment_length, count)),
            "kind": rng.choice(len(VOICE_KINDS), count, p=(0.4, 0.3, 0.2, 0.1)),
            "distance_m": audience.person_distances_m(rng, count, among=VOICES_AMONG),
            "pan": rng.uniform(-1.0, 1.0, count),
            "gain": np.exp(0.4 * rng.standard_normal(count) - 0.16),
            "chance": rng.random(count),
            "key": rng.integers(0, 2**32, count),
        }

    voices = _candidates(block, VOICE_STREAM, make)
    at = block.frame_of(voices["position"])
    for index in np.flatnonzero(voices["chance"] < block.reactions.cheer[at]):
        rng = np.random.default_rng([block.crowd.seed, VOICE_STREAM, int(voices["key"][index])])
        kind = int(voices["kind"][index])
        sound = render_voice(
            rng, kind, voice_duration_s(rng, kind), rate, voices["distance_m"][index]
        )
        power = block.powers["voice"] * block.reactions.scale[at[index]]
        place_one(
            block,
            sound,
            voices["position"][index],
            voices["gain"][index] * math.sqrt(power),
            voices["pan"][index],
        )


def add_whistles(block: Block) -> None:
    """Whistles while the crowd cheers, and one for each whistle cue (at the crowd's level)."""
    rate = block.sample_rate
    crowd = block.crowd

    def make(rng, offset):
        count = rng.poisson(crowd.whistle_rate_hz * block.bank.segment_length / rate)
        return {
            "position": offset + np.sort(rng.integers(0, block.bank.segment_length, count)),
            "chance": rng.random(count),
            "key": rng.integers(0, 2**32, count),
        }

    whistles = _candidates(block, WHISTLE_STREAM, make)
    at = block.frame_of(whistles["position"])
    chosen = np.flatnonzero(whistles["chance"] < block.reactions.cheer[at])
    sounds = [
        (
            whistles["position"][i],
            int(whistles["key"][i]),
            block.powers["whistle"] * block.reactions.scale[at[i]],
        )
        for i in chosen
    ]
    for index, cue in enumerate(c for c in crowd.cues if c.kind == "whistle"):
        position = round(cue.start_s * rate)
        if block.start <= position < block.stop:
            level = block.reactions.level[block.frame_of(np.array([position]))[0]]
            sounds.append(
                (position, 2**33 + index, block.powers["whistle"] * level * cue.intensity**2)
            )
    for position, key, power in sounds:
        rng = np.random.default_rng([crowd.seed, WHISTLE_STREAM, key])
        distance_m = float(
            Audience.of(crowd.size).person_distances_m(rng, 1, among=WHISTLES_AMONG)[0]
        )
        sound = render_whistle(rng, rng.uniform(0.4, 1.4), rate, distance_m)
        place_one(
            block,
            sound,
            position,
            math.exp(0.4 * rng.standard_normal()) * math.sqrt(power),
            rng.uniform(-1.0, 1.0),
        )


# --- adding sounds to the buffer ------------------------------------------------------------------


#: Scales equal-power pan gains so that a centred source has unit gain in each channel.
CENTRE_UNITY_GAIN = math.sqrt(2.0)


def place_one(block: Block, sound: np.ndarray, position: int, gain: float, pan: float) -> None:
    """Add one long sound (a voice, a whistle) starting at absolute `position`, panned."""
    left, right = CENTRE_UNITY_GAIN * equal_power_pan(np.array([pan * block.crowd.spread]))
    offset = int(position - block.start)
    block.out[0, offset : offset + sound.size] += np.float32(gain * left[0]) * sound
    block.out[1, offset : offset + sound.size] += np.float32(gain * right[0]) * sound


def place(out: np.ndarray, sounds: np.ndarray, offsets: np.ndarray, gains, pans) -> None:
    """Add `sounds[i] * gains[i]` at `offsets[i]` (samples into `out`), panned. One slice per
    sound: claps are few per second, and slices beat a bincount over every sample they touch."""
    left, right = CENTRE_UNITY_GAIN * equal_power_pan(pans)
    length = sounds.shape[1]
    gains = np.asarray(gains, dtype=np.float64)
    for sound, offset, gain, left_gain, right_gain in zip(
        sounds, np.asarray(offsets, dtype=np.int64).tolist(), gains, left, right, strict=True
    ):
        shaped = sound * np.float32(gain)
        out[0, offset : offset + length] += np.float32(left_gain) * shaped
        out[1, offset : offset + length] += np.float32(right_gain) * shaped
