"""Objective evaluation: render baseline and model rows for paired songs, measure them against the
real live recordings on the aligned timeline, and write report.json, report.md and figures.

The metric functions are pure (numpy arrays in, floats out); `evaluate` does the I/O.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from liveify.errors import AudioFileError, DataError, LiveifyError, ParameterError
from liveify.files import write_text_atomic
from liveify.mel import MelConfig, mel_power

#: Rows in report order. "model" rows appear only when a model is evaluated.
ROWS = ("identity", "dsp", "model", "model+preset")
ROW_LABELS = {
    "identity": "identity (studio as is)",
    "dsp": "DSP-only preset",
    "model": "model only",
    "model+preset": "model + preset",
}
#: Metric key -> (unit, one-line meaning). Differences are row minus live.
METRICS = {
    "log_mel_l1_db": ("dB", "mean |log-mel difference| on the aligned timeline"),
    "mrstft": (
        "",
        "multi-resolution STFT distance (spectral convergence + log-magnitude L1, "
        "FFT 512/1024/2048, averaged)",
    ),
    "loudness_diff_lu": ("LU", "integrated loudness (BS.1770), row minus live"),
    "centroid_diff_hz": ("Hz", "energy-weighted mean spectral centroid, row minus live"),
    "bandwidth_diff_hz": ("Hz", "energy-weighted mean spectral bandwidth, row minus live"),
}
#: Signed metrics: averages and bar charts use their absolute values (0 is best for all).
SIGNED_METRICS = ("loudness_diff_lu", "centroid_diff_hz", "bandwidth_diff_hz")
MRSTFT_FFT_SIZES = (512, 1024, 2048)
#: Magnitudes more than this far below the reference's peak count as silence in log-magnitude L1.
LOG_MAGNITUDE_RANGE_DB = 80.0


# --- time warps ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeWarp:
    """Where each moment of the estimate's (studio) timeline lies in the reference (live) recording.

    Both arrays are in seconds and increasing: `reference_s[i]` plays what `estimate_s[i]` plays.
    Times in between are interpolated linearly; times outside are clamped to the ends.

    >>> warp = TimeWarp(np.array([0.0, 10.0]), np.array([2.0, 12.5]))
    >>> float(warp(5.0))
    7.25
    """

    estimate_s: np.ndarray
    reference_s: np.ndarray

    def __call__(self, times_s):
        return np.interp(times_s, self.estimate_s, self.reference_s)

    @classmethod
    def from_live_frames(cls, live_frame: np.ndarray, mel_config: MelConfig) -> TimeWarp:
        """From an alignment's `live_frame` (live mel frame of every studio mel frame)."""
        frame_s = mel_config.frame_duration_s
        live_frame = np.asarray(live_frame, dtype=np.float64)
        return cls(np.arange(len(live_frame)) * frame_s, live_frame * frame_s)


def _columns_at(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Columns of `values` (rows, frames) at fractional frame `positions` (linear, clamped)."""
    from liveify.data.align import warp_frames

    return warp_frames(values, np.asarray(positions, dtype=np.float64))


def _reference_positions(n_frames: int, frame_s: float, time_warp: TimeWarp | None) -> np.ndarray:
    """Reference frame position of each of `n_frames` estimate frames spaced `frame_s` apart."""
    if time_warp is None:
        return np.arange(n_frames, dtype=np.float64)
    return time_warp(np.arange(n_frames) * frame_s) / frame_s


# --- pure metrics --------------------------------------------------------------------------------


def _mono(audio: np.ndarray) -> np.ndarray:
    samples = np.asarray(audio, dtype=np.float32)
    return samples.mean(axis=0) if samples.ndim == 2 else samples


def log_mel_l1_db(
    reference_power: np.ndarray,
    estimate_power: np.ndarray,
    *,
    floor_db: float = -80.0,
    ref_power: float = 1e4,
) -> float:
    """Mean absolute difference of two power mel spectrograms in dB.

    Parameters
    ----------
    reference_power, estimate_power : (n_mels, frames) power mels on the same timeline (the
        shorter length is used).
    floor_db : levels below this (dB against `ref_power`) count as the floor, so silence against
        near-silence does not dominate; the default matches `MelConfig` (-top_db).
    ref_power : the power that reads 0 dB (only the floor depends on it).

    Returns
    -------
    float, dB. A pure gain of g dB above the floor gives exactly |g|.
    """
    frames = min(reference_power.shape[-1], estimate_power.shape[-1])
    floor = ref_power * 10.0 ** (floor_db / 10.0)

    def level_db(power):
        return 10.0 * np.log10(np.maximum(np.asarray(power, np.float64)[..., :frames], floor))

    return float(np.mean(np.abs(level_db(estimate_power) - level_db(reference_power))))


def spectral_convergence(reference_magnitude: np.ndarray, estimate_magnitude: np.ndarray) -> float:
    """||reference - estimate||_F / ||reference||_F of two STFT magnitudes (dimensionless)."""
    reference = np.asarray(reference_magnitude, np.float64)
    difference = np.linalg.norm(reference - np.asarray(estimate_magnitude, np.float64))
    return float(difference / max(np.linalg.norm(reference), 1e-12))


def log_magnitude_l1(
    reference_magnitude: np.ndarray,
    estimate_magnitude: np.ndarray,
    *,
    range_db: float = LOG_MAGNITUDE_RANGE_DB,
) -> float:
    """Mean |ln(reference) - ln(estimate)| of two STFT magnitudes (nepers; 1 Np = 8.69 dB).

    Both magnitudes are floored `range_db` below the reference's peak, so bins that are silent in
    both do not count and silence against faint noise is bounded.
    """
    reference = np.asarray(reference_magnitude, np.float64)
    estimate = np.asarray(estimate_magnitude, np.float64)
    floor = max(float(reference.max(initial=0.0)), 1e-12) * 10.0 ** (-range_db / 20.0)
    return float(
        np.mean(np.abs(np.log(np.maximum(reference, floor) / np.maximum(estimate, floor))))
    )


def stft_magnitude(audio: np.ndarray, n_fft: int, hop_length: int | None = None) -> np.ndarray:
    """|STFT| (1 + n_fft // 2, frames) of the mono downmix of `audio`, Hann window, centred."""
    import librosa

    return np.abs(
        librosa.stft(_mono(audio), n_fft=n_fft, hop_length=hop_length or n_fft // 4)
    ).astype(np.float32)


def multi_resolution_stft_distance(
    reference: np.ndarray,
    estimate: np.ndarray,
    sample_rate: float,
    *,
    fft_sizes: tuple[int, ...] = MRSTFT_FFT_SIZES,
    time_warp: TimeWarp | None = None,
) -> float:
    """Spectral convergence + log-magnitude L1, averaged over STFT sizes (hop = n_fft / 4).

    Parameters
    ----------
    reference, estimate : audio `(channels, samples)` or mono, both at `sample_rate` (compared as
        mono downmixes).
    time_warp : maps estimate time to reference time; reference STFT frames are interpolated
        onto the estimate's frames (no resampling, so no pitch change). None: same timeline.

    Returns
    -------
    float, dimensionless (spectral convergence is a ratio, log-magnitude L1 in nepers); 0 for
    identical signals.
    """
    distances = []
    for n_fft in fft_sizes:
        hop = n_fft // 4
        estimate_magnitude = stft_magnitude(estimate, n_fft, hop)
        positions = _reference_positions(estimate_magnitude.shape[1], hop / sample_rate, time_warp)
        reference_magnitude = _columns_at(stft_magnitude(reference, n_fft, hop), positions)
        distances.append(
            spectral_convergence(reference_magnitude, estimate_magnitude)
            + log_magnitude_l1(reference_magnitude, estimate_magnitude)
        )
    return float(np.mean(distances))


def integrated_loudness_lufs(audio: np.ndarray, sample_rate: float) -> float:
    """BS.1770 integrated loudness of `(channels, samples)` audio in LUFS (-inf if silent)."""
    from liveify.loudness import LoudnessMeter

    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[np.newaxis, :]
    meter = LoudnessMeter(sample_rate, samples.shape[0])
    meter.add(samples)
    return meter.integrated_lufs()


def loudness_difference_lu(
    reference: np.ndarray,
    estimate: np.ndarray,
    sample_rate: float,
    *,
    reference_sample_rate: float | None = None,
) -> float:
    """Integrated loudness of `estimate` minus that of `reference`, in LU (BS.1770).

    NaN when either signal is silent (below the absolute gate) and the other is not; 0 when both are.
    """
    estimate_lufs = integrated_loudness_lufs(estimate, sample_rate)
    reference_lufs = integrated_loudness_lufs(reference, reference_sample_rate or sample_rate)
    if math.isinf(estimate_lufs) and math.isinf(reference_lufs):
        return 0.0
    if math.isinf(estimate_lufs) or math.isinf(reference_lufs):
        return float("nan")
    return float(estimate_lufs - reference_lufs)


def spectral_shape_hz(magnitude: np.ndarray, sample_rate: float, n_fft: int) -> tuple[float, float]:
    """Energy-weighted means of librosa's spectral centroid and bandwidth over all frames, in Hz.

    Weighting by frame energy keeps silent frames (whose centroid is meaningless) out.
    """
    import librosa

    magnitude = np.asarray(magnitude, dtype=np.float32)
    energy = np.sum(magnitude.astype(np.float64) ** 2, axis=0)
    if energy.sum() <= 0:
        return float("nan"), float("nan")
    centroid = librosa.feature.spectral_centroid(S=magnitude, sr=sample_rate, n_fft=n_fft)[0]
    bandwidth = librosa.feature.spectral_bandwidth(S=magnitude, sr=sample_rate, n_fft=n_fft)[0]
    weights = energy / energy.sum()
    return float(np.sum(centroid * weights)), float(np.sum(bandwidth * weights))


def spectral_shape_difference_hz(
    reference: np.ndarray,
    estimate: np.ndarray,
    sample_rate: float,
    *,
    n_fft: int = 2048,
    time_warp: TimeWarp | None = None,
) -> tuple[float, float]:
    """(centroid, bandwidth) of `estimate` minus those of `reference`, in Hz.

    The reference's frames are taken on the estimate's timeline through `time_warp`, so only the
    aligned part of a live recording (not its crowd intro or applause) counts.
    """
    hop = n_fft // 4
    estimate_magnitude = stft_magnitude(estimate, n_fft, hop)
    positions = _reference_positions(estimate_magnitude.shape[1], hop / sample_rate, time_warp)
    reference_magnitude = _columns_at(stft_magnitude(reference, n_fft, hop), positions)
    estimate_centroid, estimate_bandwidth = spectral_shape_hz(
        estimate_magnitude, sample_rate, n_fft
    )
    reference_centroid, reference_bandwidth = spectral_shape_hz(
        reference_magnitude, sample_rate, n_fft
    )
    return estimate_centroid - reference_centroid, estimate_bandwidth - reference_bandwidth


def analysis_mel_power(audio: np.ndarray, sample_rate: float, mel_config: MelConfig) -> np.ndarray:
    """Power mel of the mono downmix of `audio`, resampled to the mel config's rate."""
    import librosa

    mono = _mono(audio)
    if sample_rate != mel_config.sample_rate:
        mono = librosa.resample(mono, orig_sr=sample_rate, target_sr=mel_config.sample_rate)
    return mel_power(mono, mel_config)


def aligned_span(time_warp: TimeWarp | None, n_estimate: int, n_reference: int, sample_rate: float):
    """Sample slice of the reference that the estimate's timeline covers."""
    if time_warp is None:
        return slice(0, n_reference)
    start_s, end_s = time_warp(np.array([0.0, n_estimate / sample_rate]))
    start = int(np.clip(round(start_s * sample_rate), 0, n_reference))
    return slice(start, int(np.clip(round(end_s * sample_rate), start + 1, n_reference)))


def compare(
    reference: np.ndarray,
    estimate: np.ndarray,
    sample_rate: float,
    *,
    time_warp: TimeWarp | None = None,
    mel_config: MelConfig | None = None,
    match_loudness: bool = True,
) -> dict[str, float]:
    """Every metric of `estimate` against `reference` (keys and units in `METRICS`).

    Parameters
    ----------
    reference : the real live recording `(channels, samples)` at `sample_rate`.
    estimate : a rendered row on the studio timeline, same rate.
    time_warp : estimate (studio) time -> reference (live) time; None when both share a timeline.
    mel_config : mel analysis of the log-mel L1 (default `MelConfig()`).
    match_loudness : measure log-mel L1 and the STFT distance after a gain that gives the
        estimate the reference's integrated loudness, so they judge spectrum and dynamics and the
        level is judged once, by the loudness difference (measured before the gain).
    """
    mel_config = mel_config or MelConfig()
    reference = np.asarray(reference, dtype=np.float32)
    estimate = np.asarray(estimate, dtype=np.float32)
    span = aligned_span(time_warp, estimate.shape[-1], reference.shape[-1], sample_rate)
    loudness_lu = loudness_difference_lu(reference[..., span], estimate, sample_rate)
    if match_loudness and np.isfinite(loudness_lu):
        estimate = estimate * np.float32(10.0 ** (-loudness_lu / 20.0))

    estimate_mel = analysis_mel_power(estimate, sample_rate, mel_config)
    positions = _reference_positions(estimate_mel.shape[1], mel_config.frame_duration_s, time_warp)
    reference_mel = _columns_at(analysis_mel_power(reference, sample_rate, mel_config), positions)
    centroid_hz, bandwidth_hz = spectral_shape_difference_hz(
        reference, estimate, sample_rate, time_warp=time_warp
    )
    return {
        "log_mel_l1_db": log_mel_l1_db(
            reference_mel,
            estimate_mel,
            floor_db=-mel_config.top_db,
            ref_power=mel_config.ref_power,
        ),
        "mrstft": multi_resolution_stft_distance(
            reference, estimate, sample_rate, time_warp=time_warp
        ),
        "loudness_diff_lu": loudness_lu,
        "centroid_diff_hz": centroid_hz,
        "bandwidth_diff_hz": bandwidth_hz,
    }


# --- rendering rows ------------------------------------------------------------------------------


def render_row(stage, audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Run `audio` through `stage` as a stream with its latency removed: no lead-in, no tail.

    The result has `audio`'s length and lies on its timeline.
    """
    from liveify.plugins.base import stream_aligned

    return _finite(np.concatenate(list(stream_aligned(stage, [audio], sample_rate)), axis=1))


def render_live(audio: np.ndarray, sample_rate: float, preset, *, seed: int, model=None,
                target_lufs: float = -14.0) -> np.ndarray:  # fmt: skip
    """The song as `liveify render` makes it (the recipe with lead-in and tail, mastered to
    `target_lufs`), cut back to the song's own span so it lines up with the studio timeline."""
    from liveify.render.master import master_audio
    from liveify.render.recipe import live_blocks

    blocks = live_blocks(lambda: [audio], sample_rate, preset, seed=seed, model=model)
    live = _finite(np.concatenate(list(blocks), axis=1))
    mastered = master_audio(live, sample_rate, target_lufs=target_lufs, ceiling_db=-1.0)
    lead_in = round(preset.lead_in_s * sample_rate)
    return np.ascontiguousarray(mastered[:, lead_in : lead_in + audio.shape[1]])


def _finite(rendered: np.ndarray) -> np.ndarray:
    if not np.isfinite(rendered).all():
        raise AudioFileError("the effect chain produced NaN or infinite samples")
    return np.ascontiguousarray(rendered, dtype=np.float32)


# --- training split ------------------------------------------------------------------------------


def training_songs(model_path: Path | None, checkpoint_path: Path | None = None) -> set[str] | None:
    """Song keys the model was trained on (from ONNX metadata, else a checkpoint), or None.

    Names are compared as `song_key`s, so "01 Song" from a checkpoint matches "1. Song (Live)".
    """
    from liveify.data.pairing import song_key

    info: dict = {}
    if model_path is not None:
        from liveify.model_file import read_metadata

        info = read_metadata(model_path).get("training_info") or {}
    if "train_songs" not in info and checkpoint_path is not None:
        from liveify.checkpoint import load_checkpoint

        info = load_checkpoint(checkpoint_path)[2].get("training_info") or {}
    songs = info.get("train_songs")
    if not isinstance(songs, list):
        return None
    return {song_key(str(name)) for name in songs}


# --- the evaluation ------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "-", text.lower()).strip("-")[:60] or "song"


def _json_number(value: float):
    return round(float(value), 4) if value is not None and np.isfinite(value) else None


def summarise(songs: list[dict], rows: list[str]) -> dict:
    """Per-row means over all songs, held-out songs and training songs (|x| for signed metrics)."""
    groups = {
        "all": songs,
        "held_out": [song for song in songs if song["in_training"] is False],
        "in_training": [song for song in songs if song["in_training"] is True],
    }
    summary = {}
    for group, members in groups.items():
        means = {}
        for row in rows:
            means[row] = {}
            for metric in METRICS:
                values = [song["rows"][row][metric] for song in members]
                values = [
                    abs(v) if metric in SIGNED_METRICS else v for v in values if v is not None
                ]
                means[row][metric] = _json_number(np.mean(values)) if values else None
        summary[group] = {"songs": [song["song"] for song in members], "rows": means}
    return summary


# The options of `liveify eval`, one keyword each; the body splits into rows and report with the
# evaluate/ package (issue 15).
def evaluate(  # noqa: PLR0913, PLR0915
    studio_dir: str | Path,
    live_dir: str | Path,
    output_dir: str | Path,
    *,
    model_path: str | Path | None = None,
    preset: str = "stadium",
    use_model: bool = True,
    model_strength: float | None = None,
    checkpoint_path: str | Path | None = None,
    max_align_cost: float | None = None,
    seed: int = 0,
    match_loudness: bool = True,
    figures: bool = True,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Evaluate every paired song of `studio_dir` / `live_dir` and write the report.

    Songs are paired and aligned exactly as for training (`pair_recordings`, chroma + onset DTW
    with the model's mel settings, the same alignment-cost limit). Each song is rendered as the
    rows identity, DSP-only preset and, with a model, model only and model + preset (the preset
    rows as `liveify render` makes them: the same recipe and mastering, cut to the song's span),
    and every row is compared with the live recording by `compare`.

    Parameters
    ----------
    output_dir : receives `report.json`, `report.md` and `figures/*.png`.
    model_path : ONNX model; None uses the bundled model when the preset asks for one.
    use_model : False drops the model rows.
    model_strength : 0-1, how much of the model's change to apply (default: the preset's).
    checkpoint_path : training checkpoint that says which songs were trained on, for ONNX files
        whose metadata does not.
    max_align_cost : reject pairs whose mean DTW cost is higher (default: training's limit).
    seed : seed of the preset's random stages (each song's seed as `liveify render` derives it).
    match_loudness : see `compare`.

    Returns
    -------
    The report dict (also written as report.json).
    """
    from tqdm import tqdm

    from liveify.audio import read_audio, to_stereo
    from liveify.data.align import align_recordings
    from liveify.data.dataset import DEFAULT_MAX_ALIGN_COST
    from liveify.data.pairing import pair_or_fail
    from liveify.presets import load_preset
    from liveify.render import resolve_model
    from liveify.render.plan import track_seed

    output_dir = Path(output_dir)
    loaded_preset = load_preset(preset)
    if model_strength is not None:
        loaded_preset = replace(loaded_preset, model_strength=model_strength)
    choice = resolve_model(
        Path(model_path) if model_path is not None else None, use_model, loaded_preset
    )
    model, model_note = choice.path, choice.note
    max_align_cost = DEFAULT_MAX_ALIGN_COST if max_align_cost is None else float(max_align_cost)
    if max_align_cost <= 0:
        raise ParameterError(f"max_align_cost must be > 0; got {max_align_cost}")
    live_model = None
    mel_config = MelConfig()
    if model is not None:
        from liveify.plugins.model_stage import LiveModel

        live_model = LiveModel(
            model,
            strength=loaded_preset.model_strength,
            max_gain_db=loaded_preset.model_max_gain_db,
        )
        mel_config = live_model.mel_config
    trained = training_songs(model, Path(checkpoint_path) if checkpoint_path else None)
    rows = list(ROWS if live_model is not None else ROWS[:2])

    pairing = pair_or_fail(studio_dir, live_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    figure_dir = output_dir / "figures"
    songs, rejected, figure_paths = [], [], []
    bar = tqdm(pairing.pairs, desc="Evaluating", unit="song", disable=not progress, file=sys.stderr)
    for index, pair in enumerate(bar):
        bar.set_postfix_str(pair.key[:30])
        try:
            aligned = align_recordings(pair.studio, pair.live, mel_config=mel_config)
        except LiveifyError as error:
            rejected.append({"song": pair.key, "reason": str(error)})
            log(f"rejected {pair.key}: {error}")
            continue
        cost = aligned.alignment.cost
        if cost > max_align_cost:
            reason = f"alignment cost {cost:.3f} is above --max-align-cost {max_align_cost:g}"
            rejected.append({"song": pair.key, "reason": reason})
            log(f"rejected {pair.key}: {reason}")
            continue
        studio, rate = read_audio(pair.studio)
        studio = to_stereo(studio)
        live, _ = read_audio(pair.live, sample_rate=rate)
        time_warp = TimeWarp.from_live_frames(aligned.alignment.live_frame, mel_config)

        rendered = {"identity": studio}
        song_seed = track_seed(seed, pair.studio)
        rendered["dsp"] = render_live(studio, rate, loaded_preset, seed=song_seed)
        if live_model is not None:
            rendered["model"] = render_row(live_model, studio, rate)
            rendered["model+preset"] = render_live(
                studio, rate, loaded_preset, seed=song_seed, model=live_model
            )

        metrics = {
            row: {
                name: _json_number(value)
                for name, value in compare(
                    live,
                    rendered[row],
                    rate,
                    time_warp=time_warp,
                    mel_config=mel_config,
                    match_loudness=match_loudness,
                ).items()
            }
            for row in rows
        }
        in_training = None if trained is None else pair.key in trained
        entry = {
            "song": pair.key,
            "studio": str(pair.studio),
            "live": str(pair.live),
            "in_training": in_training,
            "alignment_cost": round(cost, 4),
            "duration_s": round(studio.shape[1] / rate, 3),
            "rows": metrics,
        }
        if figures:
            predicted_row = "model+preset" if live_model is not None else "dsp"
            figure = figure_dir / f"{index + 1:02d}-{_slug(pair.key)}.png"
            plot_song_mels(
                figure,
                title=pair.key,
                studio=analysis_mel_power(studio, rate, mel_config),
                predicted=analysis_mel_power(rendered[predicted_row], rate, mel_config),
                live=_columns_at(
                    analysis_mel_power(live, rate, mel_config), aligned.alignment.live_frame
                ),
                predicted_label=ROW_LABELS[predicted_row],
                mel_config=mel_config,
            )
            entry["figure"] = str(figure.relative_to(output_dir))
            figure_paths.append(figure)
        songs.append(entry)
    if not songs:
        details = "; ".join(f"{item['song']}: {item['reason']}" for item in rejected[:5])
        raise DataError(f"all {len(rejected)} song pairs were rejected ({details})")

    import liveify

    summary = summarise(songs, rows)
    report = {
        "liveify_version": liveify.__version__,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "studio_dir": str(studio_dir),
        "live_dir": str(live_dir),
        "model": str(model) if model is not None else None,
        "model_note": model_note,
        "preset": loaded_preset.name,
        "training_split_known": trained is not None,
        "match_loudness": match_loudness,
        "mel_config": mel_config.to_dict(),
        "rows": rows,
        "metrics": {
            name: {"unit": unit, "meaning": text} for name, (unit, text) in METRICS.items()
        },
        "songs": songs,
        "summary": summary,
        "rejected": rejected,
        "unmatched_studio": [str(path) for path in pairing.unmatched_studio],
        "unmatched_live": [str(path) for path in pairing.unmatched_live],
    }
    if figures:
        chart = figure_dir / "metrics.png"
        group = "held_out" if summary["held_out"]["songs"] else "all"
        plot_metric_bars(chart, summary[group]["rows"], rows, title=_group_title(summary, group))
        report["figures"] = [str(path.relative_to(output_dir)) for path in [chart, *figure_paths]]
    write_text_atomic(output_dir / "report.json", json.dumps(report, indent=1) + "\n")
    write_text_atomic(output_dir / "report.md", format_markdown(report))
    return report


# --- report formatting ---------------------------------------------------------------------------


def _group_title(summary: dict, group: str) -> str:
    count = len(summary[group]["songs"])
    names = {"all": "all songs", "held_out": "held-out songs", "in_training": "training songs"}
    return f"mean over {names[group]} (n={count})"


def _header(signed_as_absolute: bool) -> str:
    cells = []
    for name, (unit, _) in METRICS.items():
        label = {
            "log_mel_l1_db": "log-mel L1",
            "mrstft": "MR-STFT",
            "loudness_diff_lu": "Δ loudness",
            "centroid_diff_hz": "Δ centroid",
            "bandwidth_diff_hz": "Δ bandwidth",
        }[name]
        if signed_as_absolute and name in SIGNED_METRICS:
            label = f"{label}, abs"
        cells.append(f"{label} ({unit})" if unit else label)
    return "| row | " + " | ".join(cells) + " |\n|---|" + "---:|" * len(cells) + "\n"


def _table(values_by_row: dict, rows: list[str], *, signed_as_absolute: bool) -> str:
    lines = [_header(signed_as_absolute)]
    for row in rows:
        cells = []
        for name in METRICS:
            value = values_by_row[row][name]
            digits = 0 if name.endswith("_hz") else 3 if name == "mrstft" else 2
            cells.append("n/a" if value is None else f"{value:.{digits}f}")
        lines.append(f"| {ROW_LABELS[row]} | " + " | ".join(cells) + " |\n")
    return "".join(lines)


def format_markdown(report: dict) -> str:
    """report.md: the held-out means first, then every song's table (rows x metrics)."""
    rows, summary = report["rows"], report["summary"]
    lines = [
        "# Liveify evaluation\n\n",
        f"- studio: `{report['studio_dir']}`, live: `{report['live_dir']}`\n",
        f"- preset: {report['preset']}; model: {report['model_note']}\n",
        f"- created {report['created']} with liveify {report['liveify_version']}\n",
        "- every metric is 0 for a perfect match; differences are row minus live, and means use "
        "their absolute values\n",
    ]
    if report["match_loudness"]:
        lines.append(
            "- log-mel L1 and MR-STFT are measured after matching each row's loudness to the "
            "live recording\n"
        )
    lines.append("\n")
    for name, (unit, meaning) in METRICS.items():
        lines.append(f"- `{name}`{f' ({unit})' if unit else ''}: {meaning}\n")
    groups = ["held_out", "in_training", "all"] if report["training_split_known"] else ["all"]
    for group in groups:
        if not summary[group]["songs"]:
            continue
        lines.append(f"\n## {_group_title(summary, group).capitalize()}\n\n")
        lines.append(_table(summary[group]["rows"], rows, signed_as_absolute=True))
    if not report["training_split_known"]:
        lines.append(
            "\nThe model's training songs are unknown (no `train_songs` in its metadata), so no "
            "held-out mean is given.\n"
        )
    lines.append("\n## Per song\n")
    status = {True: "in training", False: "held out", None: "training split unknown"}
    for song in report["songs"]:
        lines.append(
            f"\n### {song['song']}\n\n{status[song['in_training']]}; {song['duration_s']:.1f} s; "
            f"alignment cost {song['alignment_cost']:.3f}\n\n"
        )
        lines.append(_table(song["rows"], rows, signed_as_absolute=False))
        if "figure" in song:
            lines.append(f"\n![{song['song']}]({song['figure']})\n")
    for item in report["rejected"]:
        lines.append(f"\nrejected {item['song']}: {item['reason']}\n")
    return "".join(lines)


# --- figures -------------------------------------------------------------------------------------


def _pyplot():
    from liveify.errors import require

    matplotlib = require("matplotlib", "train")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_song_mels(
    path: Path,
    *,
    title: str,
    studio: np.ndarray,
    predicted: np.ndarray,
    live: np.ndarray,
    predicted_label: str,
    mel_config: MelConfig,
) -> Path:
    """Studio, predicted and aligned live power mels side by side, in dB, as a PNG."""
    plt = _pyplot()
    panels = [
        ("studio", studio),
        (f"predicted: {predicted_label}", predicted),
        ("live (aligned)", live),
    ]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4), sharey=True, constrained_layout=True)
    image = None
    for axis, (label, power) in zip(axes, panels, strict=True):
        level_db = 10.0 * np.log10(np.maximum(power, 1e-30) / mel_config.ref_power)
        duration_s = power.shape[1] * mel_config.frame_duration_s
        image = axis.imshow(
            level_db,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=-mel_config.top_db,
            vmax=0.0,
            extent=(0.0, duration_s, 0, power.shape[0]),
        )
        axis.set_title(label)
        axis.set_xlabel("time (s, studio timeline)")
    axes[0].set_ylabel("mel band")
    figure.colorbar(image, ax=axes, label="dB")
    figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def plot_metric_bars(path: Path, means: dict, rows: list[str], *, title: str) -> Path:
    """One bar chart per metric, a bar per row (absolute values for signed metrics), as a PNG."""
    plt = _pyplot()
    figure, axes = plt.subplots(
        1, len(METRICS), figsize=(4 * len(METRICS), 4), constrained_layout=True
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, (name, (unit, _)) in zip(axes, METRICS.items(), strict=True):
        values = [means[row][name] for row in rows]
        heights = [np.nan if value is None else value for value in values]
        axis.bar(range(len(rows)), heights, color=colours[: len(rows)])
        axis.set_xticks(range(len(rows)), rows, rotation=30, ha="right")
        label = f"|{name}|" if name in SIGNED_METRICS else name
        axis.set_title(f"{label} ({unit})" if unit else label)
    figure.suptitle(f"{title}; lower is better")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path
