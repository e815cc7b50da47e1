"""Context windows and overlap-add in the mel domain, shared by training and rendering.

A mel of any length is cut into fixed-size windows (the model's context) with a hop set by
`overlap`, and window outputs are blended back with crossfade weights divided by their sum, so the
blend is exact at every frame, including the first and last.
"""

from __future__ import annotations

import math

import numpy as np

from liveify.errors import ParameterError


def window_hop(window_frames: int, overlap: float) -> int:
    """Frames between consecutive window starts for an `overlap` fraction in [0, 1)."""
    if window_frames < 1:
        raise ParameterError(f"window_frames must be >= 1; got {window_frames}")
    if not 0.0 <= overlap < 1.0:
        raise ParameterError(f"overlap must be in [0, 1); got {overlap}")
    return max(1, round(window_frames * (1.0 - overlap)))


def window_starts(n_frames: int, window_frames: int, overlap: float) -> np.ndarray:
    """First frame of every window needed to cover `n_frames` frames.

    The last window may run past the end; `split_windows` pads it. A mel shorter than one window
    gets a single window.
    """
    hop = window_hop(window_frames, overlap)
    if n_frames <= window_frames:
        return np.zeros(1, dtype=np.int64)
    n_windows = math.ceil((n_frames - window_frames) / hop) + 1
    return np.arange(n_windows, dtype=np.int64) * hop


def crossfade_weights(window_frames: int, overlap: float) -> np.ndarray:
    """Per-frame blend weight of one window: linear fades over the overlapped frames, flat between.

    Neighbouring fades sum to one; `overlap_add` still divides by the summed weight so the first
    and last windows (which have no neighbour on one side) are exact too.
    """
    hop = window_hop(window_frames, overlap)
    fade_frames = window_frames - hop
    weights = np.ones(window_frames, dtype=np.float64)
    if fade_frames > 0:
        ramp = (np.arange(fade_frames) + 0.5) / fade_frames
        weights[:fade_frames] = ramp
        weights[-fade_frames:] = np.minimum(weights[-fade_frames:], ramp[::-1])
    return weights


def split_windows(
    mel: np.ndarray, window_frames: int, overlap: float, *, pad_value: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Cut `mel` (n_mels, n_frames) into windows (n_windows, n_mels, window_frames).

    Frames past the end are filled with `pad_value`; pass the silent level of the representation
    (`liveify.mel.SILENT_LEVEL` for normalised mels) so padding reads as silence to the model.
    Returns the windows and their start frames.
    """
    mel = np.asarray(mel)
    if mel.ndim != 2:
        raise ParameterError(f"mel must be shaped (n_mels, n_frames); got {mel.shape}")
    n_mels, n_frames = mel.shape
    starts = window_starts(n_frames, window_frames, overlap)
    padded_frames = int(starts[-1]) + window_frames
    padded = np.full((n_mels, padded_frames), pad_value, dtype=mel.dtype)
    padded[:, :n_frames] = mel
    windows = np.stack([padded[:, start : start + window_frames] for start in starts])
    return windows, starts


class OverlapAdd:
    """Blend window outputs arriving in order (one every hop) into frames, as they become final.

    A frame is final once no later window can reach it: every frame before the next window's start.
    Each frame is the crossfade-weighted sum of the windows covering it divided by their summed
    weight, and `pop` asserts that the weight is positive (every frame covered).

        >>> blend = OverlapAdd(n_rows=128, window_frames=1408, overlap=0.5)
        >>> blend.add(model_output)                     # doctest: +SKIP
        >>> frames = blend.pop(blend.final_end)         # doctest: +SKIP
    """

    def __init__(self, n_rows: int, window_frames: int, overlap: float):
        self.window_frames = window_frames
        self.hop = window_hop(window_frames, overlap)
        self.weights = crossfade_weights(window_frames, overlap)
        self.start = 0  # first frame not yet popped
        self.next_window_start = 0
        self._sum = np.zeros((n_rows, 0), dtype=np.float64)
        self._weight = np.zeros(0, dtype=np.float64)

    @property
    def final_end(self) -> int:
        """Frames before this are final: no later window starts before it."""
        return self.next_window_start

    def add(self, output: np.ndarray) -> None:
        """Add the output (n_rows, window_frames) of the window starting at `next_window_start`."""
        offset = self.next_window_start - self.start
        missing = offset + self.window_frames - self._weight.size
        if missing > 0:
            self._sum = np.pad(self._sum, ((0, 0), (0, missing)))
            self._weight = np.pad(self._weight, (0, missing))
        self._sum[:, offset : offset + self.window_frames] += output * self.weights
        self._weight[offset : offset + self.window_frames] += self.weights
        self.next_window_start += self.hop

    def pop(self, stop: int, *, finished: bool = False) -> np.ndarray:
        """The blended frames `[start, stop)`, dropped from the buffer.

        `stop` must not pass `final_end`, unless `finished` says no window will follow (then it
        may reach the end of the last window).
        """
        limit = self.start + self._weight.size if finished else self.final_end
        assert self.start <= stop <= limit, f"frames up to {stop} are not final (limit {limit})"
        count = stop - self.start
        weight = self._weight[:count]
        assert count == 0 or weight.min() > 0, "every frame must be covered by a window"
        blended = self._sum[:, :count] / weight
        self._sum, self._weight = self._sum[:, count:], self._weight[count:]
        self.start = stop
        return blended


def overlap_add(
    window_outputs: np.ndarray,
    starts: np.ndarray,
    n_frames: int,
    window_frames: int,
    overlap: float,
) -> np.ndarray:
    """Blend window outputs (n_windows, n_mels, window_frames) back into (n_mels, n_frames).

    `starts` are the windows' first frames as `window_starts` gives them (one every hop).
    """
    window_outputs = np.asarray(window_outputs)
    if window_outputs.ndim != 3 or window_outputs.shape[2] != window_frames:
        raise ParameterError(
            f"window_outputs must be shaped (n_windows, n_mels, {window_frames}); "
            f"got {window_outputs.shape}"
        )
    if len(window_outputs) != len(starts):
        raise ParameterError(f"got {len(window_outputs)} window outputs for {len(starts)} starts")
    blend = OverlapAdd(window_outputs.shape[1], window_frames, overlap)
    if not np.array_equal(starts, np.arange(len(starts)) * blend.hop):
        raise ParameterError(f"window starts must be every {blend.hop} frames from 0")
    for output in window_outputs:
        blend.add(output)
    return blend.pop(n_frames, finished=True).astype(window_outputs.dtype)
