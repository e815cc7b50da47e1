"""Album rendering end to end through the CLI, on short generated tracks."""

import hashlib
import json
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


def render(*args):
    result = CliRunner().invoke(main, ["render", "--no-progress", *map(str, args)])
    return result


def true_peak_db(audio):
    oversampled = resample_poly(audio, 4, 1, axis=0)
    return 20 * np.log10(np.abs(oversampled).max())


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
        assert true_peak_db(audio) <= -1.0 + 0.1
        album_audio.append(resample_poly(audio, 44100, rate, axis=0) if rate != 44100 else audio)
    album_lufs = pyloudnorm.Meter(44100).integrated_loudness(np.concatenate(album_audio))
    if not report["loudness"]["limited_by_true_peak"]:
        assert album_lufs == pytest.approx(-14.0, abs=0.5)
    else:
        assert album_lufs < -14.0
    assert digest(album) == before  # inputs never modified
    assert "album gain" in result.output


def test_resume_skips_finished_tracks_and_force_redoes_them(album, tmp_path):
    out = tmp_path / "out"
    assert render(album, "-o", out, "--no-model", "-p", "club").exit_code == 0
    (out / "2 Ballad.wav").unlink()
    stamp = (out / "1 Opener.wav").stat().st_mtime_ns
    result = render(album, "-o", out, "--no-model", "-p", "club")
    report = json.loads((out / "report.json").read_text())
    assert [t["status"] for t in report["tracks"]] == ["skipped", "ok", "skipped"]
    assert (out / "1 Opener.wav").stat().st_mtime_ns == stamp
    assert report["loudness"].get("reused_from_previous_run") is True, result.output
    render(album, "-o", out, "--no-model", "-p", "club", "--force")
    report = json.loads((out / "report.json").read_text())
    assert [t["status"] for t in report["tracks"]] == ["ok", "ok", "ok"]


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
    import liveify.render as render_module

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
    assert list(out.iterdir()) == []


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
    import liveify.render as render_module

    out = tmp_path / "out"
    original = render_module.write_output
    written = []

    def interrupted(result, gain_db, settings):
        if written:
            raise KeyboardInterrupt
        written.append(result)
        return original(result, gain_db, settings)

    monkeypatch.setattr(render_module, "write_output", interrupted)
    assert render(album, "-o", out, "--no-model", "-p", "club").exit_code != 0
    provisional = json.loads((out / "report.json").read_text())
    assert [t["status"] for t in provisional["tracks"]] == ["pending"] * 3
    monkeypatch.setattr(render_module, "write_output", original)
    assert render(album, "-o", out, "--no-model", "-p", "club").exit_code == 0
    report = json.loads((out / "report.json").read_text())
    assert [t["status"] for t in report["tracks"]] == ["skipped", "ok", "ok"]
    assert report["loudness"]["gain_db"] == provisional["loudness"]["gain_db"]
    assert report["loudness"]["reused_from_previous_run"] is True


def test_an_unusable_model_fails_once_before_rendering(album, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_text("not a model")
    result = render(album, "-o", tmp_path / "out", "--model", bad)
    assert result.exit_code == 2 and "bad.onnx" in result.output
    assert result.output.count("\n") == 1  # one error line, not one per track
    assert not (tmp_path / "out").exists()
