"""Small signal-processing pieces shared by the stages and the demo's own renderer: an
equal-power pan and a one-pole low-pass (pure numpy/scipy, no Liveify imports)."""

from __future__ import annotations

import numpy as np


def equal_power_pan(pan) -> np.ndarray:
    """Left and right gains, shaped `(2, *np.shape(pan))`, of an equal-power pan.

    `pan` runs from -1 (left) through 0 (centre: both gains cos(pi/4) = 0.707) to 1 (right);
    values outside are clipped. left**2 + right**2 = 1, so a source keeps its power as it moves.

    >>> equal_power_pan(1.0).round(6).tolist()
    [0.0, 1.0]
    """
    angle = (np.clip(np.asarray(pan, dtype=np.float64), -1.0, 1.0) + 1.0) * np.pi / 4.0
    return np.stack([np.cos(angle), np.sin(angle)])


def one_pole_lowpass(
    values: np.ndarray, *, pole: float, previous_output: float | None = None
) -> np.ndarray:
    """`y[n] = (1 - pole) * x[n] + pole * y[n - 1]` along the last axis: unity gain at DC.

    `pole` in [0, 1) sets the smoothing: `exp(-2 pi cutoff_hz / sample_rate)` for a cutoff, or
    `exp(-step_s / time_constant_s)` for an envelope smoother sampled every `step_s`.
    `previous_output` continues a stream (the last output of the previous call); None starts
    from rest.
    """
    from scipy.signal import lfilter

    if previous_output is None:
        return lfilter([1.0 - pole], [1.0, -pole], values)
    return lfilter([1.0 - pole], [1.0, -pole], values, zi=[pole * previous_output])[0]
