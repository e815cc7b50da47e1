"""TruePeakLimiter: the mastering stage that keeps every output under a true-peak ceiling.

A lookahead limiter with one gain for all channels. Peaks are detected on the 4x-oversampled
signal (BS.1770 true peak, the loudness meter's interpolator); the gain falls over the lookahead
before a peak (a moving average of a running minimum, so it never reaches the peak too late) and
recovers linearly in dB. Work is done on a fixed grid of absolute sample positions, so chunked
(`reset=False`) calls give exactly the samples of one whole call, delayed by `latency_samples_at`.
"""

from __future__ import annotations

import math

import numpy as np

from liveify.loudness import TRUE_PEAK_CONTEXT, db_to_gain, true_peak_envelope
from liveify.plugins.base import RangeParameter, Stage

#: Samples per grid block: every block is computed from the same samples however the signal was
#: chunked, which makes streaming bit-exact; the block is also the stage's buffering delay.
GRID_SAMPLES = 4096
#: Gain reduction aimed below the ceiling: covers the small overshoot of inter-sample peaks when
#: the gain itself changes between samples.
SAFETY_MARGIN_DB = 0.1


class TruePeakLimiter(Stage):
    """A true-peak limiter: output true peak stays at or below `ceiling_db` dBTP.

    >>> limiter = liveify.TruePeakLimiter(ceiling_db=-1.0)
    >>> mastered = limiter(liveify.audio.as_channels_first(audio) * 4.0, 44100)
    >>> round(limiter.max_gain_reduction_db, 1)        # deepest reduction of the last signal
    2.9

    Audio below the ceiling passes unchanged (delayed, in streaming). A whole call returns the
    aligned result; chunked calls return it `latency_samples_at(sample_rate)` samples late.
    """

    ceiling_db = RangeParameter(-1.0, -24.0, 0.0, doc="True-peak ceiling of the output, dBTP.")
    lookahead_ms = RangeParameter(
        1.5, 0.2, 20.0, doc="The gain starts falling this long before a peak (attack time)."
    )
    release_ms = RangeParameter(
        150.0, 5.0, 5000.0, doc="Time the gain takes to recover 6 dB after a peak."
    )

    def _lookahead_samples(self, sample_rate: float) -> int:
        return max(1, round(self.lookahead_ms * sample_rate / 1000.0))

    def latency_samples_at(self, sample_rate: float) -> int:
        """Streaming delay: one grid block, the lookahead and the true-peak context."""
        return GRID_SAMPLES + self._lookahead_samples(sample_rate) + TRUE_PEAK_CONTEXT

    def reset(self) -> None:
        self._sample_rate: float | None = None
        # Samples from absolute position _input_start on; _start() sizes it to the stream.
        self._input = np.zeros((0, 0), np.float32)
        self._input_start = 0
        self._received = 0
        self._next_block = 0
        self._required = np.ones(0)  # required gains before the next block
        self._release_history = _UNITY  # released gains before the next block (its last ones)
        self._output: list[np.ndarray] = []  # computed output not yet returned, in order
        self._output_end = 0  # absolute position just after the computed output
        self._emitted = 0
        self.max_gain_reduction_db = 0.0

    def _start(self, sample_rate: float, channels: int) -> None:
        lookahead = self._lookahead_samples(sample_rate)
        self._sample_rate = sample_rate
        self._lookahead = lookahead
        # Before the signal everything is silent: zeros in, unity gains out.
        history = lookahead + 1 + TRUE_PEAK_CONTEXT
        self._input = np.zeros((channels, history), np.float32)
        self._input_start = -history
        self._required = np.ones(lookahead + 1, np.float64)
        self._release_history = _UNITY
        self._release_carry = 0.0  # log of the last released gain: unity before the signal
        self._output_end = -lookahead
        self._threshold = db_to_gain(self.ceiling_db - SAFETY_MARGIN_DB)
        # Recovery of 6 dB per release time, as a log-gain step per sample.
        self._release_step = math.log(2.0) / (self.release_ms * sample_rate / 1000.0)

    def process_block(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        if self._sample_rate is None:
            self._start(sample_rate, audio.shape[0])
        elif sample_rate != self._sample_rate or audio.shape[0] != self._input.shape[0]:
            from liveify.errors import ParameterError

            raise ParameterError(
                "TruePeakLimiter: the stream changed sample rate or channels; call reset() first"
            )
        self._input = np.concatenate([self._input, audio], axis=1)
        self._received += audio.shape[1]
        self._advance()
        return self._emit(audio.shape[1], self.latency_samples_at(sample_rate))

    # -- the grid ----------------------------------------------------------------------------
    def _advance(self) -> None:
        """Limit every grid block whose lookahead has arrived."""
        ready = (self._received - TRUE_PEAK_CONTEXT) // GRID_SAMPLES - self._next_block
        if ready <= 0:
            return
        first, stop = self._next_block * GRID_SAMPLES, (self._next_block + ready) * GRID_SAMPLES
        context, lookahead = TRUE_PEAK_CONTEXT, self._lookahead
        offset = self._input_start
        # Required gains for [first, stop): unity except where the true peak passes the threshold.
        peaks = true_peak_envelope(
            self._input[:, first - context - offset : stop + context - offset],
            floor=self._threshold,
        )
        over = peaks > self._threshold
        required = np.ones(stop - first, np.float64)
        required[over] = self._threshold / peaks[over]
        with_history = np.concatenate([self._required, required])
        self._required = with_history[-(lookahead + 1) :]
        # Each gain covers its own peak and the one before (inter-sample peaks span two samples).
        window_min = _running_min(with_history, lookahead + 2).reshape(ready, GRID_SAMPLES)
        output_first = first - lookahead
        output = self._input[:, output_first - offset : stop - lookahead - offset].copy()
        for block, block_min in enumerate(window_min.min(axis=1)):
            released = self._released(window_min[block], limiting=block_min < 1.0)
            # The gain for [block start - lookahead, block end - lookahead): the mean of the
            # lookahead + 1 released gains from each position on, so it is down before a peak.
            history = self._release_history
            self._release_history = released if released is _UNITY else released[-lookahead:]
            if released is _UNITY and history is _UNITY:
                continue  # no limiting anywhere in reach: the block passes unchanged
            gains = _window_means(np.concatenate([history[-lookahead:], released]), lookahead + 1)
            self.max_gain_reduction_db = max(
                self.max_gain_reduction_db, -20.0 * math.log10(float(gains.min()))
            )
            columns = slice(block * GRID_SAMPLES, (block + 1) * GRID_SAMPLES)
            output[:, columns] *= gains.astype(np.float32)
        self._output.append(output)
        self._output_end = stop - lookahead
        self._next_block += ready
        keep_from = stop - lookahead - context - 1
        self._input = self._input[:, keep_from - offset :]
        self._input_start = keep_from

    def _released(self, gains: np.ndarray, *, limiting: bool) -> np.ndarray:
        """One grid block of gains that may fall at once but rise by at most `_release_step`
        (log) per sample: log r[i] = min over k <= i of (log g[k] + (i - k) step), the carry from
        the block before entering as one more candidate. `_UNITY` where nothing is limited."""
        if not limiting and self._release_carry == 0.0:
            return _UNITY
        step = self._release_step
        logs = np.zeros(GRID_SAMPLES, np.float64)
        np.log(gains, out=logs, where=gains < 1.0)
        within = np.minimum.accumulate(logs - _RAMP * step) + _RAMP * step
        released = np.minimum(within, self._release_carry + (_RAMP + 1.0) * step)
        # Fully recovered within float precision: back to exact unity, so quiet passages that
        # follow a peak pass unchanged.
        self._release_carry = min(0.0, float(released[-1])) if released[-1] < -1e-12 else 0.0
        return np.exp(released, out=released)

    def _emit(self, count: int, latency: int) -> np.ndarray:
        """The next `count` output samples: the limited signal `latency` samples late."""
        channels = self._input.shape[0]
        start = self._emitted - latency  # absolute position of the first sample to return
        self._emitted += count
        output = np.zeros((channels, count), np.float32)
        computed = np.concatenate(self._output, axis=1) if self._output else None
        computed_first = self._output_end - (0 if computed is None else computed.shape[1])
        if computed is not None:
            lo, hi = max(start, computed_first), min(start + count, self._output_end)
            if lo < hi:
                output[:, lo - start : hi - start] = computed[
                    :, lo - computed_first : hi - computed_first
                ]
            keep = computed[:, max(0, start + count - computed_first) :]
            self._output = [keep] if keep.shape[1] else []
        return output


_RAMP = np.arange(GRID_SAMPLES, dtype=np.float64)
#: Stands for a grid block (or its tail) of unity gains, so unlimited spans skip all arithmetic.
_UNITY = np.ones(GRID_SAMPLES, np.float64)
_UNITY.setflags(write=False)


def _running_min(values: np.ndarray, window: int) -> np.ndarray:
    """min(values[i - window + 1 .. i]) for every i from window - 1 on (exact, O(n))."""
    from scipy.ndimage import minimum_filter1d

    # The largest `origin` moves scipy's centred window back to end at i.
    filtered = minimum_filter1d(values, window, origin=(window - 1) // 2, mode="nearest")
    return filtered[window - 1 :]


def _window_means(values: np.ndarray, width: int) -> np.ndarray:
    """Means of every `width` consecutive values, summed in float64 from the start of `values`."""
    sums = np.cumsum(values)
    totals = sums[width - 1 :].copy()
    totals[1:] -= sums[: sums.size - width]
    return totals / width
