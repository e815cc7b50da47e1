"""One album of a catalogue: planned in the driver, rendered in a worker, exactly as
`liveify render ALBUM -o OUTROOT/NAME` renders it (same settings, same bytes, same report.json).

The driver plans every album before it hands out any work: an album whose outputs were all made
with these settings (the album's own report.json fingerprints, checked as `render` checks them)
is finished there and then, without a task. A worker renders one album per task through
`render_album`, which holds the album folder's lock, writes every output atomically and clears
what a killed earlier attempt left behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from liveify.batch.catalog import CatalogueAlbum
from liveify.errors import LiveifyError, OutputError

#: Test-only fault injection: the first attempt of the album with this output name kills its own
#: worker process (SIGKILL, as the kernel's OOM killer would) as soon as it starts writing the
#: album's first output. The tests use it to prove that a retried album comes out byte for byte
#: as a clean run, with nothing partial left behind; never set it otherwise.
KILL_ALBUM_VARIABLE = "LIVEIFY_TEST_KILL_ALBUM"


@dataclass(frozen=True)
class BatchRenderOptions:
    """The render options shared by every album of a batch, as `liveify render` takes them (a
    manifest's preset column may replace `preset` for one album)."""

    preset: str = "stadium"
    model_path: str | None = None
    use_model: bool = True
    #: --model-strength, written into each album's preset (None: the preset's own).
    model_strength: float | None = None
    device: str = "auto"
    output_format: str = "wav"
    bit_depth: str = "24"
    sample_rate: int | None = None
    target_lufs: float = -14.0
    true_peak_ceiling_db: float = -1.0
    limiter: bool = True
    seed: int = 0
    force: bool = False
    #: GPUs each album's task asks for (fractions share a GPU); 0 leaves the model stage where
    #: `liveify render` would put it.
    gpus_per_album: float = 0.0


@dataclass(frozen=True)
class AlbumJob:
    """What a worker needs to render one album (small and picklable, for Ray and process pools)."""

    album: CatalogueAlbum
    output_dir: Path
    tracks: tuple[Path, ...]
    options: BatchRenderOptions
    audio_s: float = 0.0
    kill_on_first_attempt: bool = False


@dataclass
class AlbumOutcome:
    """One album's row of batch-report.json (attempts and wall time are the driver's to fill)."""

    album: str
    source: str
    output: str
    preset: str
    status: str = "pending"  # ok | skipped | failed | busy | pending
    tracks: int = 0
    tracks_failed: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    settings_id: str | None = None
    host: str | None = None


def album_device(options: BatchRenderOptions) -> str:
    """Where an album's model stage runs: a task granted GPUs (Ray sets CUDA_VISIBLE_DEVICES for
    it; the local engine gives each worker its share) must use CUDA, so `auto` becomes `cuda`
    there and a node without a working CUDA provider fails the album with a DeviceError instead
    of rendering on its CPU."""
    if options.gpus_per_album > 0 and options.device == "auto":
        return "cuda"
    return options.device


def album_recipe(album: CatalogueAlbum, options: BatchRenderOptions, output_dir: Path, model=None):
    """The RenderSettings and model choice `liveify render ALBUM -o OUTPUT_DIR` would use.

    `model`: a ModelChoice already resolved for this preset (the driver resolves each distinct
    preset once); None resolves it here.
    """
    from liveify.render import RenderSettings, load_render_preset, resolve_model

    preset = load_render_preset(album.preset or options.preset, options.model_strength)
    settings = RenderSettings(
        preset=preset,
        output_dir=Path(output_dir),
        output_format=options.output_format,
        bit_depth=options.bit_depth,
        sample_rate=options.sample_rate,
        target_lufs=options.target_lufs,
        true_peak_ceiling_db=options.true_peak_ceiling_db,
        limiter=options.limiter,
        force=options.force,
        seed=options.seed,
        progress=False,
        device=album_device(options),
    )
    if model is None:
        model_path = Path(options.model_path) if options.model_path else None
        model = resolve_model(model_path, options.use_model, preset)
    return settings, model


def render_album_job(job: AlbumJob, attempt: int) -> AlbumOutcome:
    """Render one album in this (worker) process; failures become the outcome's status."""
    from liveify.render import render_album

    outcome = new_outcome(job.album, job.output_dir, job.options)
    outcome.host = socket.gethostname()
    started = time.perf_counter()
    if job.kill_on_first_attempt and attempt == 1:
        _kill_when_an_output_appears(job.output_dir, job.options.output_format)
    try:
        settings, model = album_recipe(job.album, job.options, job.output_dir)
        with log_lines_of("liveify.render") as outcome.log:
            report = render_album(list(job.tracks), settings, model)
    except OutputError as error:
        outcome.status = "busy" if folder_is_locked(job.output_dir) else "failed"
        outcome.errors.append(str(error))
    except LiveifyError as error:
        outcome.status = "failed"
        outcome.errors.append(str(error))
    else:
        rows = report["tracks"]
        failed = [row for row in rows if row["status"] == "error"]
        outcome.tracks, outcome.tracks_failed = len(rows), len(failed)
        outcome.errors = [row["error"] for row in failed]
        outcome.audio_s = round(sum(row["duration_s"] or 0.0 for row in rows), 3)
        outcome.settings_id = report["settings_id"]
        if failed:
            outcome.status = "failed"
        elif all(row["status"] == "skipped" for row in rows):
            outcome.status = "skipped"
        else:
            outcome.status = "ok"
    outcome.wall_s = round(time.perf_counter() - started, 3)
    return outcome


def new_outcome(album: CatalogueAlbum, output_dir: Path, options: BatchRenderOptions):
    return AlbumOutcome(album=album.name, source=str(album.source), output=str(output_dir),
                        preset=album.preset or options.preset)  # fmt: skip


def folder_is_locked(output_dir: Path) -> bool:
    """Whether another process holds the album folder's render lock right now."""
    from liveify.render.workspace import LOCK_NAME

    try:
        import fcntl
    except ImportError:
        return False
    try:
        with open(Path(output_dir) / LOCK_NAME, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(lock, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


@contextlib.contextmanager
def log_lines_of(logger_name: str):
    """The INFO-and-above lines `logger_name` logs in this (worker) process meanwhile, collected
    for the driver, which prints them under the album's name."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger(logger_name)
    handler = Collect(logging.INFO)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # collected for the driver, not also printed by this worker
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _kill_when_an_output_appears(output_dir: Path, output_format: str) -> None:
    """The fault injector of KILL_ALBUM_VARIABLE: SIGKILL this process as soon as an output of
    the album starts being written (its temporary file, or the file itself, appears): the
    album's intermediates are then rendered and its report.json records the album gain."""
    suffix = f".{output_format}"

    def outputs() -> dict[str, int]:
        with contextlib.suppress(OSError):
            return {entry.name: entry.stat().st_mtime_ns
                    for entry in Path(output_dir).iterdir() if entry.suffix == suffix}  # fmt: skip
        return {}

    before = outputs()

    def watch() -> None:
        while True:
            if any(before.get(name) != stamp for name, stamp in outputs().items()):
                os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
            time.sleep(0.001)

    threading.Thread(target=watch, daemon=True, name="liveify-test-kill").start()
