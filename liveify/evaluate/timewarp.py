"""Time warps between a rendered row (studio timeline) and the live recording it is judged against.

An alignment maps every studio mel frame to a live frame; `TimeWarp` turns that into a map between
seconds, and `columns_at` reads a reference spectrogram at the warped (fractional) frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liveify.mel import MelConfig


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


def columns_at(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Columns of `values` (rows, frames) at fractional frame `positions` (linear, clamped)."""
    from liveify.data.align import warp_frames

    return warp_frames(values, np.asarray(positions, dtype=np.float64))


def reference_positions(n_frames: int, frame_s: float, time_warp: TimeWarp | None) -> np.ndarray:
    """Reference frame position of each of `n_frames` estimate frames spaced `frame_s` apart."""
    if time_warp is None:
        return np.arange(n_frames, dtype=np.float64)
    return time_warp(np.arange(n_frames) * frame_s) / frame_s
