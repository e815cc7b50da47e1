"""Mastering: one album gain to the loudness target, then a true-peak limiter on every track.

Tracks keep their relative levels (one gain for the album) except hot ones: a track more than
`HOT_TRACK_LU` louder than the album's median track is first trimmed down to that, so one
broken-loud file cannot pull every other track down. The limiter then holds every output at or
below the true-peak ceiling. The limiter takes a little loudness off the tracks it works on, so
the album is measured as it is written and written again with a corrected gain if it missed the
target by more than `LOUDNESS_TOLERANCE_LU` (rare: only albums that need heavy limiting).

With `limiter=False` (`--no-limiter`) the album gets one gain only, lowered where needed so that
the loudest true peak stays under the ceiling: the album may then land below its target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from liveify.audio import atomic_audio_writer
from liveify.loudness import LoudnessMeter, db_to_gain, integrated_lufs
from liveify.plugins.base import stream_aligned
from liveify.plugins.limiter import TruePeakLimiter
from liveify.render.plan import RenderSettings, TrackResult
from liveify.render.workspace import writing

#: Headroom kept below the true-peak ceiling for the rounding of integer output formats.
QUANTISATION_MARGIN_DB = 0.05
#: Tracks louder than the album's median track by more than this are trimmed down to it.
HOT_TRACK_LU = 3.0
#: The album is written again with a corrected gain when it misses its target by more than this.
LOUDNESS_TOLERANCE_LU = 0.2
MAX_MASTERING_PASSES = 5
#: The most a correction adds to the album's first gain: past that the limiter is crushing the
#: album and the target is out of reach.
MAX_CORRECTION_DB = 6.0
#: Limiting deeper than this on some peak earns the track a warning.
HEAVY_LIMITING_DB = 6.0


def _lufs(steps: np.ndarray) -> float | None:
    value = integrated_lufs(steps)
    return round(value, 2) if np.isfinite(value) else None


def album_loudness(rendered: Sequence[TrackResult], settings: RenderSettings) -> dict:
    """The album's gain plan: the report's `loudness` section."""
    track_lufs = [integrated_lufs(r.step_mean_squares) for r in rendered]
    playing = [value for value in track_lufs if np.isfinite(value)]
    loudness = {
        "target_lufs": settings.target_lufs,
        "true_peak_ceiling_db": settings.true_peak_ceiling_db,
        "mastering": "limiter" if settings.limiter else "gain-only",
        "median_track_lufs": round(float(np.median(playing)), 2) if playing else None,
        "album_lufs_before_gain": None,
        "gain_db": 0.0,
    }
    if not playing:
        return loudness
    trimmed = np.concatenate(
        [r.step_mean_squares * db_to_gain(_trim_db(r, loudness)) ** 2 for r in rendered]
    )
    album_lufs = integrated_lufs(trimmed)
    loudness["album_lufs_before_gain"] = round(album_lufs, 2)
    gain_db = settings.target_lufs - album_lufs
    if not settings.limiter:
        ceiling_gain_db = _peak_limit_db(settings) - max(r.raw_true_peak_db for r in rendered)
        loudness["limited_by_true_peak"] = bool(ceiling_gain_db < gain_db)
        gain_db = min(gain_db, ceiling_gain_db)
    loudness["gain_db"] = round(gain_db, 3)
    return loudness


def _peak_limit_db(settings: RenderSettings) -> float:
    return settings.true_peak_ceiling_db - QUANTISATION_MARGIN_DB


def _trim_db(result: TrackResult, loudness: dict) -> float:
    """How far a hot track is turned down before the album gain (0 for the others)."""
    median = loudness.get("median_track_lufs")
    own = integrated_lufs(result.step_mean_squares)
    if median is None or not np.isfinite(own):
        return 0.0
    return min(0.0, median + HOT_TRACK_LU - own)


def track_gain_db(result: TrackResult, loudness: dict, settings: RenderSettings) -> float:
    """The gain one track gets: the album gain, the track's hot trim, and without the limiter
    never more than keeps its own true peak under the ceiling."""
    gain_db = loudness["gain_db"] + _trim_db(result, loudness)
    if not settings.limiter:
        gain_db = min(gain_db, _peak_limit_db(settings) - result.raw_true_peak_db)
    return round(gain_db, 3)


def master_track(result: TrackResult, gain_db: float, settings: RenderSettings) -> np.ndarray:
    """Write one track's output from its intermediate: gain, limiter, atomically; fills in its
    report figures and returns the output's 100 ms K-weighted step mean squares."""
    rate = result.sample_rate
    gain = np.float32(db_to_gain(gain_db))

    intermediate = result.intermediate
    assert intermediate is not None, "master_track runs on a track that render_track rendered"

    def gained_blocks():
        for block in intermediate.blocks():
            block *= gain
            yield block

    limiter = None
    blocks = gained_blocks()
    if settings.limiter:
        limiter = TruePeakLimiter(ceiling_db=_peak_limit_db(settings))
        blocks = stream_aligned(limiter, blocks, rate)
    meter = LoudnessMeter(rate, 2)
    with (
        writing(Path(result.output)),
        atomic_audio_writer(result.output, rate, 2, bit_depth=settings.bit_depth) as writer,
    ):
        for block in blocks:
            meter.add(block)
            writer.write(block)
    meter.finish()
    steps = meter.step_mean_squares()
    result.gain_db = gain_db
    result.lufs = _lufs(steps)
    result.true_peak_db = round(meter.true_peak_db(), 2)
    result.max_gain_reduction_db = round(limiter.max_gain_reduction_db, 2) if limiter else 0.0
    return steps


def master_album(
    rendered: Sequence[TrackResult],
    settings: RenderSettings,
    loudness: dict,
    *,
    on_written: Callable[[TrackResult], None] = lambda result: None,
    correct: bool = True,
) -> dict:
    """Write every rendered track with the album's gain plan; returns the plan as applied.

    With `correct` (a fresh album gain, not one kept from a previous run) the written album is
    measured and, if it missed the target by more than `LOUDNESS_TOLERANCE_LU`, written again
    with the gain moved by the miss.
    """
    loudness = dict(loudness)
    tried: list[tuple[float, float]] = []  # (album gain, album loudness) of each pass
    for attempt in range(1, MAX_MASTERING_PASSES + 1):
        steps = []
        for result in rendered:
            steps.append(master_track(result, track_gain_db(result, loudness, settings), settings))
            on_written(result)
        album_lufs = _lufs(np.concatenate(steps)) if steps else None
        loudness["album_lufs"] = album_lufs
        loudness["mastering_passes"] = attempt
        if not (correct and settings.limiter) or album_lufs is None:
            break
        miss = settings.target_lufs - album_lufs
        if abs(miss) <= LOUDNESS_TOLERANCE_LU or attempt == MAX_MASTERING_PASSES:
            break
        tried.append((loudness["gain_db"], album_lufs))
        step_db = min(miss / _loudness_per_db(tried), MAX_CORRECTION_DB)
        loudness["gain_db"] = round(
            min(loudness["gain_db"] + step_db, tried[0][0] + MAX_CORRECTION_DB), 3
        )
    return loudness


def _loudness_per_db(tried: list[tuple[float, float]]) -> float:
    """How much album loudness a decibel of gain buys under the limiter: 1 until two passes
    measured it (the secant), never below 0.1 (deep limiting), never above 1."""
    if len(tried) < 2:
        return 1.0
    (gain_a, lufs_a), (gain_b, lufs_b) = tried[-2:]
    if gain_a == gain_b:
        return 1.0
    return min(1.0, max(0.1, (lufs_b - lufs_a) / (gain_b - gain_a)))


def heavy_limiting_warnings(rendered: Sequence[TrackResult]) -> list[str]:
    """One line per track whose limiter had to work hard, naming it."""
    return [
        f"{result.input}: the limiter took up to {result.max_gain_reduction_db:.1f} dB "
        "off its peaks (a much hotter master than the rest, or a high --target-lufs)"
        for result in rendered
        if (result.max_gain_reduction_db or 0.0) > HEAVY_LIMITING_DB
    ]


def hot_tracks(rendered: Sequence[TrackResult], loudness: dict) -> list[dict]:
    """The tracks trimmed as hot, with their trims, for the report."""
    hot = []
    for result in rendered:
        trim = _trim_db(result, loudness)
        if trim < 0:
            hot.append({"input": result.input, "trim_db": round(trim, 2)})
    return hot


def master_audio(audio: np.ndarray, sample_rate: float, *, target_lufs: float,
                 ceiling_db: float) -> np.ndarray:  # fmt: skip
    """One in-memory track mastered as an album of one: gain to the target, then the limiter."""
    meter = LoudnessMeter(sample_rate, audio.shape[0], true_peak=False)
    meter.add(audio)
    loudness = meter.integrated_lufs()
    gain = db_to_gain(target_lufs - loudness) if np.isfinite(loudness) else 1.0
    limiter = TruePeakLimiter(ceiling_db=ceiling_db - QUANTISATION_MARGIN_DB)
    return limiter(np.asarray(audio, np.float32) * np.float32(gain), sample_rate)
