"""A small vectorised synthesiser that renders MIDI note lists to stereo audio for demo data.

Pitched voices are additive (band-limited harmonics with a spectral tilt and a soft low-pass),
drums are filtered noise and swept sines; every note gets an ADSR envelope and a stereo pan.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import signal

from liveify.dsp import equal_power_pan
from liveify.errors import DataError

#: General MIDI drum channel (0-based), rendered with the drum kit instead of a pitched voice.
DRUM_CHANNEL = 9

#: Drum pieces by General MIDI note number.
KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH = 36, 38, 42, 46, 49


class NoteEvent(NamedTuple):
    """One note: when it starts and how long the key is held, in seconds."""

    start_s: float
    duration_s: float
    pitch: int
    velocity: int
    channel: int


@dataclass(frozen=True)
class Voice:
    """A pitched instrument: harmonic recipe, envelope, level, pan and detune.

    `tilt` is the exponent of the 1/k harmonic roll-off (1 = sawtooth-like, 2 = soft, large = sine);
    `odd_only` gives a square/clarinet colour; `unison_cents` adds a second oscillator detuned by
    that much (chorus), and `detune_cents` shifts the whole voice (a slightly out-of-tune player).
    """

    tilt: float = 1.0
    cutoff_hz: float = 4000.0
    odd_only: bool = False
    max_harmonics: int = 24
    attack_s: float = 0.01
    decay_s: float = 0.1
    sustain_level: float = 0.7
    release_s: float = 0.15
    gain_db: float = 0.0
    pan: float = 0.0
    detune_cents: float = 0.0
    unison_cents: float = 0.0
    vibrato_hz: float = 0.0
    vibrato_cents: float = 0.0


@dataclass(frozen=True)
class DrumKit:
    """Levels and pans of the noise-based drum kit."""

    gain_db: float = 0.0
    kick_db: float = 0.0
    snare_db: float = -3.0
    hat_db: float = -12.0
    crash_db: float = -10.0
    hat_pan: float = 0.3
    crash_pan: float = -0.25


def midi_to_hz(pitch: float) -> float:
    """Equal-tempered frequency of a MIDI pitch (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def adsr(n_samples: int, held_s: float, voice: Voice, sample_rate: int) -> np.ndarray:
    """ADSR envelope of `n_samples` for a key held `held_s` seconds (release follows the hold)."""
    t = np.arange(n_samples) / sample_rate
    attack_end = min(voice.attack_s, held_s)
    decay_end = max(attack_end, min(voice.attack_s + voice.decay_s, held_s))
    # The level reached at key-up (mid-attack or mid-decay for short notes) is where release starts.
    level_at_release = np.interp(
        held_s,
        [0.0, voice.attack_s, voice.attack_s + voice.decay_s],
        [0.0, 1.0, voice.sustain_level],
    )
    times = [0.0, attack_end, decay_end, held_s, held_s + voice.release_s]
    levels = [
        0.0,
        np.interp(attack_end, [0.0, voice.attack_s], [0.0, 1.0]),
        np.interp(
            decay_end, [voice.attack_s, voice.attack_s + voice.decay_s], [1.0, voice.sustain_level]
        ),
        level_at_release,
        0.0,
    ]
    times = np.maximum.accumulate(np.asarray(times))
    return np.interp(t, times, levels).astype(np.float64)


#: Samples in one cycle of a wavetable; enough for every harmonic below Nyquist at MIDI pitch 24+.
WAVETABLE_SIZE = 4096


@functools.lru_cache(maxsize=512)
def wavetable(voice: Voice, base_hz: float, sample_rate: int) -> np.ndarray:
    """One band-limited cycle of `voice` at `base_hz` (harmonics above 0.45 x rate are dropped).

    Spectral tilt and a gentle 2nd-order low-pass shape stand in for a subtractive filter; the
    harmonic phases are fixed per voice so a chord does not phase-cancel identically every time.
    """
    harmonics = np.arange(1, voice.max_harmonics + 1, dtype=np.float64)
    if voice.odd_only:
        harmonics = harmonics[harmonics % 2 == 1]
    harmonics = harmonics[harmonics * base_hz < 0.45 * sample_rate]
    amplitudes = harmonics**-voice.tilt / np.sqrt(
        1.0 + (harmonics * base_hz / voice.cutoff_hz) ** 4
    )
    phases = np.random.default_rng(int(voice.tilt * 1000) + harmonics.size).uniform(
        0, 2 * np.pi, size=harmonics.size
    )
    spectrum = np.zeros(WAVETABLE_SIZE // 2 + 1, dtype=np.complex128)
    spectrum[harmonics.astype(np.int64)] = amplitudes * np.exp(1j * phases)
    table = np.fft.irfft(spectrum, n=WAVETABLE_SIZE) * WAVETABLE_SIZE / 2
    return table / max(amplitudes.sum(), 1e-9)


def _read_wavetable(table: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """Linear-interpolated table lookup at phase positions given in cycles."""
    position = (cycles % 1.0) * table.size
    lower = position.astype(np.int64)
    fraction = position - lower
    return table[lower] * (1.0 - fraction) + table[(lower + 1) % table.size] * fraction


def render_pitched_note(
    pitch: int,
    held_s: float,
    velocity: int,
    voice: Voice,
    sample_rate: int,
    phase_rng: np.random.Generator,
) -> np.ndarray:
    """Render one pitched note (mono) including its release tail."""
    n_samples = max(1, round((held_s + voice.release_s) * sample_rate))
    t = np.arange(n_samples) / sample_rate
    base_hz = midi_to_hz(pitch + voice.detune_cents / 100.0)
    table = wavetable(voice, round(base_hz, 3), sample_rate)
    if voice.vibrato_cents > 0:
        ratio = 2.0 ** (voice.vibrato_cents / 1200.0 * np.sin(2 * np.pi * voice.vibrato_hz * t))
        cycles = base_hz * np.cumsum(ratio) / sample_rate
    else:
        cycles = base_hz * t
    cycles = cycles + phase_rng.random()
    tone = _read_wavetable(table, cycles)
    if voice.unison_cents:
        detuned = cycles * 2.0 ** (voice.unison_cents / 1200.0) + phase_rng.random()
        tone = 0.5 * (tone + _read_wavetable(table, detuned))
    loudness = (velocity / 127.0) ** 1.5
    return tone * adsr(n_samples, held_s, voice, sample_rate) * loudness


def make_drum_samples(kit_rng: np.random.Generator, sample_rate: int) -> dict[int, np.ndarray]:
    """One-shot drum samples (mono) made from swept sines and filtered noise, by GM note number."""

    def seconds(duration_s: float) -> np.ndarray:
        return np.arange(int(duration_s * sample_rate)) / sample_rate

    def band_noise(duration_s: float, low_hz: float, high_hz: float) -> np.ndarray:
        noise = kit_rng.standard_normal(int(duration_s * sample_rate))
        # Low demo rates (e.g. 22.05 kHz) cannot hold the hi-hat band: squeeze it under Nyquist.
        high_hz = min(high_hz, 0.45 * sample_rate)
        low_hz = min(low_hz, 0.5 * high_hz)
        sos = signal.butter(2, [low_hz, high_hz], btype="bandpass", fs=sample_rate, output="sos")
        filtered = signal.sosfilt(sos, noise)
        return filtered / (np.max(np.abs(filtered)) + 1e-12)

    t = seconds(0.45)
    kick_hz = 48.0 + 110.0 * np.exp(-t / 0.035)
    kick = np.sin(2 * np.pi * np.cumsum(kick_hz) / sample_rate) * np.exp(-t / 0.16)
    kick[: int(0.004 * sample_rate)] += 0.3 * band_noise(0.004, 1500, 6000)

    t = seconds(0.3)
    snare = 0.8 * band_noise(0.3, 1200, 7000) * np.exp(-t / 0.06)
    snare += 0.5 * np.sin(2 * np.pi * 190.0 * t) * np.exp(-t / 0.05)

    t = seconds(0.08)
    closed_hat = band_noise(0.08, 7000, 16000) * np.exp(-t / 0.015)
    t = seconds(0.4)
    open_hat = band_noise(0.4, 6000, 16000) * np.exp(-t / 0.12)
    t = seconds(1.8)
    crash = band_noise(1.8, 3500, 17000) * np.exp(-t / 0.5)
    return {KICK: kick, SNARE: snare, CLOSED_HAT: closed_hat, OPEN_HAT: open_hat, CRASH: crash}


def render_notes(
    notes: list[NoteEvent],
    voices: dict[int, Voice],
    *,
    duration_s: float,
    sample_rate: int = 44100,
    drum_kit: DrumKit | None = None,
    seed: int | list[int] = 0,
) -> np.ndarray:
    """Render notes to a float64 stereo mix shaped `(2, samples)`.

    Parameters
    ----------
    notes
        Notes to play; those on `DRUM_CHANNEL` trigger drum samples, the others the channel's voice.
        Notes on channels without a voice are skipped.
    voices
        Pitched voice per MIDI channel.
    duration_s
        Length of the output; note tails beyond it are cut.
    sample_rate
        Output rate in Hz.
    drum_kit
        Drum levels and pans (default kit when None).
    seed
        Seeds oscillator phases and drum noise, so that a render is reproducible.
    """
    kit = drum_kit or DrumKit()
    rng = np.random.default_rng(seed)
    drum_samples = make_drum_samples(rng, sample_rate)
    drum_levels = {
        KICK: (kit.kick_db, 0.0),
        SNARE: (kit.snare_db, 0.05),
        CLOSED_HAT: (kit.hat_db, kit.hat_pan),
        OPEN_HAT: (kit.hat_db + 2.0, kit.hat_pan),
        CRASH: (kit.crash_db, kit.crash_pan),
    }
    n_total = round(duration_s * sample_rate)
    mix = np.zeros((2, n_total), dtype=np.float64)
    for note in notes:
        start = round(note.start_s * sample_rate)
        if start >= n_total or start < 0:
            continue
        if note.channel == DRUM_CHANNEL:
            if note.pitch not in drum_samples:
                continue
            level_db, pan = drum_levels[note.pitch]
            sound = (
                drum_samples[note.pitch]
                * (note.velocity / 127.0)
                * 10 ** ((kit.gain_db + level_db) / 20)
            )
        elif note.channel in voices:
            voice = voices[note.channel]
            pan = voice.pan
            sound = render_pitched_note(
                note.pitch, note.duration_s, note.velocity, voice, sample_rate, rng
            ) * 10 ** (voice.gain_db / 20)
        else:
            continue
        stop = min(n_total, start + sound.size)
        mix[:, start:stop] += equal_power_pan(pan)[:, None] * sound[None, : stop - start]
    return mix


def notes_from_midi(path: str | Path) -> tuple[list[NoteEvent], float]:
    """Read the notes of a MIDI file with their times in seconds (tempo changes applied).

    Returns the notes (sorted by start) and the file's length in seconds.
    """
    import mido

    try:
        midi = mido.MidiFile(str(path))
    except (OSError, EOFError, ValueError) as error:
        raise DataError(f"cannot read MIDI file {path}: {error}") from None
    now_s = 0.0
    sounding: dict[tuple[int, int], list[tuple[float, int]]] = {}
    notes: list[NoteEvent] = []
    for message in midi:  # iterating a MidiFile yields delta times in seconds
        now_s += message.time
        if message.type not in ("note_on", "note_off"):
            continue
        key = (message.channel, message.note)
        if message.type == "note_on" and message.velocity > 0:
            sounding.setdefault(key, []).append((now_s, message.velocity))
        elif sounding.get(key):
            start_s, velocity = sounding[key].pop(0)
            notes.append(
                NoteEvent(start_s, now_s - start_s, message.note, velocity, message.channel)
            )
    notes.sort(key=lambda note: (note.start_s, note.channel, note.pitch))
    return notes, now_s
