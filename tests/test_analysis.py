"""Whole-track analysis: beats as librosa's tracker finds them, pulse, level, first and last notes,
streaming, and a render path free of librosa and numba."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from liveify.analysis import TrackAnalysis, analyse, track_beat_frames
from tests.signals import SR, drum_pattern, soft_chords


@pytest.mark.parametrize("bpm", [90, 110, 128, 150])
def test_beats_agree_with_librosa_on_drum_patterns(bpm):
    import librosa

    audio = drum_pattern(bpm, 20.0, seed=bpm)
    ours = analyse(np.stack([audio, audio]), SR).beat_times_s
    # librosa at the same analysis hop (11.6 ms) and window, so both report the same frames.
    _, theirs = librosa.beat.beat_track(y=audio, sr=SR, hop_length=512, units="time")
    assert abs(len(ours) - len(theirs)) <= 1 and len(ours) >= 20
    nearest_ms = 1000 * np.array([np.min(np.abs(theirs - beat)) for beat in ours])
    assert np.median(nearest_ms) < 5.0 and np.max(nearest_ms) < 25.0
    # And the beats are the pattern's: every beat on a drum hit (quarter notes, or eighths).
    grid_s = 30.0 / bpm
    off_grid_ms = 1000 * np.abs((ours - 0.5 + grid_s / 2) % grid_s - grid_s / 2)
    assert np.median(off_grid_ms) < 40.0


def test_dynamic_programming_prefers_the_period_and_the_peaks():
    strength = np.zeros(400)
    strength[10::20] = 1.0  # a pulse every 20 frames
    strength[215] = 3.0  # one loud off-beat onset
    beats = track_beat_frames(strength, 20.0)
    assert np.all(np.diff(beats) == 20)
    assert 215 not in beats and 210 in beats


def test_feeding_in_blocks_equals_feeding_at_once():
    audio = np.stack([drum_pattern(120, 12.0), drum_pattern(120, 12.0, seed=3)])
    whole = TrackAnalysis(SR)
    whole.add(audio)
    blocks = TrackAnalysis(SR)
    for start, size in zip(
        np.cumsum([0, 1, 777, 4096, 50000]), [1, 777, 4096, 50000, 10**7], strict=True
    ):
        blocks.add(audio[:, start : start + size])
    a, b = whole.features(), blocks.features()
    np.testing.assert_allclose(a.beat_times_s, b.beat_times_s)
    np.testing.assert_allclose(a.pulse, b.pulse, atol=1e-9)
    np.testing.assert_allclose(a.level_db, b.level_db, atol=1e-4)
    assert a.duration_s == b.duration_s == pytest.approx(12.0)


def test_pulse_is_strong_for_drums_and_absent_in_soft_or_drumless_passages():
    drums = drum_pattern(120, 30.0)
    chords = soft_chords(30.0, level_db=-18.0)
    soft_drums = drum_pattern(120, 30.0, level=0.4 * 10 ** (-30 / 20)) + chords
    track = np.concatenate([drums, chords, soft_drums, drums])
    features = analyse(track, SR)
    beats, pulse = features.beat_times_s, features.pulse

    def pulse_between(start_s: float, stop_s: float) -> float:
        return float(np.median(pulse[(beats > start_s) & (beats < stop_s)]))

    assert pulse_between(5, 25) > 0.8  # steady drums
    assert pulse_between(35, 55) < 0.1  # legato chords, no drums
    assert pulse_between(65, 85) < 0.2  # drums 30 dB down under the chords: a soft passage
    assert pulse_between(95, 115) > 0.8


def test_start_end_and_playing_level():
    silence = np.zeros(2 * SR, np.float32)
    tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(5 * SR) / SR)).astype(np.float32)
    fade = tone * np.linspace(1.0, 0.0, tone.size, dtype=np.float32) ** 3
    features = analyse(np.concatenate([silence, tone, fade, silence]), SR)
    assert features.start_s == pytest.approx(2.0, abs=0.03)
    # The playing level is the mean over tone and fade; the last note ends where the fade, 60 dB
    # per decade of (1 - x), is 20 dB below it.
    assert -26.0 < features.playing_level_db < -23.0  # the tone is at -23 dBFS
    fade_x = 1.0 - 10 ** ((features.playing_level_db - 20.0 + 23.0) / 60.0)
    assert features.end_s == pytest.approx(7.0 + 5.0 * fade_x, abs=0.05)
    empty = analyse(np.zeros(SR, np.float32), SR)
    assert empty.start_s is None and empty.beat_times_s.size == 0


def test_analysis_and_crowd_need_neither_librosa_nor_numba():
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from liveify.analysis import TrackAnalysis
        from liveify.plugins.crowd import Crowd
        t = np.arange(6 * 22050) / 22050
        audio = np.tile((0.3 * np.sin(2 * np.pi * 2 * t) ** 8).astype(np.float32), (2, 1))
        analysis = TrackAnalysis(22050)
        analysis.add(audio)
        crowd = Crowd(clap_along=True)
        crowd.prepare_track(analysis, offset_s=1.0)
        crowd(np.pad(audio, ((0, 0), (22050, 22050))), 22050)
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("librosa", "numba")))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
