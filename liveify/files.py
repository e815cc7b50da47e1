"""Atomic file writes: a temporary file beside the target, renamed into place only when complete.

Every file Liveify writes (audio, reports, caches, checkpoints, models) goes through
`atomic_path`, so a crash or Ctrl-C leaves either the old file or the new one, never half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: New files get the permissions `open()` would give them, not mkstemp's owner-only 0600.
_NEW_FILE_MODE = 0o666 & ~_current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write to; it replaces `path` when the block ends.

    On any exception (KeyboardInterrupt included) the temporary file is removed and `path` is
    left as it was. The temporary name keeps `path`'s suffix, for writers that pick the format
    from it.

    >>> with atomic_path("out/report.json") as temporary:
    ...     size = temporary.write_text('{"tracks": 12}')
    >>> Path("out/report.json").read_text()
    '{"tracks": 12}'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}",
                                    dir=path.parent)  # fmt: skip
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, _NEW_FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive advisory lock on the file `path` (created if missing) for the block,
    waiting for other processes that hold it; on Windows, which lacks flock, no lock is taken."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
