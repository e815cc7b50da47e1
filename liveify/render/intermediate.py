"""A rendered track waiting for mastering: its float32 blocks, in memory while the render's
budget lasts, then in a file of the render's private work folder.

An album's first pass renders every track before the album gain is known, so the raw renders
are kept until the second pass. Short albums stay in memory (no disk round trip); long ones
spill to disk block by block, so memory stays bounded whatever the album's length.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

#: Bytes of rendered audio an album render keeps in memory (~12 minutes of 44.1 kHz stereo).
MEMORY_BUDGET_BYTES = 256 << 20


class MemoryBudget:
    """Bytes that parallel tracks may still keep in memory (thread-safe)."""

    def __init__(self, total_bytes: int = MEMORY_BUDGET_BYTES):
        self._left = total_bytes
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            if size > self._left:
                return False
            self._left -= size
            return True


class Intermediate:
    """One track's rendered (2, frames) float32 blocks, in order.

    >>> intermediate = Intermediate(Path("."), MemoryBudget())
    >>> intermediate.append(block)
    >>> intermediate.close()
    >>> [block.shape for block in intermediate.blocks()]
    [(2, 4410)]
    """

    def __init__(self, work_dir: Path, budget: MemoryBudget):
        self._work_dir = work_dir
        self._budget = budget
        self._held: list[np.ndarray | int] = []  # an array in memory, or its frames in the file
        self._file: Path | None = None
        self._writer: BinaryIO | None = None

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=np.float32)
        if self._writer is None and self._budget.take(block.nbytes):
            self._held.append(block)  # stages hand out fresh arrays: no copy needed
            return
        if self._writer is None:
            handle, name = tempfile.mkstemp(suffix=".f32", dir=self._work_dir)
            self._writer = os.fdopen(handle, "wb")
            self._file = Path(name)
        # Raw float32, channel after channel: the file lives only in the private work folder.
        block.tofile(self._writer)
        self._held.append(block.shape[1])

    def close(self) -> None:
        """Finish writing (call once after the last block)."""
        if self._writer is not None:
            self._writer.close()

    def blocks(self) -> Iterator[np.ndarray]:
        """The blocks as appended, as fresh arrays the caller may change in place."""
        with open(self._file, "rb") if self._file else contextlib.nullcontext() as reader:
            for held in self._held:
                if isinstance(held, np.ndarray):
                    yield held.copy()
                else:
                    assert reader is not None, "frames held in the file, but no file"
                    yield np.fromfile(reader, dtype=np.float32, count=2 * held).reshape(2, held)
