"""The command line as a user meets it: help with examples, presets, version, one-line errors."""

import tomllib

import pytest

from liveify import __version__
from liveify.presets import load_preset
from tests.helpers import invoke


@pytest.mark.parametrize(
    "command", ["render", "presets", "demo", "demo-data", "train", "export", "eval"]
)
def test_every_command_has_help_with_examples(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output and f"liveify {command}" in result.output


def test_version():
    assert __version__ in invoke("--version").output


def test_presets_list_names_each_preset_with_a_description():
    result = invoke("presets", "list")
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert {"stadium", "arena", "theater", "club", "festival"} <= set(names)
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)


def test_presets_show_prints_the_resolved_toml_which_loads_back(tmp_path):
    result = invoke("presets", "show", "arena")
    assert result.exit_code == 0
    resolved = tomllib.loads(result.output)
    assert resolved["name"] == "arena" and "rt60_s" in resolved["venue"]
    copy = tmp_path / "my-arena.toml"
    copy.write_text(result.output)
    assert load_preset(copy) == load_preset("arena")


def test_bad_preset_file_is_one_line_naming_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('description = "x"\nmodel = false\n[venue]\nrt60_s = 400\n')
    result = invoke("presets", "show", str(bad))
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "venue.rt60_s" in result.output
