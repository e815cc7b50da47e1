"""Album mastering: the loudness target is met, peaks stay under the ceiling, hot tracks are
contained, and the gain-only mode behaves as before."""

import json
import re

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from liveify.presets import load_preset
from tests.helpers import render, true_peak_db


@pytest.fixture
def album_with_a_hot_track(tmp_path, write_track):
    folder = tmp_path / "album"
    write_track("1 Quiet.wav", seconds=3.0, folder=folder, seed=1)
    write_track("2 Also Quiet.wav", seconds=3.0, folder=folder, seed=2)
    write_track("3 Calm.wav", seconds=3.0, folder=folder, seed=3)
    # A broken-loud file: full-scale noise, some 25 LU louder than the others.
    noise = np.random.default_rng(4).uniform(-1, 1, (44100 * 3, 2)).astype(np.float32)
    sf.write(folder / "4 Broken Loud.wav", noise, 44100, subtype="FLOAT")
    return folder


def measured(report):
    meter = pyloudnorm.Meter(44100)
    outputs = {}
    for track in report["tracks"]:
        audio, _ = sf.read(track["output"])
        outputs[track["input"].rsplit("/", 1)[-1]] = audio
    album = meter.integrated_loudness(np.concatenate(list(outputs.values())))
    per_track = {name: meter.integrated_loudness(audio) for name, audio in outputs.items()}
    peaks = {name: true_peak_db(audio, axis=0) for name, audio in outputs.items()}
    return album, per_track, peaks


@pytest.fixture
def transparent_pa_preset(tmp_path):
    """The club with a PA that neither compresses nor saturates: a hot file stays hot."""
    text = load_preset("club").to_toml()
    for key, value in [("compressor_ratio", "1.0"), ("drive_db", "0.0"),
                       ("limiter_threshold_db", "0.0")]:  # fmt: skip
        text = re.sub(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.MULTILINE)
    path = tmp_path / "transparent.toml"
    path.write_text(text)
    return path


def test_a_hot_track_does_not_drag_the_album_down(
    album_with_a_hot_track, transparent_pa_preset, tmp_path
):
    out = tmp_path / "out"
    result = render(album_with_a_hot_track, "-o", out, "-p", transparent_pa_preset)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    album, per_track, peaks = measured(report)
    assert album == pytest.approx(-14.0, abs=0.5)
    assert max(peaks.values()) <= -1.0
    assert [hot["input"].rsplit("/", 1)[-1] for hot in report["loudness"]["hot_tracks"]] == [
        "4 Broken Loud.wav"
    ]
    assert "hot track turned down" in result.output
    # The others sit within 3 LU of where they sit in the album without the hot track (without
    # the trim the album gain would put them some 20 LU lower: issue 10 saw -27 to -31 LUFS).
    without = tmp_path / "without hot"
    without.mkdir()
    for track in album_with_a_hot_track.glob("[123] *.wav"):
        (without / track.name).symlink_to(track)
    assert (
        render(without, "-o", tmp_path / "out-without", "-p", transparent_pa_preset).exit_code == 0
    )
    _, alone, _ = measured(json.loads((tmp_path / "out-without" / "report.json").read_text()))
    for name, lufs in alone.items():
        assert lufs - 3.0 < per_track[name] <= lufs + 0.1, (per_track, alone)
    rows = {t["input"].rsplit("/", 1)[-1]: t for t in report["tracks"]}
    assert rows["4 Broken Loud.wav"]["gain_db"] < rows["1 Quiet.wav"]["gain_db"] - 1.0
    # The report's own figures are the files' figures.
    for name, row in rows.items():
        assert row["lufs"] == pytest.approx(per_track[name], abs=0.1)
        assert row["true_peak_db"] == pytest.approx(peaks[name], abs=0.1)


def test_heavy_limiting_is_named_in_a_warning(tmp_path, write_track):
    folder = tmp_path / "album"
    write_track("1 Song.wav", seconds=3.0, folder=folder)
    out = tmp_path / "out"
    # A high target drives the limiter hard on this track's plucks.
    result = render(folder, "-o", out, "-p", "club", "--target-lufs", "-6")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    (row,) = report["tracks"]
    assert row["max_gain_reduction_db"] > 6.0
    assert "warning:" in result.output and "1 Song.wav" in result.output
    _, _, peaks = measured(report)
    assert max(peaks.values()) <= -1.0


def test_gain_only_keeps_relative_levels_and_the_ceiling(album_with_a_hot_track, tmp_path):
    out = tmp_path / "out"
    result = render(album_with_a_hot_track, "-o", out, "-p", "club", "--no-limiter")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    _, _, peaks = measured(report)
    assert max(peaks.values()) <= -1.0
    assert report["loudness"]["mastering"] == "gain-only"
    assert all(t["max_gain_reduction_db"] == 0.0 for t in report["tracks"])
