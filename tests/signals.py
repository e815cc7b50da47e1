"""Generated music for the analysis and crowd tests: drum patterns and drumless chords (mono)."""

from __future__ import annotations

import numpy as np

SR = 44100


def drum_pattern(bpm: float, seconds: float, *, level: float = 0.4, seed: int = 0) -> np.ndarray:
    """Kick on 1 and 3, snare on 2 and 4, hi-hat on every eighth, over a soft pad (mono)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = np.zeros(n)
    t = np.arange(int(0.3 * SR)) / SR
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
    snare = rng.standard_normal(t.size) * np.exp(-t * 25) * 0.5
    hat = np.diff(rng.standard_normal(t.size + 1)) * np.exp(-t * 80) * 0.15
    eighth = 0
    while (at := int((0.5 + eighth * 30.0 / bpm) * SR)) + t.size <= n:
        out[at : at + t.size] += hat + (
            kick if eighth % 4 == 0 else snare if eighth % 4 == 2 else 0
        )
        eighth += 1
    pad = 0.05 * np.sin(2 * np.pi * 220 * np.arange(n) / SR)
    return (level * out + pad).astype(np.float32)


def soft_chords(seconds: float, *, level_db: float = -20.0) -> np.ndarray:
    """Drumless legato: chords that swell in and out over seconds (no onsets to clap to)."""
    t = np.arange(int(seconds * SR)) / SR
    roots = 110 * 2 ** (np.floor(t / 4.0) % 3 * 5 / 12)
    phase = 2 * np.pi * np.cumsum(roots) / SR
    chord = sum(np.sin(ratio * phase) for ratio in (1, 1.26, 1.5, 2))
    chord *= 0.6 + 0.4 * np.sin(2 * np.pi * t / 4.0 - np.pi / 2) ** 2
    return (chord * 10 ** (level_db / 20) / np.sqrt(np.mean(chord**2))).astype(np.float32)
