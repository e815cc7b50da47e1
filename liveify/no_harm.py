"""No-harm measurements of an effect stage on real music: what it does to the top octave,
whether it carves narrow resonances, and whether it gates (switches bands on and off).

Each takes the stage's input and its aligned output (same shape and rate) and compares them, so
any stage can be judged on anyone's recordings (`benchmarks/real_music.py`). Targets for the model
stage (DESIGN.md): |top_octave_change_db| <= 3, resonance_db <= 3, gating_db <= 2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from liveify.errors import ParameterError

#: Frequency above which `top_octave_change_db` measures (above the model's 11.025 kHz mel top).
TOP_OCTAVE_HZ = 11500.0
#: Range of the resonance search and the fractions of an octave it compares.
RESONANCE_RANGE_HZ = (100.0, 10000.0)
#: Length of the frames over which gating is measured, and how far below a band's loudest frame
#: a frame may be and still count (quieter frames are the band's silence, not its music).
GATING_FRAME_S = 0.1
GATING_RANGE_DB = 40.0
#: Input energy above TOP_OCTAVE_HZ below this share of the total counts as none (e.g. 22 kHz
#: sources): the top-octave change is then undefined.
_TOP_OCTAVE_MIN_SHARE_DB = -60.0


@dataclass(frozen=True)
class NoHarm:
    """The three no-harm figures of one track (dB); `top_octave_change_db` is None when the input
    has no content above `TOP_OCTAVE_HZ`."""

    top_octave_change_db: float | None
    resonance_db: float
    gating_db: float

    def passes(self, *, top_db: float = 3.0, resonance_db: float = 3.0, gating_db: float = 2.0):
        top_ok = self.top_octave_change_db is None or abs(self.top_octave_change_db) <= top_db
        return top_ok and self.resonance_db <= resonance_db and self.gating_db <= gating_db

    def to_dict(self) -> dict:
        return asdict(self)


def _power_spectra(
    before: np.ndarray, after: np.ndarray, sample_rate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Long-term power spectra (summed over channels) of both signals, ~1.3 Hz resolution."""
    from scipy.signal import welch

    segment = int(2 ** np.ceil(np.log2(sample_rate * 0.75)))
    segment = min(segment, before.shape[-1])
    frequencies, before_psd = welch(before, fs=sample_rate, nperseg=segment, axis=-1)
    _, after_psd = welch(after, fs=sample_rate, nperseg=segment, axis=-1)
    return frequencies, np.atleast_2d(before_psd).sum(axis=0), np.atleast_2d(after_psd).sum(axis=0)


def top_octave_change_db(
    before: np.ndarray, after: np.ndarray, sample_rate: float, *, above_hz: float = TOP_OCTAVE_HZ
) -> float | None:
    """Level change (dB, after re before) of everything above `above_hz`, over the whole signal."""
    frequencies, before_psd, after_psd = _power_spectra(before, after, sample_rate)
    top = frequencies >= above_hz
    before_top = before_psd[top].sum()
    if not top.any() or before_top <= before_psd.sum() * 10 ** (_TOP_OCTAVE_MIN_SHARE_DB / 10):
        return None
    return float(10 * np.log10(max(after_psd[top].sum(), 1e-30) / before_top))


def _band_sums(psd: np.ndarray, frequencies: np.ndarray, edges_hz: np.ndarray) -> np.ndarray:
    """Sum of `psd` (..., bins) between consecutive pairs of `edges_hz` (bands, 2)."""
    cumulative = np.concatenate([np.zeros((*psd.shape[:-1], 1)), np.cumsum(psd, axis=-1)], -1)
    lo = np.searchsorted(frequencies, edges_hz[:, 0])
    hi = np.searchsorted(frequencies, edges_hz[:, 1])
    return cumulative[..., hi] - cumulative[..., lo]


def resonance_db(
    before: np.ndarray,
    after: np.ndarray,
    sample_rate: float,
    *,
    range_hz: tuple[float, float] = RESONANCE_RANGE_HZ,
) -> float:
    """Largest gap (dB) between the 1/12-octave after/before transfer and its 1/3-octave smoothing.

    A broad tilt or shelf leaves the two equal; a peak or notch narrower than a third of an octave
    shows as the gap. Both transfers are energy ratios over bands centred every 1/12 octave.
    """
    frequencies, before_psd, after_psd = _power_spectra(before, after, sample_rate)
    high = min(range_hz[1], sample_rate / 2 / 2 ** (1 / 6))
    centres = range_hz[0] * 2 ** (np.arange(0, 12 * np.log2(high / range_hz[0]) + 1e-9) / 12)

    def transfer_db(half_width_octaves: float) -> np.ndarray:
        edges = centres[:, np.newaxis] * 2 ** (np.array([-1, 1]) * half_width_octaves)
        before_bands = np.maximum(_band_sums(before_psd, frequencies, edges), 1e-30)
        after_bands = np.maximum(_band_sums(after_psd, frequencies, edges), 1e-30)
        return 10 * np.log10(after_bands / before_bands)

    return float(np.max(np.abs(transfer_db(1 / 24) - transfer_db(1 / 6))))


def gating_db(
    before: np.ndarray,
    after: np.ndarray,
    sample_rate: float,
    *,
    frame_s: float = GATING_FRAME_S,
    range_db: float = GATING_RANGE_DB,
) -> float:
    """How much a stage's per-band gain moves over time: median over 1/3-octave bands of the
    standard deviation over `frame_s` frames of the after-minus-before band level (dB), counting
    frames within `range_db` of the band's loudest. A static EQ gives 0."""
    frame = round(frame_s * sample_rate)
    n_frames = before.shape[-1] // frame
    window = np.hanning(frame + 2)[1:-1]

    def band_levels(signal: np.ndarray) -> np.ndarray:
        frames = np.atleast_2d(signal)[:, : n_frames * frame].reshape(-1, n_frames, frame)
        power = (np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2).sum(axis=0)
        return _band_sums(power, frequencies, edges)  # (frames, bands)

    frequencies = np.fft.rfftfreq(frame, 1 / sample_rate)
    top = min(16000.0, sample_rate / 2 / 2 ** (1 / 6))
    centres = 100.0 * 2 ** (np.arange(0, 3 * np.log2(top / 100.0) + 1e-9) / 3)
    edges = centres[:, np.newaxis] * 2 ** (np.array([-1, 1]) / 6)
    before_db = 10 * np.log10(np.maximum(band_levels(before), 1e-30))
    after_db = 10 * np.log10(np.maximum(band_levels(after), 1e-30))
    band_has_signal = before_db.max(axis=0) > -290  # not just the 1e-30 floor
    deviations = []
    for band in range(len(centres)):
        loud = before_db[:, band] >= before_db[:, band].max() - range_db
        if loud.sum() >= 2 and band_has_signal[band]:
            deviations.append(np.std(after_db[loud, band] - before_db[loud, band]))
    return float(np.median(deviations)) if deviations else 0.0


def no_harm(before: np.ndarray, after: np.ndarray, sample_rate: float) -> NoHarm:
    """All three figures for a stage's input `before` and aligned output `after` (channels, n)."""
    before = np.asarray(before, dtype=np.float64)
    after = np.asarray(after, dtype=np.float64)
    if before.shape != after.shape:
        raise ParameterError(f"before and after differ in shape: {before.shape} vs {after.shape}")
    return NoHarm(
        top_octave_change_db=top_octave_change_db(before, after, sample_rate),
        resonance_db=resonance_db(before, after, sample_rate),
        gating_db=gating_db(before, after, sample_rate),
    )
