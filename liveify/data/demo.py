"""Synthetic paired studio/live songs (`liveify demo-data`) so every path runs without recordings.

Each song is a MIDI arrangement (mido) rendered twice by `liveify.data.synth`: a studio mix, and a
"live" take with tempo drift, a crowd intro, its own venue reverb, PA colouring, crowd and applause.
The live renderer deliberately shares nothing with Liveify's own venue/crowd stages or presets, so
a DSP-only baseline cannot be right by construction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import signal

from liveify.data.synth import (
    CLOSED_HAT,
    CRASH,
    DRUM_CHANNEL,
    KICK,
    OPEN_HAT,
    SNARE,
    DrumKit,
    NoteEvent,
    Voice,
    notes_from_midi,
    render_notes,
)
from liveify.errors import ParameterError
from liveify.files import atomic_path

SAMPLE_RATE_HZ = 44100
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


def _atomic_write(path: Path, write) -> None:
    """Call `write(temp_path)` and move the result onto `path` (no half-written files)."""
    with atomic_path(path) as temporary:
        write(temporary)


def _write_wav(path: Path, audio: np.ndarray) -> None:
    import soundfile

    _atomic_write(
        path,
        lambda temp: soundfile.write(
            str(temp), audio.T.astype(np.float32), SAMPLE_RATE_HZ, subtype="PCM_16", format="WAV"
        ),
    )


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


# ---------------------------------------------------------------------------------------------
# The live take: time warp, mix changes, venue, PA, crowd. Nothing here comes from liveify.plugins.


@dataclass(frozen=True)
class TimeMap:
    """Monotone map from studio time to live time, sampled on a grid (linear in between)."""

    studio_s: np.ndarray
    live_s: np.ndarray

    def __call__(self, studio_times_s):
        # Beyond the grid the local tempo is extrapolated from the end segments.
        times = np.asarray(studio_times_s, dtype=np.float64)
        inside = np.interp(times, self.studio_s, self.live_s)
        slope_start = (self.live_s[1] - self.live_s[0]) / (self.studio_s[1] - self.studio_s[0])
        slope_end = (self.live_s[-1] - self.live_s[-2]) / (self.studio_s[-1] - self.studio_s[-2])
        before = self.live_s[0] + (times - self.studio_s[0]) * slope_start
        after = self.live_s[-1] + (times - self.studio_s[-1]) * slope_end
        return np.where(
            times < self.studio_s[0], before, np.where(times > self.studio_s[-1], after, inside)
        )

    def to_dict(self) -> dict:
        return {
            "studio_s": np.round(self.studio_s, 6).tolist(),
            "live_s": np.round(self.live_s, 6).tolist(),
        }

    @classmethod
    def from_dict(cls, values: dict) -> TimeMap:
        return cls(np.asarray(values["studio_s"], float), np.asarray(values["live_s"], float))


def make_time_map(duration_s: float, start_offset_s: float, rng: np.random.Generator, *,
                  max_drift: float = 0.03, grid_s: float = 0.05) -> TimeMap:  # fmt: skip
    """Live time of every studio time: a crowd intro, then a slowly drifting tempo factor.

    The tempo factor (live speed / studio speed) is a sum of slow sines scaled into
    [1 - max_drift, 1 + max_drift]; live time advances by `dt / factor`.
    """
    studio_s = np.arange(0.0, duration_s + 2 * grid_s, grid_s)
    periods_s = rng.uniform(6.0, 40.0, size=3)
    phases = rng.uniform(0, 2 * np.pi, size=3)
    wobble = np.sum(np.sin(2 * np.pi * studio_s[:, None] / periods_s + phases), axis=1)
    wobble += rng.uniform(-1.0, 1.0)  # a band that plays a touch faster or slower overall
    factor = 1.0 + max_drift * wobble / max(np.max(np.abs(wobble)), 1e-9)
    increments = np.diff(studio_s) / (0.5 * (factor[1:] + factor[:-1]))
    live_s = start_offset_s + np.concatenate([[0.0], np.cumsum(increments)])
    return TimeMap(studio_s, live_s)


def venue_impulse_response(
    rng: np.random.Generator, *, rt60_s: float, sample_rate: int
) -> np.ndarray:
    """Stereo IR of a hall: sparse early reflections, then decorrelated noise decaying faster in
    the highs than in the lows (air absorption)."""
    n_samples = int(1.2 * rt60_s * sample_rate)
    t = np.arange(n_samples) / sample_rate
    noise = rng.standard_normal((2, n_samples))
    split = signal.butter(2, 1500, fs=sample_rate, output="sos")
    low = signal.sosfilt(split, noise, axis=1)
    high = noise - low
    decay = 6.91 / rt60_s  # -60 dB over rt60 in amplitude: exp(-6.91)
    tail = low * np.exp(-decay * t) + 0.6 * high * np.exp(-2.2 * decay * t)
    predelay = int(rng.uniform(0.02, 0.04) * sample_rate)
    tail = np.concatenate([np.zeros((2, predelay)), tail[:, : n_samples - predelay]], axis=1)
    tail[:, predelay : predelay + int(0.01 * sample_rate)] *= np.linspace(
        0, 1, int(0.01 * sample_rate)
    )
    early = np.zeros((2, n_samples))
    taps = rng.integers(int(0.008 * sample_rate), predelay + int(0.03 * sample_rate), size=(2, 10))
    np.add.at(
        early,
        (np.repeat([0, 1], 10), taps.ravel()),
        rng.uniform(0.2, 0.7, size=20) * np.sign(rng.standard_normal(20)),
    )
    ir = 4.0 * early / np.sqrt(sample_rate) + tail
    return ir / np.sqrt(np.sum(ir**2, axis=1, keepdims=True))


def crowd_noise(n_samples: int, rng: np.random.Generator, *, sample_rate: int) -> np.ndarray:
    """Murmur of an audience: band-limited noise with slow level swells, stereo-decorrelated."""
    noise = rng.standard_normal((2, n_samples))
    murmur = signal.sosfilt(
        signal.butter(2, [250, 2500], btype="bandpass", fs=sample_rate, output="sos"), noise, axis=1
    )
    t = np.arange(n_samples) / sample_rate
    swell = 1.0 + 0.4 * np.sin(2 * np.pi * t / rng.uniform(3, 7) + rng.uniform(0, 6.3))
    return murmur * swell / (np.std(murmur) + 1e-12)


def applause(
    envelope: np.ndarray, rng: np.random.Generator, *, sample_rate: int, claps_per_s: float = 400.0
) -> np.ndarray:
    """Applause: Poisson-timed claps (short filtered noise bursts) thinned by `envelope` (0..1).

    Only the stretches where `envelope > 0` are synthesised; the rest of the output stays silent.
    """
    n_samples = envelope.size
    output = np.zeros((2, n_samples))
    kernel_len = int(0.012 * sample_rate)
    kt = np.arange(kernel_len) / sample_rate
    # Claps from different hands have different colours: four kernels share the impulses.
    kernels = []
    for centre_hz in (900, 1400, 2100, 3000):
        band = [centre_hz * 0.6, centre_hz * 1.6]
        sos = signal.butter(2, band, btype="bandpass", fs=sample_rate, output="sos")
        kernels.append(signal.sosfilt(sos, rng.standard_normal(kernel_len)) * np.exp(-kt / 0.003))
    active = np.concatenate([[False], envelope > 0, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(active))
    for begin, stop in zip(edges[::2], edges[1::2], strict=True):
        rate = claps_per_s * envelope[begin:stop] / sample_rate
        for channel in range(2):
            impulses = (rng.random(rate.size) < rate) * rng.uniform(0.3, 1.0, rate.size)
            which = rng.integers(0, len(kernels), rate.size)
            for index, kernel in enumerate(kernels):
                claps = signal.oaconvolve(impulses * (which == index), kernel)
                end_sample = min(n_samples, begin + claps.size)
                output[channel, begin:end_sample] += claps[: end_sample - begin]
    active_level = np.std(output[:, envelope > 0]) if np.any(envelope > 0) else 1.0
    return output / (active_level + 1e-12)


def pa_colouring(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A small PA: tight low end, a honky mid bump, horn presence, bus compression, soft drive."""
    import pedalboard

    board = pedalboard.Pedalboard(
        [
            pedalboard.HighpassFilter(cutoff_frequency_hz=float(rng.uniform(70, 110))),
            pedalboard.LowShelfFilter(
                cutoff_frequency_hz=140.0, gain_db=float(rng.uniform(2, 4)), q=0.7
            ),
            pedalboard.PeakFilter(
                cutoff_frequency_hz=float(rng.uniform(700, 1100)), gain_db=2.5, q=1.2
            ),
            pedalboard.PeakFilter(
                cutoff_frequency_hz=float(rng.uniform(2500, 3500)), gain_db=3.0, q=0.9
            ),
            pedalboard.LowpassFilter(cutoff_frequency_hz=float(rng.uniform(11000, 14000))),
            pedalboard.Compressor(threshold_db=-16.0, ratio=3.0, attack_ms=8.0, release_ms=120.0),
            pedalboard.Distortion(drive_db=2.0),
        ]
    )
    return board(audio.astype(np.float32), SAMPLE_RATE_HZ).astype(np.float64)


def _peak_normalise(audio: np.ndarray, peak: float = 0.89) -> np.ndarray:
    return audio * (peak / max(np.max(np.abs(audio)), 1e-9))


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
    return _peak_normalise(mix)


def venue_and_crowd(
    band: np.ndarray, start_offset_s: float, song_end_s: float, total_s: float, rng
) -> tuple[np.ndarray, dict]:
    """The band's PA signal in the demo's own hall, with its audience: murmur throughout, cheers
    before `start_offset_s`, applause from `song_end_s` to `total_s`. Peak-normalised."""
    rt60_s = float(rng.uniform(1.4, 2.4))
    ir = venue_impulse_response(rng, rt60_s=rt60_s, sample_rate=SAMPLE_RATE_HZ)
    wet = np.stack([signal.oaconvolve(band[c], ir[c])[: band.shape[1]] for c in range(2)])
    wet_db = float(rng.uniform(-9.0, -5.0))
    room = band + wet * 10 ** (wet_db / 20) * np.std(band) / (np.std(wet) + 1e-12)

    n_samples = room.shape[1]
    t = np.arange(n_samples) / SAMPLE_RATE_HZ
    cheer = np.interp(t, [0, 0.5, start_offset_s - 0.5, start_offset_s + 1.5, song_end_s - 0.3,
                          song_end_s + 0.5, total_s - 1.0, total_s], [0.3, 1, 1, 0, 0, 1, 0.8, 0.2])  # fmt: skip
    level = np.std(room[:, int(start_offset_s * SAMPLE_RATE_HZ) :])
    claps = applause(cheer, rng, sample_rate=SAMPLE_RATE_HZ)
    murmur = crowd_noise(n_samples, rng, sample_rate=SAMPLE_RATE_HZ)
    crowd_db = float(rng.uniform(-26.0, -20.0))
    live = room + level * (10 ** (crowd_db / 20) * murmur + 0.5 * cheer * claps)
    info = {"rt60_s": round(rt60_s, 4), "reverb_wet_db": round(wet_db, 3),
            "crowd_db": round(crowd_db, 3)}  # fmt: skip
    return _peak_normalise(live), info


def render_live(
    notes: list[NoteEvent], duration_s: float, seed: list[int]
) -> tuple[np.ndarray, dict]:
    """The live take and a description of what was done to it (time map included)."""
    rng = np.random.default_rng([*seed, 7])
    start_offset_s = float(rng.uniform(2.0, 5.0))
    outro_s = float(rng.uniform(3.0, 5.0))
    time_map = make_time_map(duration_s, start_offset_s, rng)
    live_notes = []
    for note in notes:
        start, end = time_map([note.start_s, note.start_s + note.duration_s])
        live_notes.append(note._replace(start_s=float(start), duration_s=float(end - start)))
    song_end_s = float(time_map(duration_s))
    total_s = song_end_s + outro_s
    level_changes_db = rng.uniform(-2.0, 2.0, size=3)
    voices = {
        MELODY: replace(
            STUDIO_VOICES[MELODY],
            gain_db=STUDIO_VOICES[MELODY].gain_db + level_changes_db[0] + 1.5,
            vibrato_cents=14.0,
        ),
        CHORDS: replace(
            STUDIO_VOICES[CHORDS],
            gain_db=STUDIO_VOICES[CHORDS].gain_db + level_changes_db[1],
            detune_cents=float(rng.uniform(6, 12)),
            pan=-0.15,
        ),
        BASS: replace(
            STUDIO_VOICES[BASS],
            gain_db=STUDIO_VOICES[BASS].gain_db + level_changes_db[2] + 1.0,
            cutoff_hz=900.0,
        ),
    }
    kit = DrumKit(
        gain_db=1.5, snare_db=-1.5, hat_db=-14.0, crash_db=-8.0, hat_pan=-0.2, crash_pan=0.3
    )
    band = render_notes(live_notes, voices, duration_s=total_s, sample_rate=SAMPLE_RATE_HZ,
                        drum_kit=kit, seed=[*seed, 11])  # fmt: skip
    band = pa_colouring(band / (np.max(np.abs(band)) + 1e-9) * 0.5, rng)
    live, room_info = venue_and_crowd(band, start_offset_s, song_end_s, total_s, rng)
    info = {
        "time_map": time_map.to_dict(),
        "start_offset_s": round(start_offset_s, 6),
        "song_end_s": round(song_end_s, 6),
        "duration_s": round(total_s, 6),
        "studio_duration_s": duration_s,
        **room_info,
        "level_changes_db": np.round(level_changes_db, 3).tolist(),
        "chords_detune_cents": round(voices[CHORDS].detune_cents, 3),
        "sample_rate_hz": SAMPLE_RATE_HZ,
    }
    return live, info


def load_time_map(json_path: str | Path) -> TimeMap:
    """The studio->live time map stored next to a demo live file."""
    with open(json_path, encoding="utf-8") as handle:
        return TimeMap.from_dict(json.load(handle)["time_map"])


def make_demo_data(
    outdir: str | Path, *, songs: int = 4, duration_s: float = 30.0, seed: int = 0
) -> list[tuple[Path, Path, Path]]:
    """Write `songs` synthetic studio/live pairs under `outdir` and return their paths.

    Layout: `studio/NN Title.wav` (44.1 kHz stereo), `live/NN Title (Live).wav` with
    `live/NN Title (Live).json` (the studio->live time map and the live settings), and
    `midi/NN Title.mid`. The same seed gives byte-identical files.

    Returns
    -------
    list of (studio_path, live_path, midi_path), one per song.
    """
    if not 1 <= songs <= 99:
        raise ParameterError(f"songs must be between 1 and 99; got {songs}")
    if not 2.0 <= duration_s <= 3600.0:
        raise ParameterError(f"duration must be between 2 and 3600 seconds; got {duration_s}")
    outdir = Path(outdir)
    written = []
    for song in plan_songs(songs, seed):
        song_seed = [seed, song.number]
        midi = compose_midi(song, duration_s, np.random.default_rng([*song_seed, 3]))
        midi_path = outdir / "midi" / f"{song.stem}.mid"
        _atomic_write(midi_path, lambda temp, midi=midi: midi.save(str(temp)))
        notes, _ = notes_from_midi(midi_path)
        studio = render_studio(notes, duration_s, song_seed)
        live, info = render_live(notes, duration_s, song_seed)
        info.update(title=song.title, tempo_bpm=song.tempo_bpm, minor=song.minor,
                    root_pitch_class=song.root_pitch_class)  # fmt: skip
        studio_path = outdir / "studio" / f"{song.stem}.wav"
        live_path = outdir / "live" / f"{song.stem} (Live).wav"
        _write_wav(studio_path, studio)
        _write_wav(live_path, live)
        info_text = json.dumps(info, indent=1, sort_keys=True)
        _atomic_write(
            live_path.with_suffix(".json"),
            lambda temp, text=info_text: temp.write_text(text, encoding="utf-8"),
        )
        written.append((studio_path, live_path, midi_path))
    return written
