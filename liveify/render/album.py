"""Rendering an album: every track through the recipe, then mastered together, with a report.

Pass 1 renders each track (tracks in parallel with `jobs`) to a float intermediate in the
render's private work folder while measuring its loudness; pass 2 masters the album (one gain,
the true-peak limiter) and writes each output atomically, updating report.json as it goes, so an
interrupted render resumes with the same album gain. `concert_path` then joins the outputs into
one continuous set. Memory stays at a few blocks per track, whatever its length.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from liveify import __version__
from liveify.audio import atomic_audio_writer, probe, read_blocks, to_stereo
from liveify.errors import AudioFileError, LiveifyError, OutputError
from liveify.loudness import LoudnessMeter
from liveify.render.intermediate import Intermediate, MemoryBudget
from liveify.render.master import (
    album_loudness,
    heavy_limiting_warnings,
    hot_tracks,
    master_album,
)
from liveify.render.plan import (
    RenderSettings,
    TrackResult,
    plan_outputs,
    resume_summary,
    settings_id,
    settings_record,
)
from liveify.render.recipe import BLOCK_FRAMES, ModelChoice, live_blocks
from liveify.render.workspace import (
    exclusive_output_folder,
    read_report,
    write_report,
    writing,
)

NO_MODEL = ModelChoice(None, "model stage off")
#: A song whose decoded samples fit in this many bytes (~6 minutes of 44.1 kHz stereo) is decoded
#: once for both its analysis and its render.
SONG_CACHE_BYTES = 128 << 20

logger = logging.getLogger(__name__)


def render_track(
    result: TrackResult,
    settings: RenderSettings,
    model: ModelChoice,
    work_dir: Path,
    budget: MemoryBudget,
    on_progress: Callable[[float], None] = lambda seconds: None,
) -> None:
    """Render one track through the recipe into an `Intermediate` (in memory while `budget`
    lasts, else in `work_dir`), filling `result` in place (its loudness steps and raw true peak
    for mastering)."""
    track = Path(result.input)
    info = probe(track)
    rate = float(settings.sample_rate or info.sample_rate)

    # The song is read twice when the room analyses it first; a song that fits is decoded once.
    decoded: list[np.ndarray] | None = (
        [] if 2 * 4 * info.duration_s * rate <= SONG_CACHE_BYTES else None
    )

    def song():
        if decoded:
            yield from decoded
            return
        for block in read_blocks(track, sample_rate=rate, block_frames=BLOCK_FRAMES):
            block = to_stereo(block)
            if decoded is not None:
                decoded.append(block)
            yield block

    stage = None
    if model.path is not None:
        from liveify.cores import physical_cores
        from liveify.plugins.model_stage import LiveModel

        # Parallel tracks share the cores instead of each model claiming all of them.
        threads = max(1, physical_cores() // settings.jobs) if settings.jobs > 1 else None
        preset = settings.preset
        stage = LiveModel(
            model.path,
            device=settings.device,
            intra_op_threads=threads,
            strength=preset.model_strength,
            max_gain_db=preset.model_max_gain_db,
        )
    # The raw true peak is only needed where the album gain must respect it (no limiter).
    meter = LoudnessMeter(rate, 2, true_peak=not settings.limiter)
    intermediate = Intermediate(work_dir, budget)
    with writing(Path(result.output)):
        for output in live_blocks(song, rate, settings.preset, seed=result.seed, model=stage):
            if not np.isfinite(meter.add(output)):
                raise AudioFileError(f"{track}: the effect chain produced NaN or infinite samples")
            intermediate.append(output)
            on_progress(output.shape[1] / rate)
        intermediate.close()
    meter.finish()
    result.intermediate = intermediate
    result.sample_rate = rate
    result.duration_s = info.duration_s
    result.step_mean_squares = meter.step_mean_squares()
    if not settings.limiter:
        result.raw_true_peak_db = meter.true_peak_db()


def _live_seconds(result: TrackResult, settings: RenderSettings) -> float:
    """Seconds of output a track will have: lead-in, the track, tail (0 if unreadable)."""
    with contextlib.suppress(LiveifyError):
        preset = settings.preset
        return preset.lead_in_s + probe(result.input).duration_s + preset.tail_s
    return 0.0


def _render_pass(pending, settings, model, work_dir) -> None:
    """Pass 1 over `pending` tracks (in parallel with `settings.jobs`), with progress bars."""
    from tqdm.auto import tqdm

    album_bar = tqdm(
        total=round(sum(_live_seconds(r, settings) for r in pending), 1),
        unit="s", desc="album", disable=not settings.progress,
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]",
    )  # fmt: skip
    bar_lock = threading.Lock()
    free_positions = list(range(1, settings.jobs + 1))
    budget = MemoryBudget()

    def render_one(result: TrackResult) -> None:
        with bar_lock:
            position = free_positions.pop(0)
        started = time.perf_counter()
        track_bar = tqdm(
            total=round(_live_seconds(result, settings), 1), unit="s", leave=False,
            position=position, desc=Path(result.input).name[:30], disable=not settings.progress,
            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s",
        )  # fmt: skip

        def advance(seconds: float) -> None:
            with bar_lock:
                track_bar.update(seconds)
                album_bar.update(seconds)

        try:
            render_track(result, settings, model, work_dir, budget, advance)
            result.status = "ok"
        except OutputError:
            raise  # the disk or folder fails every track alike: stop the render
        except LiveifyError as error:
            result.status, result.error = "error", str(error)
        except Exception as error:  # an album keeps going past a track that breaks unexpectedly
            result.status = "error"
            result.error = f"{result.input}: {type(error).__name__}: {error}"
        finally:
            track_bar.close()
            result.seconds = round(time.perf_counter() - started, 3)
            with bar_lock:
                free_positions.append(position)
                free_positions.sort()
        if result.status == "error":
            logger.error(result.error)
        else:
            logger.debug("rendered %s in %.2f s", result.input, result.seconds)

    try:
        if settings.jobs == 1:
            for result in pending:
                render_one(result)
        else:
            with ThreadPoolExecutor(max_workers=settings.jobs) as pool:
                list(pool.map(render_one, pending))
    finally:
        album_bar.close()


def _reusable_loudness(previous: dict | None, current_id: str, results) -> dict | None:
    """The previous run's album gain, when this run keeps some of its outputs: the tracks
    rendered again must match them."""
    if previous is None or previous.get("settings_id") != current_id:
        return None
    if not any(r.status == "skipped" for r in results):
        return None
    loudness = previous.get("loudness") or {}
    return (
        {**loudness, "reused_from_previous_run": True}
        if loudness.get("gain_db") is not None
        else None
    )


def render_album(
    tracks: Sequence[Path],
    settings: RenderSettings,
    model: ModelChoice = NO_MODEL,
) -> dict:
    """Render `tracks` to `settings.output_dir`; returns the report (also written as report.json).

    A failing track is reported and the others are still rendered. Interrupting leaves no
    partial outputs behind; a rerun keeps only outputs made with the same settings. What it has
    to say (resume decisions, the model's device, heavy limiting) goes to the
    `liveify.render` logger.
    """
    record = settings_record(settings, model.sha256)
    current_id = settings_id(record)
    plan_outputs(tracks, settings, record, None)  # refuse bad outputs before touching the disk
    settings = _settle_device(settings, model)
    with exclusive_output_folder(settings.output_dir) as work_dir:
        previous = read_report(settings.output_dir)
        results = plan_outputs(tracks, settings, record, previous)
        summary = resume_summary(results)
        if summary:
            logger.info(summary)
        pending = [r for r in results if r.status == "pending"]
        _render_pass(pending, settings, model, work_dir)

        def report(loudness: dict) -> dict:
            return {
                "liveify_version": __version__,
                "preset": settings.preset.name,
                "preset_file": settings.preset.file,
                "model": str(model.path) if model.path else None,
                "model_note": model.note,
                "model_provider": settings.model_provider,
                "settings_id": current_id,
                "settings": record,
                "loudness": loudness,
                "tracks": [r.to_report() for r in results],
            }

        rendered = [r for r in pending if r.status == "ok"]
        reused = _reusable_loudness(previous, current_id, results)
        # With nothing rendered the album keeps the gain its outputs were made with, so a later
        # partial rerun still matches them.
        loudness = reused or {"target_lufs": settings.target_lufs, "gain_db": None}
        if rendered:
            loudness = reused or album_loudness(rendered, settings)
            for result in rendered:  # written in pass 2; until then a rerun renders them again
                result.status = "pending"
            # Recorded before any output is written: a render interrupted from here on resumes
            # with this same album gain instead of one measured on the remaining tracks alone.
            write_report(settings.output_dir, report(loudness))

            def written(result: TrackResult) -> None:
                result.status = "ok"
                write_report(settings.output_dir, report(loudness))

            loudness = master_album(rendered, settings, loudness, on_written=written,
                                    correct=reused is None)  # fmt: skip
            loudness["hot_tracks"] = hot_tracks(rendered, loudness)
            for warning in heavy_limiting_warnings(rendered):
                logger.warning(warning)
        final = report(loudness)
        if settings.concert_path is not None:
            complete = [Path(r.output) for r in results if r.status in ("ok", "skipped")]
            if complete:
                write_concert(complete, settings.concert_path, settings)
                final["concert"] = str(settings.concert_path)
        write_report(settings.output_dir, final)
        return final


def _settle_device(settings: RenderSettings, model: ModelChoice) -> RenderSettings:
    """Settle the model's device once, before any track (opening a session only where CUDA is
    involved): an explicit CUDA request that cannot run fails here, `auto` says in one line where
    it runs instead, and every track's stage then goes straight to the provider found
    (`settings.model_provider`)."""
    if model.path is None:
        return settings
    from liveify.model_file import known_without_session, log_device, open_session

    known = known_without_session(settings.device)
    if known is None:  # CUDA asked for or available: only a session shows whether it starts
        _, provider, notice = open_session(model.path, settings.device, intra_op_threads=1)
    else:
        provider, notice = known
    log_device(logger, provider, notice)
    device = "cpu" if provider == "CPUExecutionProvider" else settings.device
    return dataclasses.replace(settings, device=device, model_provider=provider)


def write_concert(outputs: Sequence[Path], concert_path: Path, settings: RenderSettings) -> None:
    """Join the rendered tracks (each with its crowd lead-in and tail) into one continuous set."""
    rate = float(settings.sample_rate or probe(outputs[0]).sample_rate)
    with atomic_audio_writer(concert_path, rate, 2, bit_depth=settings.bit_depth) as writer:
        for output in outputs:
            for block in read_blocks(output, sample_rate=rate, block_frames=BLOCK_FRAMES):
                writer.write(to_stereo(block))
