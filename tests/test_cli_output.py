"""What the command line prints: log levels from -v/-q on every command, progress bars only
where a terminal shows them, the model's device in the output and in report.json."""

from __future__ import annotations

import json
import logging

import click
import pytest
from click.testing import CliRunner

from liveify.cli import main


def every_command(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from every_command(command, (*prefix, name))


def test_every_command_takes_verbose_and_quiet():
    commands = list(every_command(main))
    assert len(commands) >= 11
    for path, command in commands:
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert {"-v", "--verbose", "-q", "--quiet"} <= options, path


@pytest.fixture
def album(tmp_path, write_track):
    folder = tmp_path / "album"
    for number in (1, 2):
        write_track(f"{number} Song.wav", seconds=1.5, folder=folder, seed=number)
    return folder


def render(*args):
    return CliRunner().invoke(main, ["render", "--no-model", "-p", "club", *map(str, args)])


@pytest.mark.parametrize(
    ("flags", "level"),
    [([], logging.INFO), (["-q"], logging.WARNING), (["-v"], logging.DEBUG)],
)
def test_the_log_level_follows_quiet_and_verbose(album, tmp_path, flags, level):
    out = tmp_path / "out"
    assert render(album, "-o", out).exit_code == 0
    sorted(out.glob("*.wav"))[1].unlink()  # the rerun has a resume decision (INFO) to report
    result = render(album, "-o", out, *flags)
    assert result.exit_code == 0, result.output
    assert logging.getLogger("liveify").level == level
    resume_line = "resume: keeping 1 finished output"
    assert (resume_line in result.stderr) == (level <= logging.INFO), result.stderr
    assert ("debug: liveify.render.album: rendered" in result.stderr) == (level == logging.DEBUG)
    assert "album gain" in result.stdout  # the command's result is not a log line


def test_verbosity_before_the_subcommand_counts_too(album, tmp_path):
    out = tmp_path / "out"
    assert render(album, "-o", out).exit_code == 0
    sorted(out.glob("*.wav"))[1].unlink()
    result = CliRunner().invoke(
        main, ["-q", "render", "--no-model", "-p", "club", str(album), "-o", str(out)]
    )
    assert result.exit_code == 0 and "resume:" not in result.stderr
    assert logging.getLogger("liveify").level == logging.WARNING


def test_no_progress_escapes_unless_forced(album, tmp_path):
    quiet = render(album, "-o", tmp_path / "a")  # CliRunner's stderr is not a terminal
    assert quiet.exit_code == 0
    assert "\r" not in quiet.stderr and "\x1b[" not in quiet.stderr and "album:" not in quiet.stderr
    forced = render(album, "-o", tmp_path / "b", "--progress")
    assert forced.exit_code == 0
    assert "album:" in forced.stderr and "\r" in forced.stderr
    assert "\r" not in forced.stdout  # bars never reach stdout


def test_render_names_the_device_it_ran_on(album, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["render", str(album), "-o", str(out), "-p", "club", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert "model stage runs on CPUExecutionProvider" in result.stderr
    assert json.loads((out / "report.json").read_text())["model_provider"] == "CPUExecutionProvider"
    dsp_only = tmp_path / "dsp"
    assert render(album, "-o", dsp_only).exit_code == 0
    assert json.loads((dsp_only / "report.json").read_text())["model_provider"] is None


def test_an_explicit_cuda_request_that_cannot_run_is_an_error(album, tmp_path, monkeypatch):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", str(album), "-o", str(out), "--device", "cuda"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "liveify[gpu]" in result.stderr
    assert not any(out.glob("*.wav"))


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
def test_device_auto_falls_back_to_the_cpu_with_a_notice(album, tmp_path, monkeypatch):
    """ONNX Runtime lists CUDA but cannot start it (as on a node without a working driver)."""
    import onnxruntime

    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: providers)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", str(album), "-o", str(out), "-p", "club"])
    assert result.exit_code == 0, result.output
    assert "warning: device auto: CUDA could not start" in result.stderr
    assert json.loads((out / "report.json").read_text())["model_provider"] == "CPUExecutionProvider"


def test_a_bad_device_name_is_a_usage_error(album, tmp_path):
    result = CliRunner().invoke(main, ["render", str(album), "--device", "tpu"])
    assert result.exit_code == 2 and "tpu" in result.stderr


def test_auto_on_the_cpu_build_of_onnx_runtime_says_so_without_a_warning(
    album, tmp_path, monkeypatch
):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    result = CliRunner().invoke(
        main, ["render", str(album), "-o", str(tmp_path / "o"), "-p", "club"]
    )
    assert result.exit_code == 0, result.output
    assert "no CUDA provider in this ONNX Runtime; running on the CPU" in result.stderr
    assert "warning" not in result.stderr


def test_the_library_is_silent_until_its_program_configures_logging(tmp_path, write_track):
    import subprocess
    import sys

    album = tmp_path / "album"
    for number in (1, 2):
        write_track(f"{number} Song.wav", seconds=1.5, folder=album, seed=number)
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from liveify.presets import load_preset\n"
        "from liveify.render import RenderSettings, collect_tracks, render_album\n"
        "settings = RenderSettings(preset=load_preset('club'), output_dir=Path(sys.argv[2]),"
        " progress=False, target_lufs=-5.0)\n"  # hot: the limiter warns about both tracks
        "render_album(collect_tracks([sys.argv[1]]).tracks, settings)\n"
    )
    run = [sys.executable, "-c", script, str(album), str(tmp_path / "out")]
    silent = subprocess.run(run, capture_output=True, text=True, check=True)
    assert silent.stderr == "" and silent.stdout == ""
    configure = "import logging; logging.basicConfig(level=logging.DEBUG)\n"
    configured = subprocess.run(
        [sys.executable, "-c", configure + script, str(album), str(tmp_path / "out2")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "DEBUG:liveify.render.album:rendered" in configured.stderr
    assert configured.stderr.count("WARNING:liveify.render.album:") == 2
