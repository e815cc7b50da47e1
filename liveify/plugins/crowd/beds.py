"""The crowd's diffuse beds: talking, the far crowd's applause and the roar of many voices.

Shaped noise, synthesised frame by frame (~23 ms hops, sine windows, overlap-add) from random
spectra drawn per segment, so any chunking of the stream gives the same samples.
"""

from __future__ import annotations

import math

import numpy as np

from liveify.plugins.crowd.events import Block
from liveify.plugins.crowd.sources import (
    FRAMES_PER_SEGMENT,
    MURMUR_BRIGHT,
    MURMUR_DARK,
    ROAR,
    WASH,
)

NOISE_STREAM = 1


def add_beds(block: Block) -> None:
    """Add the beds for every frame that starts in this block (its second half may reach past)."""
    import scipy.fft

    bank, reactions, crowd = block.bank, block.reactions, block.crowd
    hop = bank.hop
    frames = np.arange(-(-block.start // hop), -(-block.stop // hop))
    if frames.size == 0:
        return
    at = frames - reactions.first_frame
    times_s = reactions.times_s[at]
    dense = np.zeros((frames.size, 4))
    # Babble: a few syllable-rate modulations; more people, smoother bed.
    rng = np.random.default_rng([crowd.seed, 6])
    rates_hz, phases = rng.uniform(2.0, 6.0, 5), rng.uniform(0.0, 2 * np.pi, 5)
    wobble = np.sin(2 * np.pi * rates_hz[None, :] * times_s[:, None] + phases[None, :]).mean(axis=1)
    tone = np.sin(2 * np.pi * 0.37 * times_s + phases[0])
    depth = float(np.clip(1.5 / math.sqrt(crowd.size / 10.0), 0.1, 0.6))
    swing = np.maximum(1.0 + depth * wobble * math.sqrt(len(rates_hz)), 0.1)
    murmur = reactions.murmur[at] * swing
    dense[:, MURMUR_DARK] = murmur * (0.5 + 0.5 * tone)
    dense[:, MURMUR_BRIGHT] = murmur * (0.5 - 0.5 * tone)
    # The far crowd's applause: what the nearest people, clapping one by one, leave to it.
    far_share = 1.0 - float(block.people["share"].sum())
    dense[:, WASH] = reactions.applause[at] * block.powers["applause"] * far_share
    dense[:, ROAR] = reactions.cheer[at] * block.powers["roar"]
    amplitude_pairs = bank.part_amplitudes(dense * reactions.scale[at][:, None])

    # Work one noise segment (<= 64 frames) at a time: arrays stay in cache.
    scaled = np.empty((FRAMES_PER_SEGMENT, 2, amplitude_pairs.shape[1]), np.float32)
    first = 0
    while first < frames.size:
        row = int(frames[first] % FRAMES_PER_SEGMENT)
        last = min(frames.size, first + FRAMES_PER_SEGMENT - row)
        count = last - first
        if np.any(amplitude_pairs[first:last]):
            noise = _segment_noise(block, int(frames[first] // FRAMES_PER_SEGMENT))
            np.multiply(
                noise[row : row + count].view(np.float32),
                amplitude_pairs[first:last, None, :],
                out=scaled[:count],
            )
            spectra = scaled[:count].view(np.complex64)
            signal = scipy.fft.irfft(spectra, bank.frame_length, axis=2, norm="ortho")
            signal *= bank.window
            # Overlap-add: frame k starts at k*hop, so halves of consecutive frames overlap.
            offset = int(frames[first] * hop - block.start)
            target = block.out[:, offset : offset + (count + 1) * hop].reshape(2, count + 1, hop)
            target[:, :count] += signal[:, :, :hop].transpose(1, 0, 2)
            target[:, 1:] += signal[:, :, hop:].transpose(1, 0, 2)
        first = last


def _segment_noise(block: Block, index: int) -> np.ndarray:
    """(64 frames, 2 channels, bins) complex noise of unit mean power for segment `index`."""
    cache = block.crowd._cache
    key = (NOISE_STREAM, index, block.sample_rate)
    if key not in cache:
        if len(cache) > 48:
            cache.pop(next(iter(cache)))
        rng = np.random.default_rng([block.crowd.seed, NOISE_STREAM, index])
        bins = block.bank.frame_length // 2 + 1
        # Random bytes as 8-bit integers are plenty for noise and ~4x cheaper than floats (the
        # generator's raw 64-bit words, 8 bytes each); k + 0.5 is symmetric around 0 with
        # variance (256^2 - 1) / 12, scaled to 1/2 per part.
        shape = (FRAMES_PER_SEGMENT, 2, bins, 2)
        words = rng.bit_generator.random_raw(math.prod(shape) // 8)
        parts = words.view(np.int8).reshape(shape).astype(np.float32)
        parts += np.float32(0.5)
        parts *= np.float32(math.sqrt(0.5 * 12.0 / (256**2 - 1)))
        noise = parts.view(np.complex64)[..., 0]  # (real, imaginary) pairs
        rho = 1.0 - block.crowd.spread
        if rho > 0.0:  # stereo spread: right = rho * left + sqrt(1 - rho^2) * independent
            noise[:, 1] *= np.float32(math.sqrt(1.0 - rho**2))
            noise[:, 1] += np.float32(rho) * noise[:, 0]
        cache[key] = noise
    return cache[key]
