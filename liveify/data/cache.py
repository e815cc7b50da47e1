"""On-disk cache of aligned mel pairs: compressed `.npz`, keyed by file contents and settings.

A key is the SHA-256 of both files' bytes plus every setting that shapes the cached arrays, so a
changed recording or config is a miss that rebuilds. Files are written atomically and read with
`allow_pickle=False`; an unreadable entry is deleted and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from liveify.errors import DataError

#: Bump when the layout of cached arrays changes; old entries then miss and are rebuilt.
CACHE_FORMAT_VERSION = 2
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


def atomic_replace(path: Path, write) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_HIGH_BYTES, _LOW_BYTES = ".f16high", ".f16low"


def _split_byte_planes(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Store each float16 array as two byte planes: sign/exponent bytes and mantissa bytes.

    Apart, the high bytes of a mel deflate to ~30 % while the low bytes are noise (~91 %), so
    `_write_npz` stores the low plane uncompressed: about the size of deflating everything, at
    half the time to load. Lossless.
    """
    out = {}
    for name, value in arrays.items():
        if value.dtype == np.float16 and value.ndim >= 1:
            bits = np.ascontiguousarray(value, dtype=np.float16).view(np.uint16)
            out[name + _HIGH_BYTES] = (bits >> 8).astype(np.uint8)
            out[name + _LOW_BYTES] = (bits & 0xFF).astype(np.uint8)
        else:
            out[name] = value
    return out


def _join_byte_planes(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Inverse of `_split_byte_planes`."""
    out = {}
    for name, value in arrays.items():
        if name.endswith(_LOW_BYTES):
            continue
        if name.endswith(_HIGH_BYTES):
            base = name[: -len(_HIGH_BYTES)]
            low = arrays[base + _LOW_BYTES]
            if value.dtype != np.uint8 or low.dtype != np.uint8 or value.shape != low.shape:
                raise ValueError(f"bad byte planes for {base}")
            bits = value.astype(np.uint16)
            bits <<= 8
            bits |= low
            out[base] = bits.view(np.float16)
        else:
            out[name] = value
    return out


def _write_npz(stream, arrays: dict[str, np.ndarray]) -> None:
    """An `.npz` (what np.savez_compressed writes, readable by np.load with allow_pickle=False)
    with every member deflated except the incompressible mantissa planes."""
    with zipfile.ZipFile(stream, mode="w", allowZip64=True) as archive:
        for name, value in arrays.items():
            member = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            stored = name.endswith(_LOW_BYTES)
            member.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            with archive.open(member, mode="w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(value), allow_pickle=False)


class DigestIndex:
    """Content digests of files, remembered per (path, size, mtime) in `file-digests.json`.

    A reload then does not re-read the audio; any change to a file's size or modification time
    re-hashes it.
    """

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
        """Content digest of `path`, from the index when its size and mtime are unchanged."""
        resolved = Path(path).resolve()
        try:
            stat = resolved.stat()
        except OSError as error:
            raise DataError(f"{path}: cannot read ({error.strerror})") from None
        stamp = [stat.st_size, stat.st_mtime_ns]
        known = self._digests.get(str(resolved))
        if isinstance(known, list) and known[:2] == stamp:
            return known[2]
        digest = file_digest(resolved)
        self._digests[str(resolved)] = [*stamp, digest]
        text = json.dumps(self._digests, sort_keys=True).encode("utf-8")
        atomic_replace(self.folder / _DIGEST_INDEX, lambda stream: stream.write(text))
        return digest


class PairCache:
    """A folder of cached aligned pairs (content digests memoised by `DigestIndex`).

    >>> cache = PairCache("~/.cache/liveify/pairs")
    >>> key = cache.key(studio, live, {"mel": mel_config.to_dict()})
    >>> arrays = cache.load(key)  # None on a miss
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
            arrays = _join_byte_planes(arrays)
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
        payload = _split_byte_planes(payload)
        payload["_format_version"] = np.asarray(CACHE_FORMAT_VERSION)
        atomic_replace(path, lambda stream: _write_npz(stream, payload))
        return path
