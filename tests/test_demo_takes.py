"""Demo live takes of real studio recordings: layout, excerpts, the live take, pairing, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from liveify.data.pairing import pair_recordings
from liveify.demo import load_time_map, make_live_takes
from liveify.errors import DataError, ParameterError
from tests.helpers import tone_mix


@pytest.fixture
def recordings(tmp_path):
    """Two 'studio recordings' at other rates and layouts, a hidden file and a non-audio file."""
    folder = tmp_path / "album"
    folder.mkdir()
    soundfile.write(folder / "Song One.wav", tone_mix(8.0, 48000).T, 48000)
    soundfile.write(folder / "Song Two.flac", tone_mix(5.0, 22050, channels=1, seed=1)[0], 22050)
    soundfile.write(folder / ".hidden.wav", tone_mix(1.0, 44100).T, 44100)
    (folder / "notes.txt").write_text("not audio")
    return folder


def test_pairs_are_written_in_name_order_and_pair_up(recordings, tmp_path):
    out = tmp_path / "takes"
    written = make_live_takes(recordings, out, seed=1)
    assert [(s.name, live.name) for s, live in written] == [
        ("01 Song One.wav", "01 Song One (Live).wav"),
        ("02 Song Two.wav", "02 Song Two (Live).wav"),
    ]
    pairing = pair_recordings(out / "studio", out / "live")
    assert len(pairing.pairs) == 2 and not pairing.unmatched_studio
    for studio_path, live_path in written:
        studio, rate = soundfile.read(studio_path, always_2d=True)
        live, live_rate = soundfile.read(live_path, always_2d=True)
        assert rate == live_rate == 44100 and studio.shape[1] == live.shape[1] == 2
        info = json.loads(live_path.with_suffix(".json").read_text())
        assert info["source"].endswith(("Song One.wav", "Song Two.flac"))
        # The band starts after the crowd intro and ends before the applause.
        intro = int(info["start_offset_s"] * rate)
        assert info["song_end_s"] < info["duration_s"] == pytest.approx(len(live) / rate, abs=0.01)
        assert 0.99 < info["tempo_stretch"] < 1.01
        time_map = load_time_map(live_path.with_suffix(".json"))
        assert time_map(0.0) == pytest.approx(info["start_offset_s"])

        # Live is the studio through a PA, a hall and an audience: the same plucks every half
        # second (50 ms level envelopes correlate), but not the same samples.
        def envelope(signal, rate=rate):
            frames = signal[: rate * 4 // 2205 * 2205, 0].reshape(-1, 2205)
            return np.sqrt(np.mean(frames**2, axis=1))

        song = live[intro : intro + len(studio)]
        assert np.corrcoef(envelope(song), envelope(studio))[0, 1] > 0.5
        assert np.abs(song[: rate * 4] - studio[: rate * 4]).max() > 0.1


def test_excerpts_are_seeded_and_the_same_seed_is_identical(recordings, tmp_path):
    first = make_live_takes(recordings, tmp_path / "a", excerpt_s=3.0, seed=5)
    again = make_live_takes(recordings, tmp_path / "b", excerpt_s=3.0, seed=5)
    other = make_live_takes(recordings, tmp_path / "c", excerpt_s=3.0, seed=6)
    for (a, a_live), (b, b_live), (c, _) in zip(first, again, other, strict=True):
        assert a.read_bytes() == b.read_bytes() and a_live.read_bytes() == b_live.read_bytes()
        assert soundfile.info(a).frames == 3 * 44100
        assert a.read_bytes() != c.read_bytes()


def test_bad_folders_and_files_are_data_errors(recordings, tmp_path):
    with pytest.raises(DataError, match="no audio files"):
        make_live_takes(tmp_path / "album" / "..", tmp_path / "x")  # tmp_path holds no audio
    with pytest.raises(ParameterError, match="excerpt"):
        make_live_takes(recordings, tmp_path / "x", excerpt_s=1.0)
    (recordings / "Broken.wav").write_bytes(b"RIFF not really")
    with pytest.raises(DataError, match=r"wrote 2 pairs; unreadable: Broken\.wav"):
        make_live_takes(recordings, tmp_path / "y")


def test_cli_demo_data_from_a_studio_folder(recordings, tmp_path):
    from liveify.cli import main

    args = ["demo-data", str(tmp_path / "out"), "--studio-dir", str(recordings), "--excerpt", "4"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out" / "live").glob("*(Live).wav"))) == 2
    assert "02 Song Two.wav  <->  02 Song Two (Live).wav" in result.output
