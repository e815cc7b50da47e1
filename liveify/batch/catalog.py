"""What a catalogue holds: its albums, each album's output folder name and preset, and shards.

A catalogue is a folder of album folders, or a manifest: a text file with one album path per
line, or a CSV file with an album column and optional preset and output-name columns. Relative
paths in a manifest are read from the manifest's own folder, as playlists do.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from liveify.audio import is_audio_file
from liveify.errors import ParameterError
from liveify.presets import list_presets
from liveify.render.inputs import PLAYLIST_EXTENSIONS, is_hidden, natural_key

#: Names of the manifest's CSV columns (a header row is optional; without it, this order).
CSV_COLUMNS = ("album", "preset", "output")
#: OUTROOT entries that are the batch's own, never an album's output folder.
RESERVED_NAMES = ("batch-report.json",)


@dataclass(frozen=True)
class CatalogueAlbum:
    """One album: where its tracks are, the name of its folder under OUTROOT, and its preset
    (None: the batch's --preset)."""

    source: Path
    name: str
    preset: str | None = None


@dataclass
class Catalogue:
    """The albums of a catalogue in catalogue order, and what a catalogue folder held that is not
    an album (with why), so nothing is dropped silently."""

    albums: list[CatalogueAlbum] = field(default_factory=list)
    ignored: list[tuple[Path, str]] = field(default_factory=list)


def read_catalogue(path: Path) -> Catalogue:
    """The albums of a catalogue folder or manifest file; refuses names that would clash."""
    path = Path(path)
    if path.is_dir():
        catalogue = _read_folder(path)
    elif path.is_file():
        lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
        rows = _csv_rows(lines, path) if path.suffix.lower() == ".csv" else _text_rows(lines)
        bundled = {name for name, _ in list_presets()} if any(row[1] for row in rows) else set()
        catalogue = Catalogue([_manifest_album(path, bundled, *row) for row in rows])
    else:
        raise ParameterError(f"{path}: no such catalogue folder or manifest file")
    if not catalogue.albums:
        raise ParameterError(f"{path}: the catalogue lists no albums")
    _check_names(catalogue.albums, path)
    return catalogue


def _read_folder(folder: Path) -> Catalogue:
    """Every visible sub-folder with audio files in it is an album, named after the folder."""
    catalogue = Catalogue()
    for entry in sorted(folder.iterdir(), key=natural_key):
        if is_hidden(entry):
            continue
        if not entry.is_dir():
            catalogue.ignored.append((entry, "a file, not an album folder"))
        elif not any(is_audio_file(p) and not is_hidden(p) for p in entry.iterdir()):
            catalogue.ignored.append((entry, "no audio files directly inside"))
        else:
            catalogue.albums.append(CatalogueAlbum(entry, entry.name))
    return catalogue


def _text_rows(lines: Sequence[str]) -> list[tuple[str, str, str]]:
    """One album path per line; blank lines and # comments skipped."""
    entries = [line.strip() for line in lines]
    return [(entry, "", "") for entry in entries if entry and not entry.startswith("#")]


def _csv_rows(lines: Sequence[str], manifest: Path) -> list[tuple[str, str, str]]:
    """(album, preset, output) of every row; a first row naming the columns is a header."""
    rows = [row for row in csv.reader(lines) if any(cell.strip() for cell in row)]
    rows = [row for row in rows if not row[0].lstrip().startswith("#")]
    header = list(CSV_COLUMNS)
    if rows and "album" in (cell.strip().lower() for cell in rows[0]):
        header = [cell.strip().lower() for cell in rows.pop(0)]
        unknown = [name for name in header if name not in CSV_COLUMNS]
        if unknown:
            raise ParameterError(
                f"{manifest}: unknown column {unknown[0]!r} in the header; "
                f"the columns are {', '.join(CSV_COLUMNS)}"
            )
    order = [header.index(name) if name in header else -1 for name in CSV_COLUMNS]
    parsed = []
    for number, row in enumerate(rows, start=1):
        if len(row) > len(header):
            raise ParameterError(
                f"{manifest}: row {number} has {len(row)} cells for {len(header)} columns "
                f"({', '.join(header)}); quote paths that contain commas"
            )
        cells = [row[index].strip() if 0 <= index < len(row) else "" for index in order]
        parsed.append((cells[0], cells[1], cells[2]))
    return parsed


def _manifest_album(
    manifest: Path, bundled_presets: set[str], source: str, preset: str, name: str
) -> CatalogueAlbum:
    """A manifest row as an album; a preset that is not a bundled name is a file path."""
    if not source:
        raise ParameterError(f"{manifest}: a row has no album path")
    album = Path(source).expanduser()
    album = album if album.is_absolute() else manifest.parent / album
    if preset and preset not in bundled_presets:
        preset_path = Path(preset).expanduser()
        preset = str(preset_path if preset_path.is_absolute() else manifest.parent / preset_path)
    return CatalogueAlbum(album, name or default_album_name(album), preset or None)


def default_album_name(source: Path) -> str:
    """An album's output folder name: the folder's name, or a playlist's or file's stem."""
    source = Path(source)
    return (
        source.stem
        if source.suffix.lower() in PLAYLIST_EXTENSIONS or source.is_file()
        else source.name
    )


def _check_names(albums: Sequence[CatalogueAlbum], catalogue: Path) -> None:
    """Every album gets a folder of its own: one plain, visible name, distinct ignoring case
    (case-insensitive filesystems would merge "Live" and "live")."""
    seen: dict[str, CatalogueAlbum] = {}
    for album in albums:
        name = album.name
        if (
            not name.strip()
            or name in (".", "..")
            or name.startswith(".")
            or re.search(r"[/\\\x00]", name)
            or name in RESERVED_NAMES
        ):
            raise ParameterError(
                f"{catalogue}: {album.source} has the output name {name!r}, which is not a plain "
                "folder name; give it another in the manifest's output column"
            )
        other = seen.get(name.casefold())
        if other is not None:
            raise ParameterError(
                f"{catalogue}: {other.source} and {album.source} would both be written to "
                f"OUTROOT/{name}; give one another name in a CSV manifest's output column"
            )
        seen[name.casefold()] = album


def check_output_root(catalogue_path: Path, output_root: Path) -> None:
    """Refuse an OUTROOT inside a catalogue folder: its album folders would be read as albums."""
    catalogue_path, output_root = Path(catalogue_path).resolve(), Path(output_root).resolve()
    if catalogue_path.is_dir() and output_root.is_relative_to(catalogue_path):
        raise ParameterError(
            f"-o {output_root} is inside the catalogue folder {catalogue_path}; "
            "choose an output folder outside it"
        )


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` -> (I, N), 0 <= I < N; I counts from 0, as Slurm's $SLURM_ARRAY_TASK_ID does for
    `--array=0-(N-1)`."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise ParameterError(
            f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. --shard 0/4 ... --shard 3/4"
        )
    return int(match[1]), int(match[2])


def shard_albums(albums: Sequence[CatalogueAlbum], index: int, count: int) -> list[CatalogueAlbum]:
    """Shard `index` of `count`: every count-th album in order of output name, so the N shards
    of one catalogue cover it exactly once, whatever order a manifest lists the albums in, and
    shard sizes differ by at most one album."""
    ordered = sorted(albums, key=lambda album: (album.name.casefold(), album.name))
    return ordered[index::count]
