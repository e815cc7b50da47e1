"""Which tracks an album render reads, in which order: folders, playlists and single files."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from liveify.audio import is_audio_file
from liveify.errors import ParameterError

PLAYLIST_EXTENSIONS = (".m3u", ".m3u8")


@dataclass
class TrackSelection:
    """The tracks to render, in order, and the files of the input folders that are not tracks."""

    tracks: list[Path] = field(default_factory=list)
    #: Hidden files (dot files, macOS AppleDouble `._*` companions) skipped in folders.
    ignored: list[Path] = field(default_factory=list)


def natural_key(path: Path) -> list:
    """Sort key that puts "2 Song" before "10 Song" (numbers compare as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def is_hidden(path: Path) -> bool:
    """Dot files, including macOS's `._Song.wav` metadata companions: never tracks."""
    return path.name.startswith(".")


def read_playlist(path: Path) -> list[Path]:
    """Tracks of an .m3u/.m3u8 playlist in its order; relative entries resolve beside it."""
    tracks = []
    for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            track = Path(entry)
            tracks.append(track if track.is_absolute() else path.parent / track)
    if not tracks:
        raise ParameterError(f"{path}: playlist lists no tracks")
    return tracks


def collect_tracks(inputs: Sequence[Path]) -> TrackSelection:
    """Expand folders (audio files in natural order), playlists (their order) and single files."""
    selection = TrackSelection()
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted((p for p in item.iterdir() if p.is_file()), key=natural_key)
            selection.ignored += [p for p in files if is_hidden(p) and is_audio_file(p)]
            found = [p for p in files if is_audio_file(p) and not is_hidden(p)]
            if not found:
                raise ParameterError(
                    f"{item}: no audio files (wav, flac, ogg, opus, mp3, aiff) found"
                )
            selection.tracks += found
        elif item.suffix.lower() in PLAYLIST_EXTENSIONS:
            selection.tracks += read_playlist(item)
        elif item.exists():
            selection.tracks.append(item)
        else:
            raise ParameterError(f"{item}: no such file or folder")
    return selection


def default_output_dir(inputs: Sequence[Path]) -> Path:
    """`<album>-live/` beside the album folder (or beside the folder of the first file)."""
    first = Path(inputs[0]).resolve()
    if first.is_dir():
        album = first
    elif first.suffix.lower() in PLAYLIST_EXTENSIONS:
        album = first.with_suffix("")
    else:
        album = first.parent
    return album.parent / f"{album.name}-live"
