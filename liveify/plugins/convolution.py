"""Streaming FFT convolution: one signal with several long impulse responses, chunk by chunk,
with the tail carried from call to call so chunked processing equals one whole call."""

from __future__ import annotations

import itertools

import numpy as np


class StreamingConvolver:
    """Overlap-add FFT convolution of one signal with several impulse responses, tail carried.

    Each call is cut into as few equal blocks as keep the FFT under ~8x the impulse response, each
    convolved with one FFT of a fast size (`fast_fft_size`; per output sample, FFT cost flattens
    out from ~4x the impulse response on, so a 10 s chunk is one FFT): one forward transform of
    the signal, one inverse per response. The part of the output that runs past the call is kept and added to the
    next call, so chunked processing equals one whole call. Impulse-response spectra are cached
    per FFT size (a renderer's chunks share one size).
    """

    def __init__(self, impulse_responses: np.ndarray):
        self.impulse_responses = np.ascontiguousarray(impulse_responses, dtype=np.float32)
        self.ir_length = self.impulse_responses.shape[1]
        self.max_block = max(_next_power_of_two(8 * self.ir_length) - self.ir_length + 1, 1)
        self._spectra: dict[int, np.ndarray] = {}
        self._tail: np.ndarray | None = None

    def reset(self) -> None:
        self._tail = None

    def _spectrum(self, fft_size: int) -> np.ndarray:
        import scipy.fft

        if fft_size not in self._spectra:
            if len(self._spectra) >= 4:  # odd chunk sizes must not grow the cache without bound
                self._spectra.pop(next(iter(self._spectra)))
            self._spectra[fft_size] = scipy.fft.rfft(self.impulse_responses, fft_size, axis=1)
        return self._spectra[fft_size]

    def process(self, signal: np.ndarray) -> np.ndarray:
        """The next `signal` samples (1-D) convolved with each response: `(responses, samples)`."""
        import scipy.fft

        length = signal.shape[0]
        overlap = self.ir_length - 1
        responses = self.impulse_responses.shape[0]
        if self._tail is None:
            self._tail = np.zeros((responses, overlap), dtype=np.float32)
        if length == 0:
            return np.zeros((responses, 0), dtype=np.float32)
        blocks = -(-length // self.max_block)
        block_size = -(-length // blocks)
        fft_size = fast_fft_size(block_size + overlap)
        spectrum_ir = self._spectrum(fft_size)

        def convolved(block: np.ndarray) -> np.ndarray:
            return scipy.fft.irfft(scipy.fft.rfft(block, fft_size) * spectrum_ir, fft_size)

        if blocks == 1:  # the usual case: the FFT's output is the output, no accumulator
            out = convolved(signal)
        else:
            out = np.zeros((responses, length + overlap), dtype=np.float32)
            for start in range(0, length, block_size):
                n = min(block_size, length - start)
                out[:, start : start + n + overlap] += convolved(signal[start : start + n])[
                    :, : n + overlap
                ]
        out[:, :overlap] += self._tail
        self._tail = out[:, length : length + overlap].copy()
        return out[:, :length]


def fast_fft_size(n: int) -> int:
    """The smallest 2^a * 3^b * 5^c >= n with b <= 3 and c <= 2.

    scipy's next_fast_len allows any 5-smooth size, but sizes rich in factors of 5 are slow in
    pocketfft (675000 = 2^3 3^3 5^5 takes 12 % longer than the larger 691200 = 2^10 3^3 5^2):
    with these sizes a renderer's convolutions run ~12 % faster across venue sizes.
    """
    sizes = []
    for threes, fives in itertools.product(range(4), range(3)):
        size = 3**threes * 5**fives
        while size < n:
            size *= 2
        sizes.append(size)
    return min(sizes)


def _next_power_of_two(n: int) -> int:
    return 1 << max(int(n) - 1, 1).bit_length()
