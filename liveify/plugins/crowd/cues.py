"""MIDI cues for the crowd: which note asks for which reaction, read through the tempo map."""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike

import numpy as np

from liveify.errors import ParameterError, first_line

#: MIDI cue notes: note number -> crowd event. Velocity (1-127) sets the event's intensity, the
#: note's length sets how long applause, cheering or clap-along lasts (a whistle is one whistle).
CUE_NOTES = {60: "applause", 62: "cheer", 64: "whistle", 65: "clap_along"}


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
            f"Crowd cues {str(path)!r}: cannot read the MIDI file ({first_line(error)}); "
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
