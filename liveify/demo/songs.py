"""The demo's songs: titles, keys and tempos, a MIDI arrangement of each (mido), and its studio
mix through the demo synthesiser (`liveify.demo.synth`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liveify.demo.output import SAMPLE_RATE_HZ, peak_normalise
from liveify.demo.synth import (
    CLOSED_HAT,
    CRASH,
    DRUM_CHANNEL,
    KICK,
    OPEN_HAT,
    SNARE,
    NoteEvent,
    Voice,
    render_notes,
)

TICKS_PER_BEAT = 480
MELODY, CHORDS, BASS = 0, 1, 2

_ADJECTIVES = (
    "Neon", "Paper", "Silver", "Quiet", "Electric", "Hollow", "Golden", "Midnight", "Velvet",
    "Broken", "Distant", "Crimson", "Wild", "Northern", "Glass", "Restless",
)  # fmt: skip
_NOUNS = (
    "Harbour", "Satellites", "Rivers", "Avenue", "Lanterns", "Horizon", "Echoes", "Summer",
    "Engines", "Gardens", "Signals", "Tides", "Highway", "Mirrors", "Comets", "Parade",
)  # fmt: skip
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
# Key signature names as MIDI (and mido) spell them.
_MAJOR_KEY_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_KEY_NAMES = ("Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm")
_PROGRESSIONS = ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 4), (0, 5, 1, 4), (0, 2, 3, 4))

STUDIO_VOICES = {
    MELODY: Voice(tilt=1.3, cutoff_hz=3500, attack_s=0.02, decay_s=0.15, sustain_level=0.6,
                  release_s=0.12, gain_db=-2.0, pan=0.1, vibrato_hz=5.0, vibrato_cents=8.0),
    CHORDS: Voice(tilt=1.0, cutoff_hz=1800, attack_s=0.08, decay_s=0.3, sustain_level=0.7,
                  release_s=0.3, gain_db=-9.0, pan=-0.3, unison_cents=7.0),
    BASS: Voice(tilt=1.6, cutoff_hz=700, odd_only=True, max_harmonics=12, attack_s=0.005,
                decay_s=0.2, sustain_level=0.5, release_s=0.06, gain_db=-1.0, pan=0.0),
}  # fmt: skip


@dataclass(frozen=True)
class Song:
    """What a demo song is: title, key, tempo and where its files go."""

    number: int
    title: str
    root_pitch_class: int
    minor: bool
    tempo_bpm: float

    @property
    def stem(self) -> str:
        return f"{self.number:02d} {self.title}"


def plan_songs(songs: int, seed: int) -> list[Song]:
    """Titles, keys and tempos of `songs` songs: all different within one set."""
    rng = np.random.default_rng([seed, 1_000_003])
    titles = [f"{a} {n}" for a in _ADJECTIVES for n in _NOUNS]
    chosen = rng.choice(len(titles), size=songs, replace=False)
    roots = rng.permutation(12)
    tempos = rng.permutation(np.arange(84, 146, 4))
    return [
        Song(
            number=index + 1,
            title=titles[chosen[index]],
            root_pitch_class=int(roots[index % 12]),
            minor=bool((index // 12 + index) % 2),
            tempo_bpm=float(tempos[index % len(tempos)]),
        )
        for index in range(songs)
    ]


# The score part by part inside one loop over bars: split up, the parts would lose the bar they share.
def compose_midi(song: Song, duration_s: float, rng: np.random.Generator):  # noqa: C901, PLR0912, PLR0915
    """A mido MidiFile with melody, chords, bass and drums filling about `duration_s` seconds."""
    import mido

    scale = np.array(_MINOR if song.minor else _MAJOR)
    progression = _PROGRESSIONS[rng.integers(len(_PROGRESSIONS))]
    beat_s = 60.0 / song.tempo_bpm
    n_bars = max(1, int(np.ceil(duration_s / (4 * beat_s))))
    events: dict[int, list[tuple[float, str, int, int]]] = {c: [] for c in (0, 1, 2, DRUM_CHANNEL)}

    def add(channel: int, start_beat: float, length_beats: float, pitch: int, velocity: int):
        events[channel].append((start_beat, "note_on", pitch, velocity))
        events[channel].append((start_beat + length_beats, "note_off", pitch, 0))

    def scale_pitch(degree: int, octave_base: int) -> int:
        return octave_base + song.root_pitch_class + scale[degree % 7] + 12 * (degree // 7)

    bass_pattern = ((0, 1.5), (1.5, 0.5), (2, 1.5), (3.5, 0.5))
    if rng.random() < 0.5:
        bass_pattern = ((0, 0.9), (1, 0.9), (2, 0.9), (3, 0.9))
    melody_degree = 7 + int(rng.integers(0, 5))
    for bar in range(n_bars):
        chord_degree = progression[bar % 4]
        bar_beat = 4.0 * bar
        for step in (0, 2, 4):
            add(
                CHORDS,
                bar_beat,
                3.9,
                scale_pitch(chord_degree + step, 48),
                70 + int(rng.integers(0, 12)),
            )
        for offset, length in bass_pattern:
            add(
                BASS,
                bar_beat + offset,
                length,
                scale_pitch(chord_degree, 36),
                90 + int(rng.integers(0, 20)),
            )
        # A random walk over the scale, pulled to chord tones on the downbeat.
        beat = 0.0
        while beat < 4.0:
            length = float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
            length = min(length, 4.0 - beat)
            if beat == 0.0:
                chord_tones = [chord_degree + 7 + s for s in (0, 2, 4)]
                melody_degree = min(chord_tones, key=lambda d: abs(d - melody_degree))
            else:
                melody_degree = int(np.clip(melody_degree + rng.integers(-2, 3), 4, 13))
            if beat == 0.0 or rng.random() > 0.15:
                add(
                    MELODY,
                    bar_beat + beat,
                    0.9 * length,
                    scale_pitch(melody_degree, 60),
                    80 + int(rng.integers(0, 30)),
                )
            beat += length
        for eighth in range(8):
            add(DRUM_CHANNEL, bar_beat + eighth / 2, 0.1, CLOSED_HAT if eighth != 7 else OPEN_HAT,
                60 + int(rng.integers(0, 30)))  # fmt: skip
        for kick_beat in (0, 2) + ((2.5,) if rng.random() < 0.4 else ()):
            add(DRUM_CHANNEL, bar_beat + kick_beat, 0.1, KICK, 110 + int(rng.integers(0, 17)))
        for snare_beat in (1, 3):
            add(DRUM_CHANNEL, bar_beat + snare_beat, 0.1, SNARE, 95 + int(rng.integers(0, 25)))
        if bar % 8 == 0:
            add(DRUM_CHANNEL, bar_beat, 1.0, CRASH, 100)

    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("track_name", name=song.title, time=0))
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(song.tempo_bpm), time=0))
    conductor.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    key_names = _MINOR_KEY_NAMES if song.minor else _MAJOR_KEY_NAMES
    conductor.append(
        mido.MetaMessage("key_signature", key=key_names[song.root_pitch_class], time=0)
    )
    midi.tracks.append(conductor)
    names = {
        MELODY: ("Melody", 81),
        CHORDS: ("Chords", 89),
        BASS: ("Bass", 33),
        DRUM_CHANNEL: ("Drums", 0),
    }
    for channel, channel_events in events.items():
        track = mido.MidiTrack()
        name, program = names[channel]
        track.append(mido.MetaMessage("track_name", name=name, time=0))
        if channel != DRUM_CHANNEL:
            track.append(mido.Message("program_change", channel=channel, program=program, time=0))
        # note_off before note_on at the same tick, so repeated notes retrigger cleanly.
        channel_events.sort(key=lambda e: (e[0], e[1] == "note_on", e[2]))
        previous_tick = 0
        for beat, kind, pitch, velocity in channel_events:
            tick = round(beat * TICKS_PER_BEAT)
            track.append(
                mido.Message(
                    kind, channel=channel, note=pitch, velocity=velocity, time=tick - previous_tick
                )
            )
            previous_tick = tick
        midi.tracks.append(track)
    return midi


def render_studio(notes: list[NoteEvent], duration_s: float, seed: list[int]) -> np.ndarray:
    """The studio master: the arrangement, a short room, gentle fade at the end."""
    import pedalboard

    mix = render_notes(
        notes, STUDIO_VOICES, duration_s=duration_s, sample_rate=SAMPLE_RATE_HZ, seed=seed
    )
    room = pedalboard.Reverb(room_size=0.25, damping=0.6, wet_level=0.08, dry_level=1.0, width=0.8)
    mix = room(mix.astype(np.float32), SAMPLE_RATE_HZ).astype(np.float64)
    fade = int(0.3 * SAMPLE_RATE_HZ)
    mix[:, -fade:] *= np.linspace(1.0, 0.0, fade)
    return peak_normalise(mix)
