"""Crowd: determinism, level under the music, reactions, clap-along, MIDI cues, streaming."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from liveify.errors import ParameterError
from liveify.plugins.crowd import CUE_NOTES, Crowd, read_cues

SR = 22050


def tone(seconds: float, level_db: float, *, channels: int = 2) -> np.ndarray:
    """A steady chord (no onsets) at `level_db` dBFS RMS."""
    t = np.arange(int(seconds * SR)) / SR
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    chord *= 10 ** (level_db / 20) / np.sqrt(np.mean(chord**2))
    return np.tile(chord.astype(np.float32), (channels, 1))


def silence(seconds: float, channels: int = 2) -> np.ndarray:
    return np.zeros((channels, int(seconds * SR)), dtype=np.float32)


def level_db(audio: np.ndarray, start_s: float, stop_s: float) -> float:
    part = audio[:, int(start_s * SR) : int(stop_s * SR)]
    return float(10 * np.log10(np.mean(part.astype(np.float64) ** 2) + 1e-20))


def crowd_only(crowd: Crowd, audio: np.ndarray, **kwargs) -> np.ndarray:
    return crowd(audio, SR, **kwargs) - audio


def test_same_seed_same_crowd_other_seed_other_crowd():
    audio = np.concatenate([tone(2, -20), silence(3)], axis=1)
    first = crowd_only(Crowd(seed=3, whistle_rate_hz=2), audio)
    again = crowd_only(Crowd(seed=3, whistle_rate_hz=2), audio)
    other = crowd_only(Crowd(seed=4, whistle_rate_hz=2), audio)
    np.testing.assert_array_equal(first, again)
    assert abs(np.corrcoef(first[0], other[0])[0, 1]) < 0.2
    # Left and right are different people.
    assert abs(np.corrcoef(first[0], first[1])[0, 1]) < 0.6


def test_crowd_stays_under_quiet_and_loud_music():
    audio = np.concatenate([tone(4, -40), tone(4, -12)], axis=1)
    crowd = Crowd(size=3000, intensity=1.0, cheer_rate_hz=8, whistle_rate_hz=2, margin_db=12)
    added = crowd_only(crowd, audio)
    for start_s, stop_s in ((0.5, 4.0), (4.5, 8.0)):
        music = level_db(audio, start_s, stop_s)
        assert level_db(added, start_s, stop_s) < music - 9.0
    # ... but it is there, and follows the music up.
    assert level_db(added, 4.5, 8.0) > level_db(added, 0.5, 4.0) + 15.0


def test_applause_rises_when_the_music_stops():
    audio = np.concatenate([tone(5, -20), silence(8)], axis=1)
    added = crowd_only(Crowd(size=2000, swell_s=0.0, level_db=-10), audio)
    during = level_db(added, 3.0, 5.0)
    after = level_db(added, 7.0, 9.0)
    assert after > during + 8.0
    # Applause at about level_db below the music it follows (within a few dB).
    assert -20.0 < after - level_db(audio, 0.0, 5.0) < -4.0
    # And it dies away after a while.
    assert level_db(added, 12.0, 13.0) < level_db(added, 6.5, 7.5) - 3.0


def test_lead_in_swell_before_the_music():
    audio = silence(4)
    calm = crowd_only(Crowd(swell_s=0.0), audio)
    swelling = crowd_only(Crowd(swell_s=6.0), audio)
    assert level_db(swelling, 0.5, 3.0) > level_db(calm, 0.5, 3.0) + 10.0


def test_lead_in_is_scaled_to_the_music_that_follows():
    def lead_in_db(music_db: float, **kwargs) -> float:
        audio = np.concatenate([silence(3), tone(3, music_db)], axis=1)
        return level_db(crowd_only(Crowd(swell_s=6.0, **kwargs), audio), 0.5, 2.5)

    # Measured on the call's audio (a whole track) ...
    assert lead_in_db(-10.0) - lead_in_db(-30.0) == pytest.approx(20.0, abs=2.0)
    # ... or given, as a renderer streaming in chunks does.
    assert lead_in_db(-30.0, music_level_db=-10.0) == pytest.approx(lead_in_db(-10.0), abs=1.0)
    with pytest.raises(ParameterError, match="music_level_db"):
        Crowd(music_level_db=float("nan"))


def test_clap_along_lands_on_the_beats():
    audio = tone(9, -20)
    beats_s = np.arange(1.25, 9.0, 0.5)
    settings = dict(size=200, intensity=1.0, cheer_rate_hz=0, whistle_rate_hz=0, swell_s=0.0)

    def beat_contrast_db(added: np.ndarray, grid_s: np.ndarray) -> float:
        """Energy right at the grid's beats over energy between them (after t = 3 s)."""
        power = np.mean(added.astype(np.float64) ** 2, axis=0)
        on = np.concatenate(
            [power[int((b - 0.01) * SR) : int((b + 0.04) * SR)] for b in grid_s if b > 3]
        )
        off = np.concatenate(
            [power[int((b + 0.15) * SR) : int((b + 0.35) * SR)] for b in grid_s if b > 3]
        )
        return float(10 * np.log10(on.mean() / off.mean()))

    on_beat = crowd_only(Crowd(clap_along=True, beat_times_s=beats_s, **settings), audio)
    assert beat_contrast_db(on_beat, beats_s) > 6.0
    # Move the beats by half a beat: the claps move with them.
    shifted = crowd_only(Crowd(clap_along=True, beat_times_s=beats_s + 0.25, **settings), audio)
    assert beat_contrast_db(shifted, beats_s) < 0.0
    assert beat_contrast_db(shifted, beats_s + 0.25) > 6.0
    # No clapping without clap_along, and none during silence.
    quiet = crowd_only(Crowd(clap_along=False, beat_times_s=beats_s, **settings), audio)
    assert abs(beat_contrast_db(quiet, beats_s)) < 1.5


@pytest.mark.parametrize("sample_rate", [SR, 44100])
def test_beats_are_tracked_when_none_are_given(sample_rate):
    t = np.arange(6 * sample_rate) / sample_rate
    clicks = np.zeros_like(t)
    click = np.sin(2 * np.pi * 1000 * t[:400]) * np.exp(-t[:400] * 200)
    for beat_s in np.arange(0.5, 6.0, 0.5):  # 120 bpm
        start = int(beat_s * sample_rate)
        clicks[start : start + 400] += click
    audio = np.tile((0.3 * clicks + 0.05 * np.sin(2 * np.pi * 110 * t)).astype(np.float32), (2, 1))
    beats_s = Crowd.track_beats(audio, sample_rate)
    assert len(beats_s) >= 6
    assert np.median(np.diff(beats_s)) == pytest.approx(0.5, abs=0.03)
    # On the clicks, not between them.
    assert np.median(np.abs((beats_s - 0.5 + 0.25) % 0.5 - 0.25)) < 0.03
    tracked = Crowd(clap_along=True, seed=1)(audio, sample_rate)
    given = Crowd(clap_along=True, seed=1, beat_times_s=beats_s)(audio, sample_rate)
    np.testing.assert_array_equal(tracked, given)


def write_cue_file(path) -> None:
    """120 bpm for two beats, then 60 bpm: beat 3 (tick 1440) is at 2.0 s, beat 4 at 3.0 s."""
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500_000, time=0))
    track.append(mido.MetaMessage("set_tempo", tempo=1_000_000, time=960))
    track.append(mido.Message("note_on", note=60, velocity=127, time=480))
    track.append(mido.Message("note_on", note=64, velocity=100, time=0))
    track.append(mido.Message("note_off", note=64, velocity=0, time=240))
    track.append(mido.Message("note_off", note=60, velocity=0, time=240))
    track.append(mido.Message("note_on", note=50, velocity=90, time=0))  # not a cue note
    track.append(mido.Message("note_off", note=50, velocity=0, time=480))
    midi.save(path)


def test_midi_cues_are_read_through_the_tempo_map(tmp_path):
    path = tmp_path / "cues.mid"
    write_cue_file(path)
    cues, beats_s = read_cues(path)
    assert [cue.kind for cue in cues] == ["applause", "whistle"]
    applause, whistle = cues
    assert applause.start_s == pytest.approx(2.0) and applause.end_s == pytest.approx(3.0)
    assert applause.intensity == pytest.approx(1.0)
    assert whistle.start_s == pytest.approx(2.0) and whistle.end_s == pytest.approx(2.5)
    assert whistle.intensity == pytest.approx(100 / 127)
    np.testing.assert_allclose(beats_s[:5], [0.0, 0.5, 1.0, 2.0, 3.0])
    assert CUE_NOTES[60] == "applause"


def test_midi_cue_makes_applause_at_its_time(tmp_path):
    path = tmp_path / "cues.mid"
    write_cue_file(path)
    crowd = Crowd.from_midi(path, swell_s=0.0, size=500)
    assert "2 events" in repr(crowd)
    added = crowd_only(crowd, silence(5))
    frame = int(0.05 * SR)
    power = np.mean(
        added[:, : added.shape[1] // frame * frame].reshape(2, -1, frame) ** 2, axis=(0, 2)
    )
    baseline = np.median(power[: int(1.8 / 0.05)])
    onset_s = np.argmax(power > 4 * baseline) * 0.05
    assert 1.95 <= onset_s <= 2.1
    assert level_db(added, 2.3, 3.0) > level_db(added, 0.5, 1.8) + 8.0


def test_chunked_processing_equals_one_whole_call(tmp_path):
    path = tmp_path / "cues.mid"
    write_cue_file(path)
    audio = np.concatenate([silence(1), tone(3, -18), silence(3)], axis=1)
    crowd = Crowd(
        size=800, clap_along=True, whistle_rate_hz=3, cheer_rate_hz=10, cues=path, seed=5,
        beat_times_s=np.arange(1.0, 4.0, 0.4), music_level_db=-18.0,
    )  # fmt: skip
    whole = crowd(audio, SR)
    pieces, start = [], 0
    for size in (1, 700, 511, 1, 33333, 4096, 8191, audio.shape[1]):
        pieces.append(crowd(audio[:, start : start + size], SR, reset=start == 0))
        start += size
    chunked = np.concatenate(pieces, axis=1)
    assert chunked.shape == whole.shape
    assert np.max(np.abs(chunked - whole)) < 1e-5


def test_channels_are_kept_and_parameters_validated():
    mono = tone(1, -20, channels=1)
    out = Crowd()(mono, SR)
    assert out.shape == mono.shape and out.dtype == np.float32
    assert not np.allclose(out, mono)
    with pytest.raises(ParameterError, match=r"Crowd.size = 5 is out of range \[10, 100000\]"):
        Crowd(size=5)
    with pytest.raises(ParameterError, match="clap_along"):
        Crowd(clap_along="yes")
    with pytest.raises(ParameterError, match="beat_times_s"):
        Crowd(beat_times_s=[-1.0, 2.0])
    with pytest.raises(ParameterError, match=r"nothing\.mid"):
        Crowd(cues="nothing.mid")
    crowd = Crowd()
    crowd.intensity = 0.2
    assert "intensity=0.2" in repr(crowd)
    with pytest.raises(ParameterError, match="intensity"):
        crowd.intensity = 2.0


def test_low_sample_rates_render_without_numeric_warnings():
    import warnings

    audio = (np.random.default_rng(0).standard_normal((2, 8000 * 2)) * 0.1).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        output = Crowd(size=20000, whistle_rate_hz=2.0, seed=1)(audio, 8000)
    assert np.isfinite(output).all() and np.abs(output - audio).max() > 1e-4
