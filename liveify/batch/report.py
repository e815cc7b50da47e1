"""OUTROOT/batch-report.json: every album's status, shared by all processes writing to OUTROOT.

Array tasks (`--shard I/N`) of one catalogue write into one OUTROOT. Each process merges its
albums' rows into the report under an exclusive lock and replaces the file atomically, so the
report always holds every shard's latest rows and is never half written. Rows of albums no longer
in the catalogue are dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

from liveify import __version__
from liveify.batch.album_task import AlbumOutcome
from liveify.files import exclusive_lock, write_text_atomic

REPORT_NAME = "batch-report.json"
LOCK_NAME = ".liveify-batch.lock"
#: A long batch rewrites its report at most this often (and at the end), so a killed driver
#: leaves a recent one without rewriting a catalogue-sized file after every album.
WRITE_EVERY_S = 10.0
STATUSES = ("ok", "skipped", "failed", "busy", "pending")


def read_batch_report(output_root: Path) -> dict | None:
    try:
        report = json.loads((Path(output_root) / REPORT_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


class BatchReport:
    """This process's albums, merged into OUTROOT/batch-report.json as they finish.

    >>> report = BatchReport(Path("out"), Path("catalogue/"), ["Album"], {"preset": "club"})
    >>> report.add(AlbumOutcome("Album", "catalogue/Album", "out/Album", "club", status="ok"))
    >>> [row["album"] for row in report.write()["albums"]]  # also written now and then by add()
    ['Album']
    """

    def __init__(self, output_root: Path, catalogue: Path, album_names: Iterable[str],
                 settings: dict) -> None:  # fmt: skip
        self.output_root = Path(output_root)
        self.catalogue = str(catalogue)
        self.album_names = set(album_names)
        self.settings = settings
        self.rows: dict[str, dict] = {}
        self._written_at = time.monotonic()

    def add(self, outcome: AlbumOutcome) -> None:
        row = asdict(outcome)
        row.pop("log")
        self.rows[outcome.album] = row
        if time.monotonic() - self._written_at >= WRITE_EVERY_S:
            self.write()

    def write(self) -> dict:
        """Merge this process's rows into the file (under the lock, atomically); returns it."""
        self.output_root.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.output_root / LOCK_NAME):  # shards merge one at a time
            previous = read_batch_report(self.output_root) or {}
            rows = {
                row["album"]: row
                for row in previous.get("albums", [])
                if isinstance(row, dict) and row.get("album") in self.album_names
            }
            rows.update(self.rows)
            report = {
                "liveify_version": __version__,
                "catalogue": self.catalogue,
                "settings": self.settings,
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "summary": summarise(rows.values(), len(self.album_names)),
                "albums": [rows[name] for name in sorted(rows)],
            }
            write_text_atomic(self.output_root / REPORT_NAME, json.dumps(report, indent=2))
        self._written_at = time.monotonic()
        return report


def summarise(rows: Iterable[dict], catalogue_albums: int) -> dict:
    """Albums per status, with the catalogue's albums no process has reported yet as pending."""
    rows = list(rows)
    counts = {status: sum(row["status"] == status for row in rows) for status in STATUSES}
    counts["pending"] += max(0, catalogue_albums - len(rows))
    return {
        "albums": catalogue_albums,
        **counts,
        "audio_s": round(sum(row["audio_s"] or 0.0 for row in rows), 1),
    }


def summary_table(outcomes: Sequence[AlbumOutcome], *, all_rows_up_to: int = 40) -> list[str]:
    """The command's closing table: every album for small batches, else the ones that need a
    look (failed, busy); then one line of totals."""
    shown = outcomes
    if len(outcomes) > all_rows_up_to:
        shown = [outcome for outcome in outcomes if outcome.status in ("failed", "busy")]
    rows = [("album", "status", "tracks", "audio s", "wall s", "attempts", "note")]
    for outcome in shown:
        note = outcome.errors[0] if outcome.errors else ""
        rows.append((outcome.album[:40], outcome.status, str(outcome.tracks),
                     f"{outcome.audio_s:.1f}", f"{outcome.wall_s:.1f}", str(outcome.attempts),
                     note[:100]))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in rows] if len(rows) > 1 else []  # fmt: skip
    counts = {status: sum(o.status == status for o in outcomes) for status in STATUSES}
    totals = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
    audio_s = sum(outcome.audio_s for outcome in outcomes)
    lines.append(f"{len(outcomes)} albums: {totals}; {audio_s:.0f} s of audio")
    return lines
