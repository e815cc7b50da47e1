"""Pairing studio and live files by normalised song name."""

from pathlib import Path

import pytest

from liveify.data.pairing import pair_recordings, song_key
from liveify.errors import DataError


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("01 Song Title.wav", "song title"),
        ("1. Song Title.flac", "song title"),
        ("01 - Song Title.mp3", "song title"),
        ("01_Song_Title.ogg", "song title"),
        ("1-03 Song Title.aiff", "song title"),
        ("Song Title (Live).wav", "song title"),
        ("Song Title [Live].wav", "song title"),
        ("Song Title - Live at Wembley 1986.wav", "song title"),
        ("Song Title (Live in Paris).wav", "song title"),
        ("07. Song Title (live version).AIF", "song title"),
        ("SONG, title!.wav", "song title"),
        ("Café Déjà Vu.wav", "cafe deja vu"),
        ("Rock & Roll.wav", "rock and roll"),
        ("1999.wav", "1999"),
        ("05 1999 (Live).wav", "1999"),
        ("Song Title (2011 Remastered).flac", "song title"),
        ("Live Forever.wav", "live forever"),
        ("Alive (Live).wav", "alive"),
    ],
)
def test_song_key_normalises_names(name, key):
    assert song_key(name) == key


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"RIFF")


def test_pairs_and_reports_unmatched_files(tmp_path):
    _touch(
        tmp_path / "studio",
        "01 Neon Harbour.wav",
        "02 Café Lights.flac",
        "03 Only In Studio.wav",
        "notes.txt",
        ".hidden.wav",
    )
    _touch(
        tmp_path / "live",
        "1. neon harbour (Live).wav",
        "Cafe Lights - Live at the Roxy.mp3",
        "Encore Jam [Live].ogg",
        "01 Neon Harbour (Live).json",
    )
    result = pair_recordings(tmp_path / "studio", tmp_path / "live")
    assert [(p.studio.name, p.live.name, p.key) for p in result.pairs] == [
        ("02 Café Lights.flac", "Cafe Lights - Live at the Roxy.mp3", "cafe lights"),
        ("01 Neon Harbour.wav", "1. neon harbour (Live).wav", "neon harbour"),
    ]
    assert [p.name for p in result.unmatched_studio] == ["03 Only In Studio.wav"]
    assert [p.name for p in result.unmatched_live] == ["Encore Jam [Live].ogg"]
    lines = result.report_lines()
    assert len(lines) == 2 and "03 Only In Studio.wav" in lines[0] and "Encore Jam" in lines[1]


def test_ambiguous_duplicates_raise_naming_both_files(tmp_path):
    _touch(tmp_path / "studio", "01 Song.wav")
    _touch(tmp_path / "live", "Song (Live).wav", "02 - song [Live].flac")
    with pytest.raises(DataError) as error:
        pair_recordings(tmp_path / "studio", tmp_path / "live")
    assert "Song (Live).wav" in str(error.value) and "02 - song [Live].flac" in str(error.value)


def test_missing_folder_is_a_data_error(tmp_path):
    _touch(tmp_path / "live", "Song.wav")
    with pytest.raises(DataError, match="not a folder"):
        pair_recordings(tmp_path / "nope", tmp_path / "live")


def test_apostrophes_do_not_split_words():
    from liveify.data.pairing import song_key

    assert song_key("03 Don't Stop.wav") == song_key("Don’t Stop (Live).flac") == "dont stop"
    assert song_key("Dont Stop - Live at Leeds.mp3") == "dont stop"


def test_titles_that_start_with_a_number_still_pair(tmp_path):
    from liveify.data.pairing import pair_recordings

    studio, live = tmp_path / "studio", tmp_path / "live"
    studio.mkdir()
    live.mkdir()
    for path in [studio / "22 Acacia Avenue.wav", studio / "03 Dont Stop.wav",
                 live / "05 22 Acacia Avenue (Live).wav", live / "Dont Stop (Live).wav",
                 live / "Encore Jam (Live).wav"]:  # fmt: skip
        path.write_bytes(b"")
    result = pair_recordings(studio, live)
    assert sorted((p.studio.name, p.live.name) for p in result.pairs) == [
        ("03 Dont Stop.wav", "Dont Stop (Live).wav"),
        ("22 Acacia Avenue.wav", "05 22 Acacia Avenue (Live).wav"),
    ]
    assert [p.name for p in result.unmatched_live] == ["Encore Jam (Live).wav"]
    assert result.unmatched_studio == []
