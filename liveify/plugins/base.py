"""The stage protocol shared by every Liveify effect: pedalboard's `plugin(audio, sample_rate)`.

A stage takes float32 audio shaped `(channels, samples)` (1-D mono is accepted) and returns the
same layout. `reset=True` (the default, as in pedalboard) starts from a clean state; `reset=False`
continues from the previous call so that a track processed chunk by chunk equals one whole call.
"""

from __future__ import annotations

import numpy as np

from liveify.errors import ParameterError


def as_channels_first(audio: np.ndarray, *, name: str = "audio") -> np.ndarray:
    """Return `audio` as a C-contiguous float32 `(channels, samples)` array.

    1-D input is treated as mono. 2-D input must already be channels-first: pedalboard guesses the
    layout from the shape, which silently transposes short stereo clips, so Liveify refuses to guess
    and asks for `(channels, samples)` when the first axis looks like samples.
    """
    array = np.asarray(audio)
    if array.ndim == 1:
        array = array[np.newaxis, :]
    if array.ndim != 2:
        raise ParameterError(f"{name} must be shaped (channels, samples); got shape {array.shape}")
    if array.shape[0] > 16 and array.shape[1] <= 16:
        raise ParameterError(
            f"{name} looks like (samples, channels) with shape {array.shape}; "
            "pass (channels, samples), e.g. audio.T"
        )
    return np.ascontiguousarray(array, dtype=np.float32)


def check_sample_rate(sample_rate: float) -> float:
    """Validate a sample rate in Hz and return it as a float."""
    if not np.isfinite(sample_rate) or sample_rate < 8000:
        raise ParameterError(f"sample_rate must be >= 8000 Hz; got {sample_rate}")
    return float(sample_rate)


class Stage:
    """Base class for Liveify effect stages, called exactly like a pedalboard plugin.

    Subclasses implement `_process_block(audio, sample_rate)` on a validated float32
    `(channels, samples)` block, keep their streaming state between calls, and clear it in `reset()`.
    """

    #: Samples by which the output lags the input when processing chunk by chunk.
    latency_samples: int = 0

    def __call__(
        self,
        input_array: np.ndarray,
        sample_rate: float,
        buffer_size: int | None = None,
        reset: bool = True,
    ) -> np.ndarray:
        return self.process(input_array, sample_rate, buffer_size=buffer_size, reset=reset)

    def process(
        self,
        input_array: np.ndarray,
        sample_rate: float,
        buffer_size: int | None = None,
        reset: bool = True,
    ) -> np.ndarray:
        """Process `input_array` (float32, `(channels, samples)`) and return the same layout.

        `buffer_size` is accepted for pedalboard compatibility; stages choose their own block sizes.
        """
        audio = as_channels_first(input_array)
        sample_rate = check_sample_rate(sample_rate)
        if reset:
            self.reset()
        return self._process_block(audio, sample_rate)

    def reset(self) -> None:
        """Clear streaming state so that the next call starts a new signal."""

    def latency_samples_at(self, sample_rate: float) -> int:
        """`latency_samples` for audio at `sample_rate` (stages whose delay is fixed in seconds
        override this; asking before the first call gives the right figure)."""
        return self.latency_samples

    def tail_samples(self, sample_rate: float) -> int:
        """Samples of output that continue after the input ends (e.g. a reverb tail)."""
        return 0

    def _process_block(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        raise NotImplementedError
