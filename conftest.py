"""Doctests: the `>>>` examples in liveify/ and README.md run with the test suite.

Each example runs in a fresh temporary folder holding the files examples name (`song.flac`,
`model.onnx`, `album/`, `catalogue/Album/`, `cues.mid`), with the names a user would have at hand: `liveify`, `np`,
`pedalboard`, `Path`, `audio` (two seconds of music-like stereo float32 at `sample_rate`, 44.1 kHz)
and `block` (its first tenth of a second).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

BUNDLED_MODEL = Path(__file__).parent / "liveify" / "models" / "demo.onnx"


def _write_cues(path: Path) -> None:
    """A crowd cue file: applause (note 60) at 1 s, on a 120 bpm beat grid."""
    import mido

    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000)])
    track += [mido.Message("note_on", note=60, velocity=100, time=960),
              mido.Message("note_off", note=60, velocity=0, time=480)]  # fmt: skip
    mido.MidiFile(tracks=[track], ticks_per_beat=480).save(path)


@pytest.fixture(autouse=True)
def doctest_folder(request):
    if not isinstance(request.node, DoctestItem):
        return  # the tests in tests/ ask for their own folders
    tmp_path = request.getfixturevalue("tmp_path")
    import numpy as np
    import pedalboard
    import soundfile as sf

    import liveify
    from tests.helpers import tone_mix

    sample_rate = 44100
    audio = tone_mix(2.0, sample_rate)
    request.getfixturevalue("monkeypatch").chdir(tmp_path)
    sf.write("song.flac", audio.T, sample_rate)
    for album in ("album", "catalogue/Album"):
        (tmp_path / album).mkdir(parents=True)
        sf.write(f"{album}/01 Song.flac", audio.T, sample_rate)
    shutil.copy(BUNDLED_MODEL, "model.onnx")
    _write_cues(tmp_path / "cues.mid")
    request.getfixturevalue("doctest_namespace").update(
        liveify=liveify,
        np=np,
        pedalboard=pedalboard,
        Path=Path,
        audio=audio,
        sample_rate=sample_rate,
        block=audio[:, : sample_rate // 10],
        path="song.flac",
    )
