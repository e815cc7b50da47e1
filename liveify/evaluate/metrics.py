"""Objective metrics of a rendered row against a live recording: pure functions, arrays in and
floats out (log-mel L1, multi-resolution STFT distance, loudness and spectral-shape differences).
"""

from __future__ import annotations

import math

import numpy as np

from liveify.evaluate.timewarp import TimeWarp, columns_at, reference_positions
from liveify.mel import MelConfig, mel_power

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
        positions = reference_positions(estimate_magnitude.shape[1], hop / sample_rate, time_warp)
        reference_magnitude = columns_at(stft_magnitude(reference, n_fft, hop), positions)
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
    positions = reference_positions(estimate_magnitude.shape[1], hop / sample_rate, time_warp)
    reference_magnitude = columns_at(stft_magnitude(reference, n_fft, hop), positions)
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
    positions = reference_positions(estimate_mel.shape[1], mel_config.frame_duration_s, time_warp)
    reference_mel = columns_at(analysis_mel_power(reference, sample_rate, mel_config), positions)
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
