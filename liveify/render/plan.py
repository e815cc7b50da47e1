"""What an album render will do: its settings, each track's output, and what a rerun may keep.

Every output is recorded in report.json with the settings that made it (the resolved preset
text, the model file's hash, loudness target and ceiling, mastering, format, rate, Liveify's
version) and its track's seed and input file. A rerun keeps an output only when all of these
match; everything else is rendered again, and one line says how many and why.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from liveify import __version__
from liveify.audio import OUTPUT_FORMATS, check_output_format
from liveify.errors import ParameterError

if TYPE_CHECKING:
    from liveify.presets import Preset
    from liveify.render.intermediate import Intermediate


@dataclass
class RenderSettings:
    """Everything `render_album` needs besides the track list; the CLI fills it from its options."""

    preset: Preset
    output_dir: Path
    output_format: str = "wav"
    bit_depth: str = "24"
    sample_rate: float | None = None
    target_lufs: float = -14.0
    true_peak_ceiling_db: float = -1.0
    #: True: one album gain to the target, then a true-peak limiter on every track. False: one
    #: gain only, lowered where needed so the loudest true peak stays under the ceiling.
    limiter: bool = True
    jobs: int = 1
    force: bool = False
    seed: int = 0
    concert_path: Path | None = None
    progress: bool = True
    #: Where the model stage runs: auto | cpu | cuda | cuda:N (see `model_file.open_session`). Not
    #: part of the settings fingerprint: providers agree to float rounding, not by design choice.
    device: str = "auto"
    #: The ONNX Runtime provider the model stage runs on, once `render_album` has opened it.
    model_provider: str | None = None


@dataclass
class TrackResult:
    """One row of report.json (fields after `seed` are the render's working data, not reported)."""

    input: str
    output: str
    status: str = "pending"  # pending | ok | skipped | error
    reason: str | None = None  # why it is rendered or kept
    error: str | None = None
    duration_s: float | None = None
    seconds: float | None = None
    lufs: float | None = None
    true_peak_db: float | None = None
    gain_db: float | None = None
    max_gain_reduction_db: float | None = None
    seed: int = 0
    input_size: int | None = None
    input_mtime_ns: int | None = None
    settings_id: str | None = None
    # Set by pass 1 (render_track) for pass 2 (mastering).
    intermediate: Intermediate | None = field(default=None, repr=False)
    sample_rate: float = field(default=0.0, repr=False)
    step_mean_squares: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    # Only measured where the album gain must respect it (mastering without the limiter).
    raw_true_peak_db: float = field(default=math.inf, repr=False)

    def to_report(self) -> dict:
        private = ("intermediate", "sample_rate", "step_mean_squares", "raw_true_peak_db")
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in private}


def track_seed(seed: int, track: Path) -> int:
    """The random seed of one track's stages: the render's seed and the track's file name, so a
    track keeps its crowd when tracks are added to or removed from the album."""
    return (seed + zlib.crc32(Path(track).name.encode("utf-8"))) % 2**32


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def settings_record(settings: RenderSettings, model_sha256: str | None) -> dict:
    """Everything that decides the sound of every output, as report.json records it."""
    preset = settings.preset
    return {
        "liveify_version": __version__,
        "preset": preset.to_toml(),
        "preset_file": preset.file,
        "model_sha256": model_sha256,
        "target_lufs": settings.target_lufs,
        "true_peak_ceiling_db": settings.true_peak_ceiling_db,
        "mastering": "limiter" if settings.limiter else "gain-only",
        "format": settings.output_format,
        "bit_depth": settings.bit_depth,
        "sample_rate": settings.sample_rate,
    }


def settings_id(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def describe_changes(previous: dict, current: dict) -> str:
    """What differs between two settings records, in words: 'preset content, target_lufs -14 -> -12'."""
    changes = []
    for key in current:
        before, after = previous.get(key), current[key]
        if before == after:
            continue
        if key == "preset":
            changes.append("preset content")
        elif key == "model_sha256":
            changes.append("model file")
        else:
            changes.append(f"{key} {before} -> {after}")
    return ", ".join(changes) or "settings"


def plan_outputs(
    tracks: Sequence[Path], settings: RenderSettings, record: dict, previous: dict | None
) -> list[TrackResult]:
    """Pair every track with its output and decide, from the previous report, what to render.

    Refuses (ParameterError) to write over or beside the inputs and to give two tracks one output.
    """
    check_output_format(f"track.{settings.output_format}", settings.bit_depth)
    output_dir = settings.output_dir.resolve()
    if output_dir in {track.resolve().parent for track in tracks}:
        raise ParameterError(
            f"refusing to write into the input folder {output_dir}; choose another -o/--output"
        )
    current_id = settings_id(record)
    previous_rows = {row.get("output"): row for row in (previous or {}).get("tracks", [])}
    changed = describe_changes((previous or {}).get("settings") or {}, record)
    results: list[TrackResult] = []
    seen: dict[Path, Path] = {}
    for track in tracks:
        output = output_dir / f"{track.stem}.{settings.output_format}"
        if output in seen:
            raise ParameterError(
                f"{track} and {seen[output]} would both be written to {output.name}; rename one"
            )
        seen[output] = track
        result = TrackResult(input=str(track), output=str(output), seed=track_seed(settings.seed, track),
                             settings_id=current_id)  # fmt: skip
        try:
            stat = track.stat()
            result.input_size, result.input_mtime_ns = stat.st_size, stat.st_mtime_ns
        except OSError:
            pass  # reported as the track's error when it is read
        result.reason = _keep_or_render(result, output, settings, previous_rows.get(str(output)),
                                        previous, current_id, changed)  # fmt: skip
        if result.reason.startswith("kept"):
            _copy_measurements(result, previous_rows[str(output)])
            result.status = "skipped"
        results.append(result)
    if settings.concert_path is not None:
        _check_concert_path(Path(settings.concert_path), settings.bit_depth, tracks, seen)
    return results


# One return per reason, in the order the reasons are checked.
def _keep_or_render(result, output: Path, settings, row, previous, current_id, changed) -> str:  # noqa: PLR0911
    if not output.exists():
        return "new"
    if settings.force:
        return "--force"
    if previous is None:
        return "output exists but report.json is missing: settings unknown"
    if row is None or row.get("status") not in ("ok", "skipped"):
        return "output not finished by the previous run"
    if row.get("settings_id") != current_id:
        return f"changed: {changed}"
    if row.get("seed") != result.seed:
        return "changed: seed"
    if (row.get("input_size"), row.get("input_mtime_ns")) != (
        result.input_size,
        result.input_mtime_ns,
    ):
        return "changed: input file"
    return "kept: same settings and input"


def _copy_measurements(result: TrackResult, row: dict) -> None:
    for key in ("duration_s", "lufs", "true_peak_db", "gain_db", "max_gain_reduction_db"):
        setattr(result, key, row.get(key))


def resume_summary(results: Sequence[TrackResult]) -> str | None:
    """One line on what a rerun keeps and re-renders, or None for a fresh render."""
    kept = sum(r.status == "skipped" for r in results)
    redone = [r for r in results if r.status == "pending" and r.reason != "new"]
    if not kept and not redone:
        return None
    reasons: dict[str | None, int] = {}
    for result in redone:
        reasons[result.reason] = reasons.get(result.reason, 0) + 1
    why = "; ".join(f"{count} {reason}" for reason, count in reasons.items())
    line = f"resume: keeping {kept} finished output{'s' if kept != 1 else ''}"
    if redone:
        line += f", re-rendering {len(redone)} ({why})"
    return line


def _check_concert_path(concert: Path, bit_depth: str, tracks: Sequence[Path], outputs) -> None:
    """Refuse a concert file that could not be written or would overwrite a track, up front."""
    if concert.suffix.lower().lstrip(".") not in OUTPUT_FORMATS:
        raise ParameterError(f"--concert {concert}: the file must end in .wav or .flac")
    check_output_format(concert, bit_depth)
    taken = {track.resolve() for track in tracks} | set(outputs)
    if concert.resolve() in taken:
        raise ParameterError(
            f"--concert {concert} would overwrite an input or a track output; choose another name"
        )
