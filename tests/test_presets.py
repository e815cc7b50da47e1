"""Presets: bundled files load, build and differ; round trip; validation errors name their key."""

from __future__ import annotations

import numpy as np
import pedalboard
import pytest

from liveify.errors import PresetError
from liveify.plugins.crowd import Crowd
from liveify.plugins.pa import pa_colouring
from liveify.plugins.venue import VenueReverb
from liveify.presets import Preset, list_presets, load_preset

SR = 22050
BUNDLED = [name for name, _ in list_presets()]


def test_the_promised_presets_are_bundled_with_one_line_descriptions():
    assert {"stadium", "arena", "theater", "club", "festival"} <= set(BUNDLED)
    for name, description in list_presets():
        assert description and "\n" not in description, name
        assert load_preset(name).name == name


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_preset_builds_and_processes_audio(name):
    preset = load_preset(name)
    stages = preset.build_stages(seed=1)
    assert isinstance(stages[0], pedalboard.Pedalboard)
    assert isinstance(stages[1], Crowd) and isinstance(stages[2], VenueReverb)
    assert stages[2].rt60_s == preset.venue["rt60_s"] and stages[1].size == preset.crowd["size"]
    assert stages[1].seed == 1 and stages[2].seed == 1
    stages[1].beat_times_s = [0.25, 0.75]  # skip beat tracking (tested in test_crowd.py)
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((2, SR))).astype(np.float32)
    for stage in stages:
        audio = stage(audio, SR)
    assert audio.shape == (2, SR) and audio.dtype == np.float32
    assert np.all(np.isfinite(audio))
    assert name in repr(preset)


def test_presets_are_different_venues():
    presets = {name: load_preset(name) for name in BUNDLED}
    venue = {name: p.venue for name, p in presets.items()}
    crowd = {name: p.crowd for name, p in presets.items()}
    assert venue["stadium"]["rt60_s"] > venue["arena"]["rt60_s"] > venue["club"]["rt60_s"]
    assert venue["cathedral"]["rt60_s"] > venue["stadium"]["rt60_s"]
    assert crowd["festival"]["size"] > crowd["stadium"]["size"] > crowd["arena"]["size"]
    assert crowd["arena"]["size"] > crowd["theater"]["size"] > crowd["club"]["size"]
    assert presets["club"].pa["drive_db"] > presets["theater"].pa["drive_db"]
    # No two presets share their venue, crowd or PA settings.
    for section in ("venue", "crowd", "pa"):
        values = [sorted(getattr(p, section).items()) for p in presets.values()]
        assert all(values.count(v) == 1 for v in values), section
    # ... and the impulse responses they make are audibly different lengths.
    lengths = {
        name: VenueReverb(**venue[name]).impulse_response(SR).shape[1]
        for name in ("club", "theater", "stadium")
    }
    assert (
        lengths["club"] * 1.8 < lengths["theater"] and lengths["theater"] * 1.8 < lengths["stadium"]
    )


@pytest.mark.parametrize("name", BUNDLED)
def test_to_toml_round_trips(name, tmp_path):
    preset = load_preset(name)
    text = preset.to_toml()
    path = tmp_path / "copy.toml"
    path.write_text(text, encoding="utf-8")
    again = load_preset(path)
    assert again == preset
    # Fully resolved: every stage parameter is written, including ones the file left out.
    for key in ("early_level_db", "compressor_attack_ms", "murmur_db", "width"):
        assert f"\n{key} = " in text


def test_a_preset_file_by_path_fills_in_defaults(tmp_path):
    path = tmp_path / "my-venue.toml"
    path.write_text('description = "Mine."\n[venue]\nrt60_s = 3.5\n[crowd]\nsize = 42\n')
    preset = load_preset(str(path))
    assert preset.name == "my-venue" and preset.description == "Mine."
    assert preset.venue["rt60_s"] == 3.5 and preset.crowd["size"] == 42
    assert preset.venue["mix"] == VenueReverb.mix.default
    assert preset.model is True and preset.plugins == ()
    assert preset.build_venue().rt60_s == 3.5 and preset.build_crowd().size == 42


def test_a_preset_builds_each_stage_from_its_table():
    club = load_preset("club")
    reverb, crowd = club.build_venue(seed=3), club.build_crowd(seed=3, intensity=0.1)
    assert {name: getattr(reverb, name) for name in club.venue} == club.venue
    assert reverb.seed == 3 and crowd.seed == 3
    assert crowd.intensity == 0.1 and crowd.size == club.crowd["size"]
    assert crowd.applause_s == club.crowd["applause_s"]  # as written; build_stages fits the tail
    noise = np.random.default_rng(0).normal(0, 0.1, (2, SR)).astype(np.float32)
    coloured = club.build_pa()(noise, SR)
    np.testing.assert_array_equal(coloured, pa_colouring(**club.pa)(noise, SR))
    assert not np.allclose(coloured, pa_colouring()(noise, SR))  # the table, not the defaults


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[venue]\nrt60_s = 40\n", r"bad\.toml: venue\.rt60_s = 40 is out of range \[0\.1, 12\]"),
        ("[venue]\nrt60 = 2.0\n", r"bad\.toml: unknown key venue\.rt60; did you mean 'rt60_s'\?"),
        ('[crowd]\nsize = "big"\n', r"bad\.toml: crowd\.size = 'big' must be an integer in"),
        ("[crowd]\nsize = 1000.5\n", r"crowd\.size = 1000\.5 must be an integer"),
        ("[crowd]\nclap_along = 1\n", r"crowd\.clap_along = 1 must be true or false"),
        ("[pa]\ndrive_db = -3\n", r"pa\.drive_db = -3 is out of range \[0, 24\]"),
        ("tail_s = -1\n", r"bad\.toml: tail_s = -1 is out of range"),
        ('model = "yes"\n', r"bad\.toml: model = 'yes' must be true or false"),
        ("colour = 3\n", r"bad\.toml: unknown key colour"),
        ("venue = 3\n", r"bad\.toml: venue must be a table"),
        ("[venue]\nseed = 3\n", r"unknown key venue\.seed"),
        ("[venue\n", r"bad\.toml: not valid TOML"),
        ('description = """two\nlines"""\n', r"description = .* must be a one-line string"),
        ("[[plugins]]\nparameters = {}\n", r"plugins\[0\]\.path must be"),
        (
            '[[plugins]]\npath = "missing/Reverb.vst3"\n',
            r"plugins\[0\]\.path: plugin file .*missing/Reverb\.vst3 does not exist",
        ),
        ('[[plugins]]\npath = "x.vst3"\nmix = 1\n', r"unknown key plugins\[0\]\.mix"),
    ],
)
def test_validation_errors_name_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PresetError, match=message):
        load_preset(path)


def test_unknown_names_and_missing_files_are_explained(tmp_path):
    with pytest.raises(PresetError, match=r"unknown preset 'moon'.*stadium"):
        load_preset("moon")
    with pytest.raises(PresetError, match=r"nowhere\.toml: preset file does not exist"):
        load_preset(tmp_path / "nowhere.toml")


def test_plugins_resolve_relative_to_the_preset_and_round_trip(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "Fake.vst3").write_bytes(b"not really a plugin")
    path = tmp_path / "with-plugin.toml"
    path.write_text(
        '[[plugins]]\npath = "plugins/Fake.vst3"\nparameters = { mix = 0.5, mode = "wide" }\n'
    )
    preset = load_preset(path)
    (plugin,) = preset.plugins
    assert plugin.path == str((folder / "Fake.vst3").resolve())
    assert plugin.parameters == {"mix": 0.5, "mode": "wide"}
    assert Preset.from_toml(preset.to_toml()) == preset
    # Loading it is pedalboard's job; a file that is not a plugin is a PresetError naming it.
    with pytest.raises(PresetError, match=r"Fake\.vst3"):
        preset.build_stages()
