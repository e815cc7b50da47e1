"""Album rendering end to end through the CLI, on short generated tracks."""

import hashlib
import json
import re
import subprocess
import sys

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from click.testing import CliRunner
from scipy.signal import resample_poly

from liveify.cli import main
from liveify.presets import load_preset
from liveify.render.workspace import LOCK_NAME
from tests import helpers
from tests.helpers import true_peak_db


def render(*args):
    return helpers.render(*args, model=True)


@pytest.fixture
def album(tmp_path, write_track):
    folder = tmp_path / "My Album"
    write_track("10 Finale.wav", seconds=2.0, folder=folder, seed=3)
    write_track("2 Ballad.flac", seconds=1.5, folder=folder, seed=2, channels=1, sample_rate=48000)
    write_track("1 Opener.wav", seconds=2.5, folder=folder, seed=1, subtype="PCM_16")
    return folder


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_album_renders_in_natural_order_at_album_loudness(album):
    before = digest(album)
    result = render(album, "--preset", "club", "--no-model")
    assert result.exit_code == 0, result.output
    out = album.parent / "My Album-live"
    report = json.loads((out / "report.json").read_text())
    names = [t["input"].rsplit("/", 1)[-1] for t in report["tracks"]]
    assert names == ["1 Opener.wav", "2 Ballad.flac", "10 Finale.wav"]
    assert report["preset"] == "club" and report["model"] is None
    assert all(t["status"] == "ok" and t["error"] is None for t in report["tracks"])
    preset = load_preset("club")
    album_audio = []
    for track, seconds, rate in zip(
        report["tracks"], [2.5, 1.5, 2.0], [44100, 48000, 44100], strict=True
    ):
        audio, sample_rate = sf.read(track["output"])
        assert sample_rate == rate and audio.shape[1] == 2  # mono rendered as stereo
        expected = (
            round(preset.lead_in_s * rate) + round(seconds * rate) + round(preset.tail_s * rate)
        )
        assert abs(len(audio) - expected) <= 2
        assert np.isfinite(audio).all()
        assert true_peak_db(audio, axis=0) <= -1.0 + 0.1
        album_audio.append(resample_poly(audio, 44100, rate, axis=0) if rate != 44100 else audio)
    album_lufs = pyloudnorm.Meter(44100).integrated_loudness(np.concatenate(album_audio))
    assert album_lufs == pytest.approx(-14.0, abs=0.5)
    assert report["loudness"]["album_lufs"] == pytest.approx(-14.0, abs=0.25)
    assert digest(album) == before  # inputs never modified
    assert "album gain" in result.output


def test_resume_renders_a_deleted_output_again_with_the_album_gain(album, tmp_path):
    out = tmp_path / "out"
    assert render(album, "-o", out, "--no-model", "-p", "club").exit_code == 0
    first = json.loads((out / "report.json").read_text())
    ballad = (out / "2 Ballad.wav").read_bytes()
    (out / "2 Ballad.wav").unlink()
    stamp = (out / "1 Opener.wav").stat().st_mtime_ns
    result = render(album, "-o", out, "--no-model", "-p", "club")
    assert result.exit_code == 0, result.output
    assert "resume: keeping 2 finished outputs" in result.output
    report = json.loads((out / "report.json").read_text())
    assert [t["status"] for t in report["tracks"]] == ["skipped", "ok", "skipped"]
    assert (out / "1 Opener.wav").stat().st_mtime_ns == stamp
    assert report["loudness"].get("reused_from_previous_run") is True, result.output
    assert (out / "2 Ballad.wav").read_bytes() == ballad  # the same bytes as the full render
    # Kept tracks are reported with their measurements, as in the run that made them.
    for before, after in zip(first["tracks"], report["tracks"], strict=True):
        assert after["lufs"] == before["lufs"] and after["true_peak_db"] == before["true_peak_db"]
    # A rerun that keeps everything keeps the album gain in the report, for later partial reruns.
    assert render(album, "-o", out, "--no-model", "-p", "club").exit_code == 0
    (out / "2 Ballad.wav").unlink()
    assert render(album, "-o", out, "--no-model", "-p", "club").exit_code == 0
    assert (out / "2 Ballad.wav").read_bytes() == ballad
    render(album, "-o", out, "--no-model", "-p", "club", "--force")
    report = json.loads((out / "report.json").read_text())
    assert [t["status"] for t in report["tracks"]] == ["ok", "ok", "ok"]


@pytest.mark.parametrize(
    ("changed", "why"),
    [(["-p", "arena"], "preset content"), (["--target-lufs", "-16"], "target_lufs -14.0 -> -16.0"),
     (["--seed", "3"], "seed"), (["--no-limiter"], "mastering limiter -> gain-only")],
)  # fmt: skip
def test_resume_renders_again_whatever_was_made_with_other_settings(album, tmp_path, changed, why):
    out = tmp_path / "out"
    assert render(album, "-o", out, "--no-model", "-p", "club").exit_code == 0
    result = render(album, "-o", out, "--no-model", "-p", "club", *changed)
    assert result.exit_code == 0, result.output
    assert f"re-rendering 3 (3 changed: {why})" in result.output
    report = json.loads((out / "report.json").read_text())
    assert [t["status"] for t in report["tracks"]] == ["ok", "ok", "ok"]
    assert "reused_from_previous_run" not in report["loudness"]


def test_an_edited_preset_file_is_recorded_and_its_edit_renders_again(album, tmp_path):
    preset_file = tmp_path / "my.toml"
    preset_file.write_text(load_preset("club").to_toml())
    out = tmp_path / "out"
    assert render(album, "-o", out, "--no-model", "-p", preset_file).exit_code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["preset"] == "club" and report["preset_file"] == str(preset_file.resolve())
    preset_file.write_text(re.sub(r"rt60_s = [0-9.]+", "rt60_s = 1.234", preset_file.read_text()))
    result = render(album, "-o", out, "--no-model", "-p", preset_file)
    assert "3 changed: preset content" in result.output, result.output


def test_a_changed_input_file_is_rendered_again(album, tmp_path, write_track):
    out = tmp_path / "out"
    assert render(album, "-o", out, "--no-model", "-p", "club").exit_code == 0
    write_track("1 Opener.wav", seconds=2.5, folder=album, seed=9, subtype="PCM_16")
    result = render(album, "-o", out, "--no-model", "-p", "club")
    report = json.loads((out / "report.json").read_text())
    assert [t["status"] for t in report["tracks"]] == ["ok", "skipped", "skipped"]
    assert "1 changed: input file" in result.output


def test_bad_tracks_are_reported_and_the_album_goes_on(album, tmp_path):
    (album / "3 Empty.wav").write_bytes(b"")
    (album / "4 Text.mp3").write_text("not audio")
    nan_audio = np.zeros((4410, 2), np.float32)
    nan_audio[100] = np.nan
    sf.write(album / "5 Broken.wav", nan_audio, 44100, subtype="FLOAT")
    out = tmp_path / "out"
    result = render(album, "-o", out, "--no-model", "-p", "club")
    assert result.exit_code == 1
    report = json.loads((out / "report.json").read_text())
    by_name = {t["input"].rsplit("/", 1)[-1]: t for t in report["tracks"]}
    assert by_name["1 Opener.wav"]["status"] == "ok"
    for name, cause in [
        ("3 Empty.wav", "empty"),
        ("4 Text.mp3", "not readable"),
        ("5 Broken.wav", "NaN"),
    ]:
        assert by_name[name]["status"] == "error"
        assert name in by_name[name]["error"] and cause in by_name[name]["error"]
        assert not (out / name).with_suffix(".wav").exists()
    assert sorted(p.name for p in out.iterdir()) == [
        LOCK_NAME,
        "1 Opener.wav",
        "10 Finale.wav",
        "2 Ballad.wav",
        "report.json",
    ]


def test_playlist_order_concert_file_and_flac_output(album, tmp_path):
    playlist = tmp_path / "set.m3u"
    playlist.write_text("#EXTM3U\nMy Album/10 Finale.wav\nMy Album/1 Opener.wav\n")
    out, concert = tmp_path / "out", tmp_path / "concert.flac"
    result = render(
        playlist,
        "-o",
        out,
        "--no-model",
        "-p",
        "club",
        "--format",
        "flac",
        "--bit-depth",
        "16",
        "--concert",
        concert,
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert [t["output"].rsplit("/", 1)[-1] for t in report["tracks"]] == [
        "10 Finale.flac",
        "1 Opener.flac",
    ]
    assert sf.info(out / "1 Opener.flac").subtype == "PCM_16"
    joined = sum(sf.info(t["output"]).frames for t in report["tracks"])
    assert sf.info(concert).frames == joined


def test_refuses_to_write_into_the_input_folder_and_dry_run_writes_nothing(album, tmp_path):
    result = render(album, "-o", album, "--no-model")
    assert result.exit_code == 2 and "refusing to write into the input folder" in result.output
    result = render(album, "-o", tmp_path / "plan", "--no-model", "--dry-run")
    assert result.exit_code == 0 and "1 Opener.wav" in result.output
    assert not (tmp_path / "plan").exists()


def test_float_flac_is_refused_before_rendering(album, tmp_path):
    result = render(album, "-o", tmp_path / "out", "--no-model", "--format", "flac",
                    "--bit-depth", "32f")  # fmt: skip
    assert result.exit_code == 2 and "flac holds 16- or 24-bit samples" in result.output
    assert not (tmp_path / "out").exists()


def test_unknown_preset_is_a_one_line_error(album):
    result = render(album, "--preset", "moon-base")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "moon-base" in result.output


def test_interrupt_leaves_no_partial_files(album, tmp_path, monkeypatch):
    import liveify.render.album as render_module

    original = render_module.render_track
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(render_module, "render_track", interrupted)
    out = tmp_path / "out"
    result = render(album, "-o", out, "--no-model", "-p", "club")
    assert result.exit_code != 0
    assert [p.name for p in out.iterdir()] == [LOCK_NAME]  # the lock file stays, nothing else


def test_render_path_never_imports_torch(album, tmp_path):
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "import liveify\n"
        "from liveify.cli import main\n"
        f"result = CliRunner().invoke(main, ['render', r'{album}', '-o', r'{tmp_path / 'o'}',"
        " '--no-progress', '-p', 'club'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = [m for m in ('torch', 'lightning', 'whisper') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_parallel_jobs_and_seeds_are_deterministic(album, tmp_path):
    outputs = {}
    for name, extra in [("one", []), ("two", ["--jobs", "2"]), ("seeded", ["--seed", "7"])]:
        result = render(album, "-o", tmp_path / name, "--no-model", "-p", "club", *extra)
        assert result.exit_code == 0, result.output
        outputs[name] = sf.read(tmp_path / name / "1 Opener.wav")[0]
    np.testing.assert_array_equal(outputs["one"], outputs["two"])
    assert np.abs(outputs["one"] - outputs["seeded"]).max() > 1e-3  # another crowd


def test_output_sample_rate_option_resamples(album, tmp_path):
    result = render(album, "-o", tmp_path / "out", "--no-model", "-p", "club",
                    "--sample-rate", "32000", "--bit-depth", "32f")  # fmt: skip
    assert result.exit_code == 0, result.output
    preset = load_preset("club")
    info = sf.info(tmp_path / "out" / "2 Ballad.wav")
    assert info.samplerate == 32000 and info.subtype == "FLOAT"
    expected_s = preset.lead_in_s + 1.5 + preset.tail_s
    assert info.frames == pytest.approx(expected_s * 32000, abs=2)


def test_concert_path_is_checked_before_rendering(album, tmp_path):
    for concert, cause in [(tmp_path / "set.mp3", "must end in .wav or .flac"),
                           (album / "1 Opener.wav", "would overwrite an input")]:  # fmt: skip
        before = digest(album)
        result = render(album, "-o", tmp_path / "out", "--no-model", "-p", "club",
                        "--concert", concert)  # fmt: skip
        assert result.exit_code == 2 and cause in result.output
        assert digest(album) == before
        assert not (tmp_path / "out").exists()


def test_an_interrupted_second_pass_resumes_with_the_same_album_gain(album, tmp_path, monkeypatch):
    import liveify.render.master as render_module

    out = tmp_path / "out"
    original = render_module.master_track
    written = []

    def interrupted(result, gain_db, settings):
        if written:
            raise KeyboardInterrupt
        written.append(result)
        return original(result, gain_db, settings)

    monkeypatch.setattr(render_module, "master_track", interrupted)
    assert render(album, "-o", out, "--no-model", "-p", "club").exit_code != 0
    provisional = json.loads((out / "report.json").read_text())
    assert [t["status"] for t in provisional["tracks"]] == ["ok", "pending", "pending"]
    monkeypatch.setattr(render_module, "master_track", original)
    assert render(album, "-o", out, "--no-model", "-p", "club").exit_code == 0
    report = json.loads((out / "report.json").read_text())
    assert [t["status"] for t in report["tracks"]] == ["skipped", "ok", "ok"]
    assert report["loudness"]["gain_db"] == provisional["loudness"]["gain_db"]
    assert report["loudness"]["reused_from_previous_run"] is True


def test_an_unusable_model_fails_once_before_rendering(album, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_text("not a model")
    result = render(album, "-o", tmp_path / "out", "--model", bad)
    assert result.exit_code == 1 and "bad.onnx" in result.output
    assert result.output.count("\n") == 1  # one error line, not one per track
    assert not (tmp_path / "out").exists()


def test_hidden_files_are_not_tracks_and_the_dry_run_lists_them(album, tmp_path, write_track):
    write_track(".hidden.wav", seconds=1.0, folder=album)
    (album / "._1 Opener.wav").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    result = render(album, "-o", tmp_path / "plan", "--no-model", "-p", "club", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "ignore" in result.output and "._1 Opener.wav" in result.output
    assert ".hidden.wav" in result.output and "3 tracks" in result.output
    # The dry run prints the recipe stage by stage with its parameters.
    for stage in ("1. PA", "2. crowd", "3. venue", "4. master", "rt60_s=", "true_peak_limiter"):
        assert stage in result.output
    out = tmp_path / "out"
    assert render(album, "-o", out, "--no-model", "-p", "club").exit_code == 0
    report = json.loads((out / "report.json").read_text())
    assert len(report["tracks"]) == 3 and not list(out.glob("*hidden*"))


def test_a_plugin_with_latency_keeps_every_length_exact(album, tmp_path):
    preset_file = tmp_path / "shifted.toml"
    preset_file.write_text(
        load_preset("club").to_toml()
        + '\n[[plugins]]\nbuiltin = "PitchShift"\nparameters = { semitones = 0.5 }\n'
    )
    out = tmp_path / "out"
    result = render(album, "-o", out, "--no-model", "-p", preset_file)
    assert result.exit_code == 0, result.output
    preset = load_preset(preset_file)
    for track, seconds in [("1 Opener.wav", 2.5), ("10 Finale.wav", 2.0)]:
        audio, rate = sf.read(out / track)
        assert len(audio) == round(preset.lead_in_s * rate) + round(seconds * rate) + round(
            preset.tail_s * rate
        )
        # The song is there, not the plugin's withheld silence.
        song = audio[round(preset.lead_in_s * rate) :][: round(seconds * rate)]
        assert np.sqrt(np.mean(song**2)) > 0.05


def test_exit_codes_tell_usage_errors_from_failures(album, tmp_path):
    help_text = CliRunner().invoke(main, ["--help"]).output
    assert "Exit status" in help_text and "2 for usage errors" in help_text
    assert render(album, "--preset", "moon-base").exit_code == 2  # usage: unknown preset
    assert render(album, "-o", tmp_path / "o", "--no-model", "--bit-depth", "12").exit_code == 2
    (album / "3 Broken.wav").write_bytes(b"RIFF")
    assert render(album, "-o", tmp_path / "o", "--no-model", "-p", "club").exit_code == 1
