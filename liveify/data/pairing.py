"""Pair studio and live recordings of the same songs by normalised file name.

"01 - Café del Mar.flac" and "1. Cafe Del Mar (Live at Wembley).wav" share the key "cafe del mar";
files without a partner are reported, never dropped silently.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from liveify.audio import AUDIO_EXTENSIONS
from liveify.errors import DataError

logger = logging.getLogger(__name__)

# "(Live)", "[Live at Wembley 1986]", "(Live in Paris)", "(Live Version)", "(Remastered 2011)"
_BRACKETED_TAG = re.compile(
    r"[\(\[\{]\s*(?:live|remaster(?:ed)?|\d{4}\s+remaster(?:ed)?)\b[^\)\]\}]*[\)\]\}]"
)
# "- Live", "- Live at Wembley", "– Live in Paris 1999", "- Remastered 2009"
_DASHED_TAG = re.compile(r"\s[-–—]\s*(?:live|remaster(?:ed)?|\d{4}\s+remaster(?:ed)?)\b.*$")
# "01 ", "1. ", "01 - ", "01_", "1-01 " (disc-track), "A1 " is left alone (vinyl sides are rare).
_TRACK_NUMBER = re.compile(r"^\s*(?:\d{1,2}\s*[-.]\s*)?\d{1,3}\s*(?:[-._)]+\s*|\s+)(?=\S)")
_NON_ALPHANUMERIC = re.compile(r"[^0-9a-z]+")
_APOSTROPHES = re.compile(r"['’‘`´]")


class Pair(NamedTuple):
    """A studio file, the live file of the same song, and the key they share."""

    studio: Path
    live: Path
    key: str


@dataclass
class PairingResult:
    """Matched pairs (sorted by key) and the files of each side that found no partner."""

    pairs: list[Pair] = field(default_factory=list)
    unmatched_studio: list[Path] = field(default_factory=list)
    unmatched_live: list[Path] = field(default_factory=list)

    def report_lines(self) -> list[str]:
        """One line per unmatched file, for the CLI to print."""
        lines = [
            f"no live recording matches studio file {path.name}" for path in self.unmatched_studio
        ]
        lines += [
            f"no studio recording matches live file {path.name}" for path in self.unmatched_live
        ]
        return lines


def song_key(file_name: str, *, keep_leading_number: bool = False) -> str:
    """Normalised song name of a file: no extension, track number, live/remaster tag, case,
    accents or punctuation.

    >>> song_key("01 - Café del Mar (Live at Wembley).flac")
    'cafe del mar'
    """
    name = Path(file_name).name
    stem, extension = name.rsplit(".", 1) if "." in name else (name, "")
    if "." + extension.lower() not in AUDIO_EXTENSIONS:
        stem = name
    text = unicodedata.normalize("NFKD", stem)
    text = "".join(char for char in text if not unicodedata.combining(char)).casefold()
    text = text.replace("&", " and ")
    # "Don't", "Don’t" and "Dont" are one word: apostrophes vanish instead of splitting it.
    text = _APOSTROPHES.sub("", text)
    text = _DASHED_TAG.sub("", _BRACKETED_TAG.sub(" ", text))
    stripped = _TRACK_NUMBER.sub("", text, count=1)
    # A title that is only a number ("1999") keeps it.
    if not keep_leading_number and _NON_ALPHANUMERIC.sub("", stripped):
        text = stripped
    return " ".join(_NON_ALPHANUMERIC.sub(" ", text).split())


def list_audio_files(folder: str | Path) -> list[Path]:
    """Audio files directly inside `folder` (hidden and temporary files skipped), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder of audio files")
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.name.startswith(".")
        and path.suffix.lower() in AUDIO_EXTENSIONS
    )


def _keyed(files: list[Path], side: str) -> dict[str, Path]:
    keyed: dict[str, list[Path]] = {}
    for path in files:
        keyed.setdefault(song_key(path.name), []).append(path)
    clashes = {key: paths for key, paths in keyed.items() if len(paths) > 1 or not key}
    if clashes:
        key, paths = next(iter(sorted(clashes.items())))
        if not key:
            raise DataError(
                f"{side} file {paths[0].name} has no song name left after normalising; rename it"
            )
        names = ", ".join(repr(path.name) for path in paths)
        raise DataError(
            f"{side} files {names} all normalise to the song name {key!r}; rename or remove all but one"
        )
    return {key: paths[0] for key, paths in keyed.items()}


def pair_recordings(studio_dir: str | Path, live_dir: str | Path) -> PairingResult:
    """Match the audio files of `studio_dir` and `live_dir` by `song_key`.

    Raises DataError when two files on one side share a key (the pairing would be a guess).
    """
    studio = _keyed(list_audio_files(studio_dir), "studio")
    live = _keyed(list_audio_files(live_dir), "live")
    pairs = [
        Pair(studio.pop(key), live.pop(key), key) for key in sorted(studio.keys() & live.keys())
    ]
    pairs += _pairs_by_title_number(studio, live)
    return PairingResult(
        pairs=sorted(pairs, key=lambda pair: pair.key),
        unmatched_studio=sorted(studio.values()),
        unmatched_live=sorted(live.values()),
    )


def _pairs_by_title_number(studio: dict[str, Path], live: dict[str, Path]) -> list[Pair]:
    """Pair leftovers whose titles start with a number that one side took for a track number.

    "22 Acacia Avenue.wav" (key "acacia avenue") and "05 22 Acacia Avenue (Live).wav" (key
    "22 acacia avenue") match once the studio name keeps its leading number. Only unambiguous
    matches are made; matched files are removed from `studio` and `live`.
    """
    pairs = []
    for keep_on_studio_side in (True, False):
        side, other = (studio, live) if keep_on_studio_side else (live, studio)
        kept = {}
        for key, path in side.items():
            kept.setdefault(song_key(path.name, keep_leading_number=True), []).append(key)
        for alternative, keys in kept.items():
            if len(keys) == 1 and alternative in other and alternative != keys[0]:
                own = side.pop(keys[0])
                partner = other.pop(alternative)
                studio_path, live_path = (own, partner) if keep_on_studio_side else (partner, own)
                pairs.append(Pair(studio_path, live_path, alternative))
    return pairs


def pair_or_fail(studio_dir: str | Path, live_dir: str | Path) -> PairingResult:
    """`pair_recordings`, logging each unmatched file, and a DataError when nothing pairs."""
    pairing = pair_recordings(studio_dir, live_dir)
    for line in pairing.report_lines():
        logger.info(line)
    if not pairing.pairs:
        raise DataError(
            f"no studio/live pairs: none of the {len(pairing.unmatched_studio)} files in "
            f"{studio_dir} matches a name among the {len(pairing.unmatched_live)} files in "
            f"{live_dir} (files pair by song name; track numbers and '(Live)' are ignored)"
        )
    return pairing
