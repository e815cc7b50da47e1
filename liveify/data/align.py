"""Align a live recording to its studio version: chroma + onset features, DTW, mel warping.

The live take is warped onto the studio timeline, so frame i of the warped live mel is the moment
of the song that studio frame i holds. Pairs that do not align well are rejected by cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveify.config import DictConfig
from liveify.errors import DataError, ParameterError
from liveify.mel import MelConfig, mel_power, normalize


@dataclass(frozen=True)
class AlignConfig(DictConfig):
    """How studio and live recordings are aligned; part of the cache key.

    Parameters
    ----------
    downsample : mel frames averaged into one DTW frame (4 -> ~93 ms at the default hop). DTW time
        and memory fall with its square; the smoothed path stays sub-frame accurate on steady music.
    onset_weight : share of the onset-strength difference in the frame cost (the rest is chroma
        cosine distance). Onsets pin down rhythm where chords repeat.
    max_offset_s : longest stretch of extra live material (crowd intro, banter, applause) allowed
        before the song starts and after it ends in the live recording.
    smoothing_s : window of the local-linear (Savitzky-Golay) fit that turns the DTW path into a
        smooth studio->live map; longer is steadier, shorter follows sudden tempo changes.
    max_cells : largest DTW cost matrix (studio x live DTW frames); longer recordings get a larger
        `downsample` automatically so memory stays bounded (~20 bytes per cell).
    anchor_tolerance_s : with lyric anchors (`--align lyrics`), the path must pass within this
        many seconds of each anchor's live time; about twice Whisper's word-time error.
    """

    downsample: int = 4
    onset_weight: float = 0.3
    max_offset_s: float = 60.0
    smoothing_s: float = 2.0
    max_cells: int = 12_000_000
    anchor_tolerance_s: float = 1.0

    def __post_init__(self):
        checks = {
            "anchor_tolerance_s": self.anchor_tolerance_s > 0.0,
            "downsample": self.downsample >= 1,
            "onset_weight": 0.0 <= self.onset_weight <= 1.0,
            "max_offset_s": self.max_offset_s >= 0.0,
            "smoothing_s": self.smoothing_s >= 0.0,
            "max_cells": self.max_cells >= 10_000,
        }
        for name, ok in checks.items():
            if not ok:
                raise ParameterError(
                    f"AlignConfig.{name} = {getattr(self, name)!r} is out of range"
                )


@dataclass(frozen=True)
class AlignmentFeatures:
    """Per-mel-frame features of one recording used for alignment."""

    chroma: np.ndarray  # (12, frames), each frame scaled to unit max
    onset: np.ndarray  # (frames,) onset strength


@dataclass(frozen=True)
class Alignment:
    """Where every studio frame lies in the live recording.

    `live_frame` holds, for studio mel frame i, the (fractional) live mel frame playing the same
    moment; `cost` is the mean frame cost along the DTW path (0 = identical features, about 0.05
    for the demo pairs, 0.2+ for different songs); `path` is the raw DTW path in mel frames
    (studio, live), for plots and diagnostics.
    """

    live_frame: np.ndarray
    cost: float
    path: np.ndarray
    downsample: int


def alignment_features(
    mono: np.ndarray, power_mel: np.ndarray, config: MelConfig
) -> AlignmentFeatures:
    """Chroma (from an STFT of `mono`) and onset strength (from `power_mel`) at the mel hop."""
    import librosa

    spectrum = np.abs(librosa.stft(mono, n_fft=config.n_fft, hop_length=config.hop_length)) ** 2
    # tuning=0: estimating it (piptrack) would cost more than everything else here, and a band
    # a few cents off still lands in the same chroma bins.
    chroma = librosa.feature.chroma_stft(
        S=spectrum,
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        tuning=0.0,
    )
    onset = librosa.onset.onset_strength(
        S=librosa.power_to_db(power_mel, ref=np.max),
        sr=config.sample_rate,
        hop_length=config.hop_length,
    )
    frames = power_mel.shape[1]
    return AlignmentFeatures(chroma[:, :frames], onset[:frames])


def _pool(values: np.ndarray, factor: int, reduce) -> np.ndarray:
    """Pool the last axis in blocks of `factor` (the last block is padded with its edge value)."""
    frames = values.shape[-1]
    blocks = -(-frames // factor)
    padded = np.pad(
        values, [(0, 0)] * (values.ndim - 1) + [(0, blocks * factor - frames)], mode="edge"
    )
    return reduce(padded.reshape(*values.shape[:-1], blocks, factor), axis=-1)


def _onset_scale(onset: np.ndarray) -> np.ndarray:
    """Compress onset strength to [0, 1] relative to the recording's own strong onsets, so a
    reverberant or crowd-noisy take compares with a dry one."""
    compressed = np.log1p(10.0 * onset / (np.percentile(onset, 95) + 1e-9))
    return compressed / (compressed.max() + 1e-9)


def _unit_columns(chroma: np.ndarray) -> np.ndarray:
    return chroma / (np.linalg.norm(chroma, axis=0, keepdims=True) + 1e-9)


#: Cost added to DTW cells an anchor rules out (features cost at most ~1 per cell).
OFF_PATH_COST = 1e3


def _feature_cost(
    studio: AlignmentFeatures, live: AlignmentFeatures, factor: int, onset_weight: float
) -> tuple[np.ndarray, int]:
    """The DTW cost of each studio frame against each live frame, both pooled by `factor`
    (chroma cosine distance and onset difference), and the number of live frames."""
    studio_chroma = _unit_columns(_pool(studio.chroma, factor, np.mean))
    live_chroma = _unit_columns(_pool(live.chroma, factor, np.mean))
    studio_onset = _onset_scale(_pool(studio.onset, factor, np.max))
    live_onset = _onset_scale(_pool(live.onset, factor, np.max))
    n_studio, n_live = studio_chroma.shape[1], live_chroma.shape[1]
    # librosa swaps the roles when the query is the longer sequence; pad the live side with
    # featureless frames (cost 1 to everything) so the studio is always the query.
    n_padding = max(0, n_studio - n_live + 1)
    live_chroma = np.pad(live_chroma, [(0, 0), (0, n_padding)])
    live_onset = np.pad(live_onset, (0, n_padding))
    w = onset_weight
    cost = (1.0 - w) * (1.0 - studio_chroma.T @ live_chroma)
    cost += w * np.abs(studio_onset[:, None] - live_onset[None, :])
    return np.clip(cost, 0.0, None), n_live


def align_features(
    studio: AlignmentFeatures,
    live: AlignmentFeatures,
    mel_config: MelConfig,
    config: AlignConfig,
    anchors: list[tuple[float, float]] | None = None,
) -> Alignment:
    """Subsequence DTW of studio against live features and a smoothed studio->live frame map.

    The whole studio recording is matched against a stretch of the live one that starts within
    `max_offset_s` of its beginning and ends within `max_offset_s` of its end. Steps (1,1), (1,2),
    (2,1) bound the local tempo ratio to [1/2, 2], which keeps the path from stalling on a crowd
    intro or a fade-out; the non-diagonal steps cost double so a straight path is preferred.
    `anchors` ((studio_s, live_s) pairs, from `liveify.data.lyrics.lyric_anchors`) constrain the
    path to pass within `anchor_tolerance_s` of each; `cost` stays the features' cost.
    """
    import librosa
    from scipy.signal import savgol_filter

    studio_frames = studio.chroma.shape[1]
    live_frames = live.chroma.shape[1]
    if studio_frames < 2 or live_frames < 2:
        raise DataError("recording too short to align (fewer than 2 mel frames)")
    factor = max(
        config.downsample, int(np.ceil(np.sqrt(studio_frames * live_frames / config.max_cells)))
    )
    cost, n_live = _feature_cost(studio, live, factor, config.onset_weight)
    n_studio = cost.shape[0]
    dtw_frame_s = mel_config.frame_duration_s * factor
    max_offset = max(1, int(np.ceil(config.max_offset_s / dtw_frame_s)))
    feature_rows = _constrain_to_anchors(cost, anchors or [], dtw_frame_s, config)
    feature_rows.setdefault(0, cost[0].copy())
    cost[0, max_offset:] = OFF_PATH_COST  # the song must start within max_offset_s of the live

    step_sizes = np.array([[1, 1], [1, 2], [2, 1]])
    step_weights = np.array([1.0, 2.0, 2.0])
    accumulated, steps = librosa.sequence.dtw(
        C=cost,
        step_sizes_sigma=step_sizes,
        weights_mul=step_weights,
        subseq=True,
        backtrack=False,
        return_steps=True,
    )
    last_row = accumulated[-1].copy()
    last_row[: max(0, n_live - max_offset)] = np.inf  # ... and end within max_offset_s of its end
    last_row[n_live:] = np.inf
    if not np.isfinite(last_row).any():
        last_row = accumulated[-1, :n_live].copy()
    end = int(np.argmin(last_row))
    path = np.asarray(
        librosa.sequence.dtw_backtracking(
            steps, step_sizes_sigma=step_sizes, subseq=True, start=end
        )
    )[::-1]
    for row, values in feature_rows.items():
        cost[row] = values
    mean_cost = float(np.mean(cost[path[:, 0], path[:, 1]]))

    # DTW frame centres in mel frames; one live position per studio DTW frame (steps of 2 skip).
    centre = (factor - 1) / 2.0
    studio_at = path[:, 0] * factor + centre
    live_at = np.minimum(path[:, 1], n_live - 1) * factor + centre
    coarse_studio = np.arange(n_studio) * factor + centre
    unique_studio, inverse = np.unique(studio_at, return_inverse=True)
    mean_live = np.bincount(inverse, weights=live_at) / np.bincount(inverse)
    coarse_live = np.interp(coarse_studio, unique_studio, mean_live)
    window = round(config.smoothing_s / (mel_config.frame_duration_s * factor)) | 1
    window = min(window, n_studio if n_studio % 2 else n_studio - 1)
    if window >= 3:
        coarse_live = savgol_filter(coarse_live, window, polyorder=1, mode="interp")
    coarse_live = np.maximum.accumulate(coarse_live)
    live_frame = np.interp(np.arange(studio_frames), coarse_studio, coarse_live)
    live_frame = np.clip(live_frame, 0.0, live_frames - 1)
    raw_path = np.stack([path[:, 0] * factor, np.minimum(path[:, 1], n_live - 1) * factor], axis=1)
    return Alignment(live_frame=live_frame, cost=mean_cost, path=raw_path, downsample=factor)


def _constrain_to_anchors(
    cost: np.ndarray, anchors, dtw_frame_s: float, config: AlignConfig
) -> dict[int, np.ndarray]:
    """Raise the cost of every cell of an anchor's rows farther than the tolerance from its live
    frame; returns the original rows. Two rows per anchor: a (2,1) step may skip one row, never
    two."""
    n_studio, n_live = cost.shape
    tolerance = max(1, round(config.anchor_tolerance_s / dtw_frame_s))
    original: dict[int, np.ndarray] = {}
    for studio_s, live_s in anchors:
        anchor_row, live_frame = round(studio_s / dtw_frame_s), round(live_s / dtw_frame_s)
        if not (0 <= anchor_row < n_studio and 0 <= live_frame < n_live):
            continue
        for row in range(anchor_row, min(anchor_row + 2, n_studio)):
            original.setdefault(row, cost[row].copy())
            cost[row, : max(0, live_frame - tolerance)] = OFF_PATH_COST
            cost[row, live_frame + tolerance + 1 :] = OFF_PATH_COST
    return original


def warp_frames(live_mel: np.ndarray, live_frame: np.ndarray) -> np.ndarray:
    """Resample live mel columns at fractional positions `live_frame` (linear interpolation)."""
    position = np.clip(live_frame, 0, live_mel.shape[1] - 1)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, live_mel.shape[1] - 1)
    fraction = (position - lower).astype(live_mel.dtype)
    return live_mel[:, lower] * (1 - fraction) + live_mel[:, upper] * fraction


@dataclass(frozen=True)
class AlignedPair:
    """Normalised mels of a studio recording and of its live take warped onto the studio frames."""

    studio_mel: np.ndarray  # (n_mels, T) float32 in [-1, 1]
    live_mel: np.ndarray  # (n_mels, T) float32 in [-1, 1], frame i = studio frame i
    alignment: Alignment


def load_mono(path: str | Path, sample_rate: float) -> np.ndarray:
    """Read `path` as float32 mono at `sample_rate` (AudioFileError names the file on failure)."""
    from liveify.audio import read_audio

    audio, _ = read_audio(path, sample_rate=sample_rate)
    return audio.mean(axis=0)


def analyse(mono: np.ndarray, mel_config: MelConfig) -> tuple[np.ndarray, AlignmentFeatures]:
    """Normalised mel and alignment features of one mono recording."""
    power = mel_power(mono, mel_config)
    return normalize(power, mel_config), alignment_features(mono, power, mel_config)


def align_recordings(
    studio_path: str | Path,
    live_path: str | Path,
    *,
    mel_config: MelConfig,
    align_config: AlignConfig | None = None,
    anchors: list[tuple[float, float]] | None = None,
) -> AlignedPair:
    """Read a studio and a live file, align them by DTW and warp the live mel onto the studio.

    `anchors` ((studio_s, live_s) moments known to match, e.g. the same sung words) constrain
    the path. The cost is reported, not judged: callers compare `alignment.cost` with their
    threshold.
    """
    from concurrent.futures import ThreadPoolExecutor

    config = align_config or AlignConfig()

    def read_and_analyse(path):
        return analyse(load_mono(path, mel_config.sample_rate), mel_config)

    # Decoding, resampling and FFTs release the GIL: the two recordings overlap on two cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        studio_job = pool.submit(read_and_analyse, studio_path)
        live_job = pool.submit(read_and_analyse, live_path)
        studio_mel, studio_features = studio_job.result()
        live_mel, live_features = live_job.result()
    alignment = align_features(studio_features, live_features, mel_config, config, anchors)
    return AlignedPair(studio_mel, warp_frames(live_mel, alignment.live_frame), alignment)
