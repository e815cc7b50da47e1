"""On-disk cache of aligned mel pairs: `.npz` files keyed by file contents and settings.

A key is the SHA-256 of both files' bytes plus every setting that shapes the cached arrays, so a
changed recording or config is a miss that rebuilds; file digests are memoised per file stamp
(`DigestIndex`). Files are written atomically and read with `allow_pickle=False`; an unreadable
entry (bad zip, CRC mismatch, wrong format version) is deleted and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from pathlib import Path

import numpy as np

from liveify.errors import DataError
from liveify.files import atomic_path, write_bytes_atomic

#: Bump when the layout of cached arrays changes; old entries then miss and are rebuilt.
CACHE_FORMAT_VERSION = 3
_DIGEST_INDEX = "file-digests.json"


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except OSError as error:
        raise DataError(f"{path}: cannot read for hashing ({error.strerror})") from None


def settings_digest(settings: dict) -> str:
    """Stable hash of a JSON-serialisable settings dict (key order does not matter)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_npz(stream, arrays: dict[str, np.ndarray]) -> None:
    """An `.npz` (readable by np.load with allow_pickle=False) whose float16 members are stored
    uncompressed and every other member deflated.

    Reload speed is the point of the cache: inflating a mel costs ~3 ms per MB on a laptop core
    (a 4-minute pair has 5.3 MB of mels; inflating even just their exponent bytes kept a reload
    near 1/65 of a fresh preparation), while stored members cost one read and a CRC. The price is
    disk: float16 mels only deflate to 70-80 %, exponent/mantissa byte planes to ~66 %, so a
    4-minute pair takes 5.3 MB instead of 3.5 MB.
    """
    with zipfile.ZipFile(stream, mode="w", allowZip64=True) as archive:
        for name, value in arrays.items():
            value = np.asanyarray(value)
            member = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            stored = value.dtype == np.float16
            member.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            with archive.open(member, mode="w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, value, allow_pickle=False)


class DigestIndex:
    """Content digests of files, remembered per file stamp in `file-digests.json`.

    A reload then does not re-read the audio (hashing two 4-minute WAVs costs more than loading
    their cached mels). The stamp is what git and make-style tools trust: size, mtime, ctime and
    inode. Any write changes ctime (which cannot be set back, unlike mtime), and replacing a file
    changes its inode, so a changed file is re-hashed. The trade-off: a file edited in place
    within the same timestamp tick in which it was hashed would keep its stamp, so a digest taken
    less than `RACY_MARGIN_NS` (2 s on filesystems with whole-second times) after the file's last
    change is never trusted, only recomputed (git's "racy clean" rule).
    """

    #: Stamps are trusted only when the file changed at least this long before it was hashed.
    RACY_MARGIN_NS = 50_000_000
    COARSE_RACY_MARGIN_NS = 2_000_000_000

    def __init__(self, folder: str | Path):
        self.folder = Path(folder).expanduser()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DataError(
                f"cannot create cache folder {self.folder} ({error.strerror})"
            ) from None
        try:
            with open(self.folder / _DIGEST_INDEX, encoding="utf-8") as handle:
                index = json.load(handle)
        except (OSError, ValueError):
            index = {}
        self._digests = index if isinstance(index, dict) else {}

    def digest(self, path: str | Path) -> str:
        """Content digest of `path`, from the index when its stamp is unchanged and was not racy."""
        resolved = Path(path).resolve()
        try:
            stat = resolved.stat()
        except OSError as error:
            raise DataError(f"{path}: cannot read ({error.strerror})") from None
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]
        known = self._digests.get(str(resolved))
        if (
            isinstance(known, list)
            and len(known) == 6
            and known[:4] == stamp
            and self._settled(stat, known[4])
        ):
            return known[5]
        hashed_at_ns = time.time_ns()
        digest = file_digest(resolved)
        self._digests[str(resolved)] = [*stamp, hashed_at_ns, digest]
        text = json.dumps(self._digests, sort_keys=True).encode("utf-8")
        write_bytes_atomic(self.folder / _DIGEST_INDEX, text)
        return digest

    def _settled(self, stat: os.stat_result, hashed_at_ns) -> bool:
        """Whether the file's last change was long enough before `hashed_at_ns` to trust its stamp."""
        changed_ns = max(stat.st_mtime_ns, stat.st_ctime_ns)
        whole_seconds = (
            stat.st_mtime_ns % 1_000_000_000 == 0 and stat.st_ctime_ns % 1_000_000_000 == 0
        )
        margin_ns = self.COARSE_RACY_MARGIN_NS if whole_seconds else self.RACY_MARGIN_NS
        return isinstance(hashed_at_ns, int) and hashed_at_ns - changed_ns >= margin_ns


class PairCache:
    """A folder of cached aligned pairs (content digests memoised by `DigestIndex`).

    >>> from liveify.mel import MelConfig
    >>> cache = PairCache("pair-cache")  # the CLI's default: ~/.cache/liveify/pairs
    >>> studio, live = Path("song.flac"), Path("album/01 Song.flac")
    >>> key = cache.key(studio, live, {"mel": MelConfig().to_dict()})
    >>> cache.load(key) is None  # a miss
    True
    """

    def __init__(self, cache_dir: str | Path):
        self.digests = DigestIndex(cache_dir)
        self.cache_dir = self.digests.folder
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"<PairCache {self.cache_dir} ({self.hits} hits, {self.misses} misses)>"

    def digest(self, path: str | Path) -> str:
        return self.digests.digest(path)

    def key(self, studio_path: str | Path, live_path: str | Path, settings: dict) -> str:
        """Cache key of a pair under `settings` (every config that shapes the cached arrays)."""
        parts = [
            f"format={CACHE_FORMAT_VERSION}",
            f"studio={self.digest(studio_path)}",
            f"live={self.digest(live_path)}",
            f"settings={settings_digest(settings)}",
        ]
        return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:40]

    def path_for(self, key: str) -> Path:
        return self.cache_dir / f"pair-{key}.npz"

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under `key`, or None (a miss). Corrupt entries are deleted."""
        path = self.path_for(key)
        if not path.exists():
            self.misses += 1
            return None
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
            if int(arrays.pop("_format_version", -1)) != CACHE_FORMAT_VERSION:
                raise ValueError("format version mismatch")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            path.unlink(missing_ok=True)
            self.misses += 1
            return None
        self.hits += 1
        return arrays

    def save(self, key: str, arrays: dict[str, np.ndarray]) -> Path:
        """Store `arrays` (no object arrays) under `key`, atomically."""
        path = self.path_for(key)
        payload = {name: np.asarray(value) for name, value in arrays.items()}
        for name, value in payload.items():
            if value.dtype == object:
                raise DataError(
                    f"cache entry {name!r} is an object array; only plain arrays are cached"
                )
        payload["_format_version"] = np.asarray(CACHE_FORMAT_VERSION)
        with atomic_path(path) as temporary, open(temporary, "wb") as stream:
            _write_npz(stream, payload)
        return path
