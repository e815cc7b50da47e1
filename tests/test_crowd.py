"""Crowd: determinism, level under the music, applause, clap-along, MIDI cues, streaming, spectra."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from liveify.analysis import TrackAnalysis
from liveify.errors import ParameterError
from liveify.plugins.crowd import CUE_NOTES, Crowd, read_cues
from tests.signals import drum_pattern, soft_chords

SR = 22050


def tone(seconds: float, level_db: float, *, channels: int = 2) -> np.ndarray:
    """A steady chord (no onsets) at `level_db` dBFS RMS."""
    t = np.arange(int(seconds * SR)) / SR
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    chord *= 10 ** (level_db / 20) / np.sqrt(np.mean(chord**2))
    return np.tile(chord.astype(np.float32), (channels, 1))


def silence(seconds: float, channels: int = 2) -> np.ndarray:
    return np.zeros((channels, int(seconds * SR)), dtype=np.float32)


def level_db(audio: np.ndarray, start_s: float, stop_s: float, rate: float = SR) -> float:
    part = audio[:, int(start_s * rate) : int(stop_s * rate)]
    return float(10 * np.log10(np.mean(part.astype(np.float64) ** 2) + 1e-20))


def crowd_only(crowd: Crowd, audio: np.ndarray, rate: float = SR, **kwargs) -> np.ndarray:
    return crowd(audio, rate, **kwargs) - audio


def octave_power(audio: np.ndarray, rate: float, centre_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float64), axis=-1)) ** 2
    frequencies = np.fft.rfftfreq(audio.shape[-1], 1.0 / rate)
    return float(
        spectrum[
            ..., (frequencies >= centre_hz / 2**0.5) & (frequencies < centre_hz * 2**0.5)
        ].sum()
    )


def test_same_seed_same_crowd_other_seed_other_crowd():
    audio = np.concatenate([tone(2, -20), silence(4)], axis=1)
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


@pytest.mark.parametrize("size", [80, 50000])
def test_applause_builds_after_the_last_note_then_dies_away_to_silence(size):
    audio = np.concatenate([tone(5, -20), silence(9)], axis=1)
    added = crowd_only(Crowd(size=size, swell_s=0.0, level_db=-10, applause_s=6.0), audio)
    seconds = np.arange(5.0, 14.0, 0.25)
    levels = np.array([level_db(added, s, s + 0.25) for s in seconds])
    peak_s = seconds[np.argmax(levels)] - 5.0
    # It builds for 0.5-1.5 s after the last note rather than jumping up with it ...
    assert levels[0] < levels.max() - 6.0
    assert 0.4 <= peak_s <= 2.5
    # ... at about level_db below the music it follows ...
    assert -16.0 < levels.max() - level_db(audio, 0.0, 5.0) < -6.0
    # ... and decays by more than 20 dB, ending in silence within applause_s.
    assert level_db(added, 10.6, 11.0) < levels.max() - 20.0
    assert np.abs(added[:, int(11.05 * SR) :]).max() < 10 ** (-60 / 20)


def test_applause_holds_through_a_quiet_outro_and_dies_away_after_it():
    # The last note (within 20 dB of the playing level) ends at 4 s; a quiet outro plays on.
    audio = np.concatenate([tone(4, -20), tone(6, -45), silence(7)], axis=1)
    added = crowd_only(Crowd(size=500, swell_s=0.0, applause_s=5.0), audio)
    during_outro = level_db(added, 6.0, 10.0)
    assert during_outro > level_db(added, 2.0, 4.0) + 4.0
    assert level_db(added, 9.0, 10.0) > during_outro - 3.0
    # Silent 5 s after the recording falls silent.
    assert np.abs(added[:, int(15.05 * SR) :]).max() < 10 ** (-60 / 20)


def test_a_preset_fits_the_applause_into_its_tail(tmp_path):
    from liveify.presets import load_preset

    path = tmp_path / "short.toml"
    path.write_text("tail_s = 3.0\n[venue]\nrt60_s = 2.0\n[crowd]\napplause_s = 9.0\n")
    short = load_preset(path)
    assert short.crowd["applause_s"] == 9.0  # as written; the stage gets what fits
    assert short.build_stages()[1].applause_s == pytest.approx(2.0)
    assert (
        load_preset("stadium").build_stages()[1].applause_s
        == load_preset("stadium").crowd["applause_s"]
    )


def test_lead_in_swell_fades_in_from_silence():
    audio = silence(4)
    calm = crowd_only(Crowd(swell_s=0.0), audio)
    swelling = crowd_only(Crowd(swell_s=6.0), audio)
    assert level_db(swelling, 0.5, 3.0) > level_db(calm, 0.5, 3.0) + 10.0
    # A concert joins tracks: the crowd starts from silence, not with a jump.
    assert level_db(swelling, 0.0, 0.05) < level_db(swelling, 1.0, 1.5) - 20.0


def test_lead_in_is_scaled_to_the_music_that_follows():
    def lead_in_db(music_db: float, **kwargs) -> float:
        audio = np.concatenate([silence(3), tone(3, music_db)], axis=1)
        return level_db(crowd_only(Crowd(swell_s=6.0, **kwargs), audio), 0.5, 2.5)

    # Measured on the call's audio (a whole track) ...
    assert lead_in_db(-10.0) - lead_in_db(-30.0) == pytest.approx(20.0, abs=2.0)
    # ... or given.
    assert lead_in_db(-30.0, music_level_db=-10.0) == pytest.approx(lead_in_db(-10.0), abs=1.0)
    with pytest.raises(ParameterError, match="music_level_db"):
        Crowd(music_level_db=float("nan"))


def clap_along_part(track: np.ndarray, rate: float, **settings) -> np.ndarray:
    """What clap_along=True adds to a crowd (the rest of the crowd is the same either way)."""
    settings = (
        dict(
            size=2000, intensity=1.0, cheer_rate_hz=0, whistle_rate_hz=0, swell_s=0.0, margin_db=6.0
        )
        | settings
    )
    on = crowd_only(Crowd(clap_along=True, **settings), track, rate)
    off = crowd_only(Crowd(clap_along=False, **settings), track, rate)
    return on - off


def test_clap_along_joins_a_steady_drum_pattern_after_a_few_bars():
    rate = 44100
    drums = np.tile(drum_pattern(120, 24.0), (2, 1))
    claps = clap_along_part(drums, rate)
    beats = TrackAnalysis(rate)
    beats.add(drums)
    beat_times = beats.beat_times_s()
    # Nothing for the first bars; then claps, on the beats rather than between them.
    assert level_db(claps, 0.0, 6.0, rate) < -100.0
    later = beat_times[beat_times > 12.0][:-1]
    power = np.mean(claps.astype(np.float64) ** 2, axis=0)
    on = np.concatenate([power[int((b - 0.03) * rate) : int((b + 0.08) * rate)] for b in later])
    off = np.concatenate([power[int((b + 0.15) * rate) : int((b + 0.35) * rate)] for b in later])
    assert 10 * np.log10(on.mean() / (off.mean() + 1e-20)) > 10.0


def test_no_clap_along_in_soft_or_drumless_music():
    rate = 44100
    chords = np.tile(soft_chords(30.0, level_db=-18.0), (2, 1))
    assert np.abs(clap_along_part(chords, rate)).max() == 0.0


def test_claps_of_a_crowd_spread_over_tens_of_milliseconds():
    rate = 44100
    beats_s = np.arange(1.0, 9.0, 0.5)
    audio = np.tile(tone(10, -20)[0], (2, 1))
    audio = np.stack(
        [np.interp(np.arange(10 * rate) / rate, np.arange(audio.shape[1]) / SR, ch) for ch in audio]
    ).astype(np.float32)
    claps = clap_along_part(audio, rate, size=50000, beat_times_s=beats_s)
    power = np.mean(claps.astype(np.float64) ** 2, axis=0)
    widths_ms = []
    for beat in beats_s[2:-1]:
        around = power[int((beat - 0.2) * rate) : int((beat + 0.25) * rate)]
        cumulative = np.cumsum(around) / around.sum()
        widths_ms.append(
            1000 * (np.searchsorted(cumulative, 0.9) - np.searchsorted(cumulative, 0.1)) / rate
        )
    # One clap lasts a few ms; a stadium's claps on one beat spread over tens of ms.
    assert 20.0 < np.median(widths_ms) < 150.0


def test_given_beats_are_clapped_on_every_beat_while_music_plays():
    audio = tone(9, -20)
    beats_s = np.arange(1.25, 9.0, 0.5)
    settings = dict(size=200, intensity=1.0, cheer_rate_hz=0, whistle_rate_hz=0, swell_s=0.0)

    def beat_contrast_db(added: np.ndarray, grid_s: np.ndarray) -> float:
        power = np.mean(added.astype(np.float64) ** 2, axis=0)
        on = np.concatenate(
            [power[int((b - 0.03) * SR) : int((b + 0.06) * SR)] for b in grid_s if b > 2]
        )
        off = np.concatenate(
            [power[int((b + 0.15) * SR) : int((b + 0.35) * SR)] for b in grid_s if b > 2]
        )
        return float(10 * np.log10(on.mean() / off.mean()))

    on_beat = crowd_only(Crowd(clap_along=True, beat_times_s=beats_s, **settings), audio)
    assert beat_contrast_db(on_beat, beats_s) > 6.0
    shifted = crowd_only(Crowd(clap_along=True, beat_times_s=beats_s + 0.25, **settings), audio)
    assert beat_contrast_db(shifted, beats_s + 0.25) > 6.0 > beat_contrast_db(shifted, beats_s)


@pytest.mark.parametrize("sample_rate", [SR, 44100])
def test_beats_are_tracked_on_a_click_track(sample_rate):
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


@pytest.mark.parametrize(
    "preset, darkest_db",
    [
        ("stadium", -18.0),
        ("arena", -17.0),
        ("theater", -14.0),
        ("club", -13.0),
        ("jazz-club", -12.0),
    ],
)
def test_applause_is_dark_and_far_from_white(preset, darkest_db):
    """Real applause: 8 kHz octave 16 dB (applause) to 27 dB (large crowd) under the 1 kHz one,
    spectral flatness < 0.01."""
    from liveify.presets import load_preset

    rate = 44100
    audio = np.concatenate(
        [
            np.zeros((2, rate)),
            np.tile(tone(3, -20)[0], (2, 2))[:, : 3 * rate],
            np.zeros((2, 6 * rate)),
        ],
        axis=1,
    ).astype(np.float32)
    applause = crowd_only(load_preset(preset).build_crowd(seed=2), audio, rate)[
        :, 4 * rate : 7 * rate
    ]
    tilt_db = 10 * np.log10(octave_power(applause, rate, 8000) / octave_power(applause, rate, 1000))
    assert tilt_db < max(darkest_db, -10.0)
    frames = np.lib.stride_tricks.sliding_window_view(applause.mean(axis=0), 2048)[::512]
    spectra = np.abs(np.fft.rfft(frames * np.hanning(2048), axis=1)) ** 2 + 1e-20
    flatness = np.exp(np.mean(np.log(spectra), axis=1)) / np.mean(spectra, axis=1)
    assert np.median(flatness) < 0.05


def test_a_big_crowd_is_darker_than_a_small_one():
    rate = 44100
    audio = np.concatenate(
        [np.tile(tone(2, -20)[0], (2, 2))[:, : 2 * rate], np.zeros((2, 4 * rate))], axis=1
    ).astype(np.float32)

    def tilt_db(size: int) -> float:
        applause = crowd_only(Crowd(size=size, swell_s=0.0), audio, rate)[:, 2 * rate :]
        return 10 * np.log10(
            octave_power(applause, rate, 8000) / octave_power(applause, rate, 1000)
        )

    assert tilt_db(50000) < tilt_db(50) - 3.0


def test_streaming_without_an_analysis_applauds_when_the_music_stops():
    audio = np.concatenate([tone(5, -20), silence(7)], axis=1)
    crowd = Crowd(size=500, swell_s=0.0, level_db=-10)
    crowd.reset()
    added = (
        np.concatenate(
            [
                crowd(audio[:, s : s + 4096], SR, reset=False)
                for s in range(0, audio.shape[1], 4096)
            ],
            axis=1,
        )
        - audio
    )
    assert level_db(added, 6.5, 8.0) > level_db(added, 3.0, 5.0) + 8.0


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
    assert 1.95 <= onset_s <= 2.15
    assert level_db(added, 2.3, 3.0) > level_db(added, 0.5, 1.8) + 6.0


def test_chunked_processing_equals_one_whole_call(tmp_path):
    path = tmp_path / "cues.mid"
    write_cue_file(path)
    song = np.tile(drum_pattern(120, 14.0)[::2], (2, 1))  # 22.05 kHz
    analysis = TrackAnalysis(SR)
    analysis.add(song)
    audio = np.concatenate([silence(1), song, silence(5)], axis=1)
    crowd = Crowd(
        size=800,
        clap_along=True,
        whistle_rate_hz=3,
        cheer_rate_hz=10,
        cues=path,
        seed=5,
        applause_s=4.0,
    )
    crowd.prepare_track(analysis, offset_s=1.0)
    whole = crowd(audio, SR)
    pieces, start = [], 0
    crowd.reset()
    for size in (1, 700, 511, 1, 33333, 4096, 8191, audio.shape[1]):
        pieces.append(crowd(audio[:, start : start + size], SR, reset=False))
        start += size
    chunked = np.concatenate(pieces, axis=1)
    assert chunked.shape == whole.shape
    assert np.max(np.abs(chunked - whole)) < 1e-5
    # Everything happened: clap-along, applause after the song.
    assert level_db(whole - audio, 16.0, 17.0) > level_db(whole - audio, 10.0, 11.0) - 10.0


def test_a_whole_call_analyses_its_own_audio_like_a_prepared_one():
    audio = np.concatenate(
        [silence(1), np.tile(drum_pattern(120, 10.0)[::2], (2, 1)), silence(4)], axis=1
    )
    analysis = TrackAnalysis(SR)
    analysis.add(audio)
    prepared = Crowd(clap_along=True, seed=1)
    prepared.prepare_track(analysis)
    np.testing.assert_array_equal(prepared(audio, SR), Crowd(clap_along=True, seed=1)(audio, SR))


def test_channels_are_kept_and_parameters_validated():
    mono = tone(1, -20, channels=1)
    out = Crowd()(mono, SR)
    assert out.shape == mono.shape and out.dtype == np.float32
    assert not np.allclose(out, mono)
    with pytest.raises(ParameterError, match=r"Crowd.size = 5 is out of range \[10, 100000\]"):
        Crowd(size=5)
    with pytest.raises(ParameterError, match="clap_along"):
        Crowd(clap_along="yes")
    with pytest.raises(ParameterError, match="applause_s"):
        Crowd(applause_s=0.2)
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
