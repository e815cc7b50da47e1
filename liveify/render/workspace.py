"""The output folder of a render: one render at a time, a private work folder, the report.

A render holds an exclusive lock on `OUTDIR/.liveify-render.lock` for its whole run, so a second
render into the same folder refuses at once instead of mixing outputs. While holding it, a
render removes what an earlier render killed hard (SIGKILL, power loss) left behind: its work
folder, recognised by name and marker file, and half-written outputs, recognised by the
temporary names `liveify.files.atomic_path` gives them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from liveify.errors import OutputError
from liveify.files import write_text_atomic

LOCK_NAME = ".liveify-render.lock"
WORK_PREFIX = ".liveify-render-"
#: The file inside a work folder that marks it as Liveify's own (and safe to delete).
WORK_MARKER = "liveify-render-work-folder"
REPORT_NAME = "report.json"


def read_report(output_dir: Path) -> dict | None:
    """The previous run's report.json, or None if there is none or it is unreadable."""
    try:
        report = json.loads((output_dir / REPORT_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def write_report(output_dir: Path, report: dict) -> None:
    with writing(output_dir / REPORT_NAME):
        write_text_atomic(output_dir / REPORT_NAME, json.dumps(report, indent=2))


@contextlib.contextmanager
def writing(output: Path) -> Iterator[None]:
    """Turn a failed write (full disk, read-only folder, quota) into a one-line OutputError that
    names `output`; the atomic writers have already removed their partial file."""
    try:
        yield
    except OSError as error:
        raise OutputError(
            f"{output}: cannot be written ({error.strerror or error}); the render stops here, "
            "finished outputs and report.json are kept (free some space and run it again)"
        ) from None


def check_writable(output_dir: Path) -> None:
    """Fail before any rendering if the output folder cannot be created or written to."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir):
            pass
    except OSError as error:
        raise OutputError(
            f"{output_dir}: cannot write to the output folder ({error.strerror or error}); "
            "choose another -o/--output"
        ) from None


@contextlib.contextmanager
def exclusive_output_folder(output_dir: Path) -> Iterator[Path]:
    """Hold the folder's render lock, clean up after killed renders, and yield a fresh work
    folder inside it (removed at the end, whatever happens)."""
    check_writable(output_dir)
    with _render_lock(output_dir):
        remove_leftovers(output_dir)
        work_dir = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=output_dir))
        (work_dir / WORK_MARKER).write_text(f"pid {os.getpid()}\n")
        try:
            yield work_dir
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)


@contextlib.contextmanager
def _render_lock(output_dir: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; renders into one folder are not guarded
        yield
        return
    with open(output_dir / LOCK_NAME, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(
                f"{output_dir}: another liveify render is writing into this folder; "
                "wait for it to finish or choose another -o/--output"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def remove_leftovers(output_dir: Path) -> list[Path]:
    """Delete work folders and half-written files of earlier, killed renders (lock held)."""
    removed = []
    for entry in output_dir.iterdir():
        if entry.name.startswith(WORK_PREFIX) and (entry / WORK_MARKER).is_file():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
        elif entry.name.startswith(".") and ".partial." in entry.name and entry.is_file():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed
