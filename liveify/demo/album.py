"""The demo album (`liveify demo-data`, `liveify demo`): synthetic songs, each written as MIDI,
a studio mix and a live take by the demo's own live renderer (`liveify.demo.live`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from liveify.demo.live import demo_pa_and_hall, make_time_map
from liveify.demo.output import SAMPLE_RATE_HZ, write_pair
from liveify.demo.songs import (
    BASS,
    CHORDS,
    MELODY,
    STUDIO_VOICES,
    compose_midi,
    plan_songs,
    render_studio,
)
from liveify.demo.synth import DrumKit, NoteEvent, notes_from_midi, render_notes
from liveify.errors import ParameterError
from liveify.files import atomic_path


def play_song_live(
    notes: list[NoteEvent], duration_s: float, seed: list[int]
) -> tuple[np.ndarray, dict]:
    """The live take of a synthetic song: its notes on a drifting tempo, a livelier mix of the
    same voices, and the demo's PA, hall and audience. Returns the audio and a description of
    what was done to it (time map included)."""
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
    live, room_info = demo_pa_and_hall(band, start_offset_s, song_end_s, total_s, rng)
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
        with atomic_path(midi_path) as temporary:
            midi.save(str(temporary))
        notes, _ = notes_from_midi(midi_path)
        studio = render_studio(notes, duration_s, song_seed)
        live, info = play_song_live(notes, duration_s, song_seed)
        info.update(title=song.title, tempo_bpm=song.tempo_bpm, minor=song.minor,
                    root_pitch_class=song.root_pitch_class)  # fmt: skip
        studio_path, live_path = write_pair(outdir, song.stem, studio, live, info)
        written.append((studio_path, live_path, midi_path))
    return written
