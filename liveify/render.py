"""Album rendering: each track streamed through the live chain, one loudness gain for the album.

Pass 1 renders every track in blocks (lead-in silence, the track, a tail of silence for the crowd
and the reverb) to a float intermediate while measuring loudness and true peak; pass 2 applies
the album gain and writes each output atomically; `concert_path` then joins the outputs into one
continuous set. Memory stays at a few blocks per track, whatever its length.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from liveify.audio import (
    OUTPUT_FORMATS,
    atomic_audio_writer,
    check_output_format,
    is_audio_file,
    probe,
    read_blocks,
    to_stereo,
)
from liveify.errors import AudioFileError, LiveifyError, ParameterError
from liveify.files import write_text_atomic
from liveify.loudness import LoudnessMeter, db_to_gain, integrated_lufs
from liveify.plugins.base import stream_aligned

#: Frames per processing block (~12 s at 44.1 kHz): the stages' FFT and call overheads are
#: amortised from about 10 s on, and memory stays at a few MB per block.
BLOCK_FRAMES = 1 << 19
#: Seconds of silence after the song that the band's stages (the PA) still process.
BAND_RING_OUT_S = 0.2
PLAYLIST_EXTENSIONS = (".m3u", ".m3u8")
#: Headroom kept below the true-peak ceiling for the rounding of integer output formats.
QUANTISATION_MARGIN_DB = 0.05
BUNDLED_MODEL = Path(__file__).parent / "models" / "demo.onnx"


@dataclass
class RenderSettings:
    """Everything `render_album` needs besides the track list; the CLI fills it from its options."""

    preset: object  # liveify.presets.Preset
    output_dir: Path
    model_path: Path | None = None
    output_format: str = "wav"
    bit_depth: str = "24"
    sample_rate: float | None = None
    target_lufs: float = -14.0
    true_peak_ceiling_db: float = -1.0
    jobs: int = 1
    force: bool = False
    seed: int = 0
    concert_path: Path | None = None
    progress: bool = True


@dataclass
class TrackResult:
    """One row of report.json."""

    input: str
    output: str
    status: str = "pending"  # ok | error | skipped
    error: str | None = None
    duration_s: float | None = None
    seconds: float | None = None
    lufs: float | None = None
    true_peak_db: float | None = None
    intermediate: Path | None = field(default=None, repr=False)
    intermediate_blocks: list[int] | None = field(default=None, repr=False)  # frames per block
    sample_rate: float | None = field(default=None, repr=False)
    step_mean_squares: np.ndarray | None = field(default=None, repr=False)
    raw_true_peak_db: float | None = field(default=None, repr=False)

    def to_report(self) -> dict:
        row = asdict(self)
        for private in (
            "intermediate", "intermediate_blocks", "sample_rate", "step_mean_squares",
            "raw_true_peak_db",
        ):  # fmt: skip
            row.pop(private)
        return row


# --- which tracks, in which order, to where --------------------------------------------------
def natural_key(path: Path) -> list:
    """Sort key that puts "2 Song" before "10 Song" (numbers compare as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def read_playlist(path: Path) -> list[Path]:
    """Tracks of an .m3u/.m3u8 playlist in its order; relative entries resolve beside it."""
    tracks = []
    for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            track = Path(entry)
            tracks.append(track if track.is_absolute() else path.parent / track)
    if not tracks:
        raise ParameterError(f"{path}: playlist lists no tracks")
    return tracks


def collect_tracks(inputs: Sequence[Path]) -> list[Path]:
    """Expand folders (audio files in natural order), playlists (their order) and single files."""
    tracks: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(
                (p for p in item.iterdir() if p.is_file() and is_audio_file(p)), key=natural_key
            )
            if not found:
                raise ParameterError(f"{item}: no audio files (wav, flac, ogg, mp3, aiff) found")
            tracks.extend(found)
        elif item.suffix.lower() in PLAYLIST_EXTENSIONS:
            tracks.extend(read_playlist(item))
        elif item.exists():
            tracks.append(item)
        else:
            raise ParameterError(f"{item}: no such file or folder")
    return tracks


def default_output_dir(inputs: Sequence[Path]) -> Path:
    """`<album>-live/` beside the album folder (or beside the folder of the first file)."""
    first = Path(inputs[0]).resolve()
    if first.is_dir():
        album = first
    elif first.suffix.lower() in PLAYLIST_EXTENSIONS:
        album = first.with_suffix("")
    else:
        album = first.parent
    return album.parent / f"{album.name}-live"


def plan_outputs(tracks: Sequence[Path], settings: RenderSettings) -> list[TrackResult]:
    """Pair every track with its output path; refuse to write over or beside the inputs."""
    check_output_format(f"track.{settings.output_format}", settings.bit_depth)
    output_dir = settings.output_dir.resolve()
    input_folders = {track.resolve().parent for track in tracks}
    if output_dir in input_folders:
        raise ParameterError(
            f"refusing to write into the input folder {output_dir}; choose another -o/--output"
        )
    results, seen = [], {}
    for track in tracks:
        output = output_dir / f"{track.stem}.{settings.output_format}"
        if output in seen:
            raise ParameterError(
                f"{track} and {seen[output]} would both be written to {output.name}; rename one"
            )
        seen[output] = track
        status = "skipped" if output.exists() and not settings.force else "pending"
        results.append(TrackResult(input=str(track), output=str(output), status=status))
    if settings.concert_path is not None:
        _check_concert_path(Path(settings.concert_path), settings.bit_depth, tracks, seen)
    return results


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


# --- the chain --------------------------------------------------------------------------------
def resolve_model(model_path: Path | None, use_model: bool, preset) -> tuple[Path | None, str]:
    """Which ONNX model the render uses, and a one-line reason for the report and the log."""
    if not use_model:
        return None, "model stage off (--no-model)"
    if model_path is not None:
        from liveify.model_file import read_metadata

        read_metadata(model_path)  # a missing or foreign file fails here, once, not per track
        return Path(model_path), f"model {model_path}"
    if not preset.model:
        return None, f"preset {preset.name} does not use the model stage"
    if BUNDLED_MODEL.exists():
        return BUNDLED_MODEL, f"bundled model {BUNDLED_MODEL.name}"
    return None, "no bundled model installed; rendering the DSP chain only"


def build_chain(preset, *, seed: int):
    """The preset's live chain (PA, crowd, venue, external plugins) as one `Chain`.

    The model stage is not part of it: the renderer runs the model on the song alone through
    `stream_aligned`, so these stages hear the track on its own timeline.
    """
    from liveify.plugins.chain import Chain

    return Chain(preset.build_stages(seed=seed))


def build_band_and_room(preset, *, seed: int):
    """`build_chain`'s stages as two Chains: the band's (the PA), which plays the song alone, and
    the room's (crowd, venue, external plugins), which also hears the lead-in and tail.

    The PA's output over silence is silence, so the renderer spares it those seconds.
    """
    from liveify.plugins.chain import Chain

    pa, *room = preset.build_stages(seed=seed)  # in render order, the PA board first
    return Chain([pa]), Chain(room)


def analyse_track(track: Path):
    """Beats and level of a whole track (`TrackAnalysis`), streamed block by block."""
    from liveify.analysis import TrackAnalysis

    analysis = TrackAnalysis(probe(track).sample_rate)
    for block in read_blocks(track, block_frames=BLOCK_FRAMES):
        analysis.add(block)
    return analysis


# --- pass 1: render to float intermediates ------------------------------------------------------
def _silence(channels: int, frames: int) -> list[np.ndarray]:
    return [
        np.zeros((channels, min(BLOCK_FRAMES, frames - start)), np.float32)
        for start in range(0, frames, BLOCK_FRAMES)
    ]


def render_track(
    result: TrackResult,
    index: int,
    settings: RenderSettings,
    model_path: Path | None,
    work_dir: Path,
    on_progress: Callable[[float], None] = lambda seconds: None,
) -> None:
    """Render one track into a float intermediate in `work_dir`, filling `result` in place.

    The band (the model stage with its latency removed, then the PA) plays the song alone; the
    room (crowd, venue, external plugins) then hears lead-in silence, the live-converted song and
    tail silence, exactly lined up as without a model, so the crowd's lead-in swell, clap-along
    and applause fall where they should.
    """
    track = Path(result.input)
    info = probe(track)
    rate = float(settings.sample_rate or info.sample_rate)
    preset = settings.preset
    band, room = build_band_and_room(preset, seed=settings.seed + index)
    if room.wants_track_analysis:
        room.prepare_track(analyse_track(track), offset_s=preset.lead_in_s)

    lead_in = round(preset.lead_in_s * rate)
    # Reverb beyond the preset's tail is cut: the next song's lead-in starts there.
    tail = round(preset.tail_s * rate)
    # The PA's filters ring on for a few milliseconds after the song: the band hears this much of
    # the tail silence too (the rest of their ring-out is below -100 dB).
    band_tail = min(round(BAND_RING_OUT_S * rate), tail)
    expected_frames = lead_in + round(info.duration_s * rate) + tail

    def track_blocks():
        for block in read_blocks(track, sample_rate=rate, block_frames=BLOCK_FRAMES):
            yield to_stereo(block)
            on_progress(block.shape[1] / rate)

    songs = track_blocks()
    if model_path is not None:
        from liveify.plugins.model_stage import LiveModel, physical_cores

        # Parallel tracks share the cores instead of each model claiming all of them.
        threads = max(1, physical_cores() // settings.jobs) if settings.jobs > 1 else None
        songs = stream_aligned(LiveModel(model_path, intra_op_threads=threads), songs, rate)

    def band_input():
        yield from songs
        yield from _silence(2, band_tail)

    def stream():
        # The band hears only the song: the silence around it is the crowd's (the room tone the
        # model would add to it would have the crowd duck under it, and a PA over silence only
        # costs time).
        yield from _silence(2, lead_in)
        yield from stream_aligned(band, band_input(), rate)
        yield from _silence(2, tail - band_tail)

    meter = LoudnessMeter(rate, 2)
    # Raw float32 blocks as the chain made them, channel after channel: the intermediate lives
    # only in the private work folder, so a plain memory dump is enough, and pass 2 hands the same
    # (channels, frames) blocks to the writer.
    intermediate = work_dir / f"{index:04d}.f32"
    blocks: list[int] = []
    with open(intermediate, "wb") as writer:
        for output in stream_aligned(room, stream(), rate):
            output = output[:, : max(0, expected_frames - sum(blocks))]
            if output.shape[1]:
                if not math.isfinite(meter.add(output)):
                    raise AudioFileError(
                        f"{track}: the effect chain produced NaN or infinite samples"
                    )
                np.ascontiguousarray(output).tofile(writer)
                blocks.append(output.shape[1])
    meter.finish()
    result.intermediate = intermediate
    result.intermediate_blocks = blocks
    result.sample_rate = rate
    result.duration_s = info.duration_s
    result.step_mean_squares = meter.step_mean_squares()
    result.raw_true_peak_db = meter.true_peak_db()


# --- album gain and pass 2 --------------------------------------------------------------------
def album_gain_db(rendered: Sequence[TrackResult], settings: RenderSettings) -> dict:
    """One gain for the album: to the loudness target, unless that would break the peak ceiling."""
    album_lufs = integrated_lufs(np.concatenate([r.step_mean_squares for r in rendered]))
    loudest_peak_db = max(r.raw_true_peak_db for r in rendered)
    if not np.isfinite(album_lufs):
        return {
            "album_lufs": None,
            "gain_db": 0.0,
            "limited_by_true_peak": False,
            "target_lufs": settings.target_lufs,
        }
    gain_db = settings.target_lufs - album_lufs
    ceiling_gain_db = settings.true_peak_ceiling_db - QUANTISATION_MARGIN_DB - loudest_peak_db
    return {
        "target_lufs": settings.target_lufs,
        "album_lufs_before_gain": round(album_lufs, 2),
        "gain_db": round(min(gain_db, ceiling_gain_db), 3),
        "limited_by_true_peak": bool(ceiling_gain_db < gain_db),
        "true_peak_ceiling_db": settings.true_peak_ceiling_db,
    }


def write_output(result: TrackResult, gain_db: float, settings: RenderSettings) -> None:
    """Apply the album gain to the intermediate and write the final file atomically.

    A gain scales loudness and true peak by exactly its decibels, so the output's figures come
    from the intermediate's measurement instead of a second metering pass.
    """
    gain = np.float32(db_to_gain(gain_db))
    with (
        open(result.intermediate, "rb") as intermediate,
        atomic_audio_writer(
            result.output, result.sample_rate, 2, bit_depth=settings.bit_depth
        ) as writer,
    ):
        for frames in result.intermediate_blocks:
            block = np.fromfile(intermediate, dtype=np.float32, count=2 * frames)
            block *= gain
            writer.write(block.reshape(2, frames))
    track_lufs = integrated_lufs(result.step_mean_squares)
    result.lufs = round(track_lufs + gain_db, 2) if np.isfinite(track_lufs) else None
    result.true_peak_db = round(result.raw_true_peak_db + gain_db, 2)


def write_concert(outputs: Sequence[Path], concert_path: Path, settings: RenderSettings) -> None:
    """Join the rendered tracks (each with its crowd lead-in and tail) into one continuous set."""
    rate = float(settings.sample_rate or probe(outputs[0]).sample_rate)
    with atomic_audio_writer(concert_path, rate, 2, bit_depth=settings.bit_depth) as writer:
        for output in outputs:
            for block in read_blocks(output, sample_rate=rate, block_frames=BLOCK_FRAMES):
                writer.write(to_stereo(block))


def _previous_gain(report_path: Path, settings: RenderSettings, model_path) -> dict | None:
    """The album gain of an earlier run with the same preset, model and target, for resumes."""
    try:
        report = json.loads(report_path.read_text())
        loudness = report["loudness"]
        if (
            report["preset"] == settings.preset.name
            and report["model"] == (str(model_path) if model_path else None)
            and loudness["target_lufs"] == settings.target_lufs
        ):
            return loudness
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None


def write_report(path: Path, report: dict) -> None:
    write_text_atomic(path, json.dumps(report, indent=2))


# --- the album --------------------------------------------------------------------------------
def render_album(
    tracks: Sequence[Path],
    settings: RenderSettings,
    *,
    model_path: Path | None,
    model_note: str,
) -> dict:
    """Render `tracks` to `settings.output_dir`; returns the report (also written as report.json).

    A failing track is reported and skipped; the others are still rendered. Interrupting leaves
    no partial outputs behind.
    """
    from tqdm.auto import tqdm

    results = plan_outputs(tracks, settings)
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    pending = [r for r in results if r.status == "pending"]
    total_s = 0.0
    for result in pending:
        with contextlib.suppress(LiveifyError):
            total_s += probe(result.input).duration_s
    album_bar = tqdm(
        total=round(total_s, 1),
        unit="s",
        desc="album",
        disable=not settings.progress,
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]",
    )
    bar_lock = threading.Lock()
    free_positions = list(range(1, settings.jobs + 1))

    def render_one(result: TrackResult) -> None:
        index = results.index(result)
        with bar_lock:
            position = free_positions.pop(0)
        started = time.perf_counter()
        track_bar = None
        try:
            duration_s = probe(result.input).duration_s
            track_bar = tqdm(
                total=round(duration_s, 1),
                unit="s",
                leave=False,
                position=position,
                desc=Path(result.input).name[:30],
                disable=not settings.progress,
                bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s",
            )

            def advance(seconds: float) -> None:
                with bar_lock:
                    track_bar.update(seconds)
                    album_bar.update(seconds)

            render_track(result, index, settings, model_path, work_dir, advance)
            result.status = "ok"
        except LiveifyError as error:
            result.status, result.error = "error", str(error)
        except Exception as error:  # an album keeps going past a track that breaks unexpectedly
            result.status, result.error = (
                "error",
                f"{result.input}: {type(error).__name__}: {error}",
            )
        finally:
            if track_bar is not None:
                track_bar.close()
            result.seconds = round(time.perf_counter() - started, 3)
            with bar_lock:
                free_positions.append(position)
                free_positions.sort()
        if result.status == "error":
            album_bar.write(f"liveify: error: {result.error}")

    def album_report(results: list[TrackResult], loudness: dict, *, final: bool = True) -> dict:
        tracks = [r.to_report() for r in results]
        if not final:  # rendered, but not yet written with the album gain
            tracks = [{**t, "status": "pending"} if t["status"] == "ok" else t for t in tracks]
        return {
            "preset": settings.preset.name,
            "model": str(model_path) if model_path else None,
            "model_note": model_note,
            "tracks": tracks,
            "loudness": loudness,
        }

    work_dir = Path(tempfile.mkdtemp(prefix=".liveify-render-", dir=settings.output_dir))
    try:
        if settings.jobs == 1:
            for result in pending:
                render_one(result)
        else:
            with ThreadPoolExecutor(max_workers=settings.jobs) as pool:
                list(pool.map(render_one, pending))
        album_bar.close()
        rendered = [r for r in pending if r.status == "ok"]
        report_path = settings.output_dir / "report.json"
        loudness = {"target_lufs": settings.target_lufs, "gain_db": None}
        if rendered:
            skipped_any = any(r.status == "skipped" for r in results)
            previous = _previous_gain(report_path, settings, model_path) if skipped_any else None
            if previous is not None and previous.get("gain_db") is not None:
                loudness = {**previous, "reused_from_previous_run": True}
            else:
                loudness = album_gain_db(rendered, settings)
            # Recorded before any output is written: a render interrupted from here on resumes
            # with this same album gain instead of one measured on the remaining tracks alone.
            write_report(report_path, album_report(results, loudness, final=False))
            peak_limit_db = settings.true_peak_ceiling_db - QUANTISATION_MARGIN_DB
            for result in rendered:
                # A reused gain was chosen without this track; keep its peak under the ceiling.
                track_gain_db = min(loudness["gain_db"], peak_limit_db - result.raw_true_peak_db)
                write_output(result, track_gain_db, settings)
        report = album_report(results, loudness)
        if settings.concert_path is not None:
            complete = [Path(r.output) for r in results if r.status in ("ok", "skipped")]
            if complete:
                write_concert(complete, settings.concert_path, settings)
                report["concert"] = str(settings.concert_path)
        write_report(report_path, report)
        return report
    finally:
        album_bar.close()
        shutil.rmtree(work_dir, ignore_errors=True)
