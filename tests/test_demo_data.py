"""Synthetic paired demo songs: layout, determinism, the live differences, the synthesiser."""

import ast
import importlib
import inspect
import json
import pkgutil

import mido
import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

import liveify.demo
from liveify.demo import load_time_map, make_demo_data
from liveify.demo.songs import compose_midi, plan_songs
from liveify.demo.synth import NoteEvent, Voice, notes_from_midi, render_notes
from liveify.errors import ParameterError


@pytest.fixture(scope="module")
def demo_set(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("demo")
    return outdir, make_demo_data(outdir, songs=3, duration_s=6, seed=0)


def test_layout_and_formats(demo_set):
    outdir, written = demo_set
    assert len(written) == 3
    for index, (studio, live, midi) in enumerate(written, start=1):
        title = studio.stem[3:]
        assert studio == outdir / "studio" / f"{index:02d} {title}.wav"
        assert live == outdir / "live" / f"{index:02d} {title} (Live).wav"
        assert midi == outdir / "midi" / f"{index:02d} {title}.mid"
        assert live.with_suffix(".json").is_file()
        studio_info, live_info = soundfile.info(str(studio)), soundfile.info(str(live))
        assert (studio_info.samplerate, studio_info.channels) == (44100, 2)
        assert studio_info.frames == 6 * 44100
        assert (live_info.samplerate, live_info.channels) == (44100, 2)
        audio, _ = soundfile.read(str(studio))
        assert np.all(np.isfinite(audio)) and 0.5 < np.abs(audio).max() <= 0.9
        # Modest panning: the channels differ, but not by much.
        assert 0.0 < np.std(audio[:, 0] - audio[:, 1]) < 0.5 * np.std(audio[:, 0])
    assert len({path.stem for path, _, _ in written}) == 3


def test_midi_files_hold_the_arrangement(demo_set):
    _, written = demo_set
    tempos, keys = set(), set()
    for _, _, midi_path in written:
        midi = mido.MidiFile(str(midi_path))
        meta = [m for m in midi.tracks[0] if m.is_meta]
        tempos.update(m.tempo for m in meta if m.type == "set_tempo")
        keys.update(m.key for m in meta if m.type == "key_signature")
        notes, length_s = notes_from_midi(midi_path)
        assert {note.channel for note in notes} == {0, 1, 2, 9}  # melody, chords, bass, drums
        assert 5.0 < length_s < 9.0
    assert len(tempos) == 3 and len(keys) == 3


def test_every_key_and_mode_makes_valid_midi():
    songs = plan_songs(24, seed=3)
    assert len({(song.root_pitch_class, song.minor) for song in songs}) == 24
    for song in songs:
        assert compose_midi(song, 4.0, np.random.default_rng(0)).length > 3.0


def test_live_json_describes_a_plausible_live_take(demo_set):
    _, written = demo_set
    for _, live, _ in written:
        info = json.loads(live.with_suffix(".json").read_text())
        time_map = load_time_map(live.with_suffix(".json"))
        assert 2.0 <= info["start_offset_s"] <= 5.0
        assert time_map(0.0) == pytest.approx(info["start_offset_s"])
        tempo_factor = np.diff(time_map.studio_s) / np.diff(time_map.live_s)
        assert np.all((tempo_factor >= 0.969) & (tempo_factor <= 1.031))
        assert tempo_factor.max() - tempo_factor.min() > 0.005  # it drifts
        live_info = soundfile.info(str(live))
        assert live_info.frames / 44100 == pytest.approx(info["duration_s"], abs=0.01)
        assert info["duration_s"] > info["song_end_s"] + 2.5  # applause after the song


def test_live_take_starts_with_a_crowd_intro(demo_set):
    _, written = demo_set
    _, live, _ = written[0]
    info = json.loads(live.with_suffix(".json").read_text())
    live_audio, rate = soundfile.read(str(live))
    intro = live_audio[: int((info["start_offset_s"] - 0.5) * rate)]
    song = live_audio[int(info["start_offset_s"] * rate) : int(info["song_end_s"] * rate)]
    # The intro is crowd only: audible, yet well below the band.
    assert 0.02 * np.std(song) < np.std(intro) < 0.7 * np.std(song)


def test_same_seed_is_byte_identical_and_a_new_seed_differs(tmp_path):
    first = make_demo_data(tmp_path / "a", songs=1, duration_s=3, seed=11)
    second = make_demo_data(tmp_path / "b", songs=1, duration_s=3, seed=11)
    other = make_demo_data(tmp_path / "c", songs=1, duration_s=3, seed=12)
    for a, b in zip(first[0], second[0], strict=True):
        assert a.read_bytes() == b.read_bytes()
    assert first[0][0].read_bytes() != other[0][0].read_bytes()
    assert first[0][1].read_bytes() != other[0][1].read_bytes()


def test_live_renderer_is_independent_of_liveify_effects():
    # The DSP-only baseline must not be right by construction (DESIGN.md): no module of the demo
    # package imports, even inside a function, anything of Liveify but the demo itself and the
    # generic helpers below (none of which imports a stage or a preset).
    allowed = ("liveify.demo", "liveify.errors", "liveify.files", "liveify.audio", "liveify.dsp")
    imported = set()
    for module in pkgutil.iter_modules(liveify.demo.__path__, "liveify.demo."):
        tree = ast.parse(inspect.getsource(importlib.import_module(module.name)))
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
    liveify_modules = {name for name in imported if name and name.startswith("liveify")}
    assert {"liveify.demo.synth", "liveify.demo.live", "liveify.files"} <= liveify_modules
    assert not {name for name in liveify_modules if not name.startswith(allowed)}


def test_synth_plays_the_right_pitch_with_an_envelope():
    rate = 22050
    voice = Voice(tilt=3.0, attack_s=0.01, decay_s=0.05, sustain_level=0.5, release_s=0.1)
    note = NoteEvent(start_s=0.1, duration_s=0.5, pitch=69, velocity=100, channel=0)
    audio = render_notes([note], {0: voice}, duration_s=1.0, sample_rate=rate)
    mono = audio.mean(axis=0)
    held = mono[int(0.2 * rate) : int(0.6 * rate)]
    spectrum = np.abs(np.fft.rfft(held * np.hanning(held.size)))
    peak_hz = np.argmax(spectrum) * rate / held.size
    assert peak_hz == pytest.approx(440.0, abs=3.0)
    assert np.all(mono[: int(0.1 * rate)] == 0)  # silent before the note
    assert np.all(mono[int(0.71 * rate) :] == 0)  # silent after the release


def test_invalid_arguments(tmp_path):
    with pytest.raises(ParameterError, match="songs"):
        make_demo_data(tmp_path, songs=0)
    with pytest.raises(ParameterError, match="duration"):
        make_demo_data(tmp_path, duration_s=0.5)


def test_cli_demo_data(tmp_path):
    from liveify.cli import main

    result = CliRunner().invoke(
        main, ["demo-data", str(tmp_path / "out"), "--songs", "2", "--duration", "3", "--seed", "4"]
    )
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out" / "studio").glob("*.wav"))) == 2
    assert len(list((tmp_path / "out" / "live").glob("*(Live).wav"))) == 2
    assert len(list((tmp_path / "out" / "midi").glob("*.mid"))) == 2
    assert "liveify train" in result.output
