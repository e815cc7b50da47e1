"""The model stage's streaming state: every step runs on a fixed grid as soon as its input is
complete, so a signal fed in chunks of any size gives the same output as one whole call.

1. studio mel: blocks of `mel_block_frames` frames, each from its own span of source audio (mono
   downmix resampled to the analysis rate) with margins, so frames match a whole-signal STFT;
2. model windows every window hop, blended by `windows.OverlapAdd` (frames before the next
   window's start are final);
3. conditioned gains: blocks of `GAIN_BLOCK_FRAMES` with the conditioner's smoothing margin;
4. groups of `GROUP_FRAMES`-ish source STFT frames shaped by those gains and overlap-added;
5. emission: output position = input position - latency.
"""

from __future__ import annotations

import math

import numpy as np

from liveify.mel import denormalize, mel_power, normalize
from liveify.plugins.model_stage.reconstruction import (
    MaskApplier,
    frames_at,
    reconstruct_griffinlim,
)
from liveify.windows import OverlapAdd

#: Mel frames of context on each side of a studio mel block analysed on its own: covers the
#: centred STFT (n_fft / 2 = 2 frames) and the resampler's edge.
ANALYSIS_MARGIN_FRAMES = 4
#: Mel frames of conditioned gain computed per block (the smoothing margin is added around it).
GAIN_BLOCK_FRAMES = 256
#: Mel frames' worth of source STFT frames shaped per group (fewer calls; adds to the latency).
GROUP_MEL_FRAMES = 128
#: Extra mel frames around a Griffin-Lim group so its edges are settled where it is kept.
GRIFFINLIM_MARGIN_FRAMES = 8


class Timeline:
    """A `(rows, n)` array addressed by absolute position (sample or frame index).

    Only the live range `[start, end)` is stored; `discard_before` drops history so memory does
    not grow with the track. Reading positions before 0 gives zeros: the signal is silent before
    it begins.
    """

    def __init__(self, rows: int, dtype, start: int = 0):
        self._array = np.zeros((rows, 4096), dtype=dtype)
        self._offset = 0  # column of `start` in _array
        self.start = start
        self.end = start

    @property
    def stored_values(self) -> int:
        return self._array.size

    def _reserve(self, end: int) -> None:
        needed = end - self.start
        if self._offset + needed <= self._array.shape[1]:
            return
        live = self._array[:, self._offset : self._offset + (self.end - self.start)]
        capacity = self._array.shape[1]
        if needed > capacity // 2:
            capacity = 2 * needed
            array = np.empty((self._array.shape[0], capacity), dtype=self._array.dtype)
        else:
            array = self._array
        array[:, : live.shape[1]] = live  # moves left within the same array when not growing
        self._array, self._offset = array, 0

    def append(self, values: np.ndarray) -> None:
        self._reserve(self.end + values.shape[1])
        column = self._offset + self.end - self.start
        self._array[:, column : column + values.shape[1]] = values
        self.end += values.shape[1]

    def add(self, position: int, values: np.ndarray) -> None:
        """Add `values` at `position`, extending with zeros; parts before `start` are dropped."""
        if position < self.start:
            values = values[:, self.start - position :]
            position = self.start
        stop = position + values.shape[1]
        if stop > self.end:
            self._reserve(stop)
            column = self._offset + self.end - self.start
            self._array[:, column : column + stop - self.end] = 0
            self.end = stop
        column = self._offset + position - self.start
        self._array[:, column : column + values.shape[1]] += values

    def read(self, first: int, stop: int) -> np.ndarray:
        """Copy of positions `[first, stop)`; positions before 0 read as zeros."""
        assert stop <= self.end, f"read to {stop} beyond the buffered end {self.end}"
        result = np.zeros((self._array.shape[0], stop - first), dtype=self._array.dtype)
        lo = max(first, 0)
        if lo < stop:
            assert lo >= self.start, f"read from {lo} before the kept start {self.start}"
            column = self._offset + lo - self.start
            result[:, lo - first :] = self._array[:, column : column + stop - lo]
        return result

    def discard_before(self, position: int) -> None:
        position = min(max(position, self.start), self.end)
        self._offset += position - self.start
        self.start = position


def group_frames(hop: int, samples_per_frame: float) -> int:
    """Source STFT frames (every `hop` samples) per group: about `GROUP_MEL_FRAMES` mel frames."""
    return max(1, round(GROUP_MEL_FRAMES * samples_per_frame / hop))


class Stream:
    """Streaming state for one signal at one sample rate and channel count (see module doc)."""

    def __init__(self, stage, sample_rate: float, channels: int):
        self.stage = stage
        self.sample_rate = sample_rate
        self.channels = channels
        config = stage.mel_config
        self.samples_per_frame = config.hop_length * sample_rate / config.sample_rate
        self.mel_block = stage.mel_block_frames
        self.blend = OverlapAdd(config.n_mels, stage.window_frames, stage.overlap)
        self.conditioner = stage.conditioner
        self.applier = MaskApplier(config, sample_rate)
        self.group = group_frames(self.applier.hop, self.samples_per_frame)
        self.latency_samples = stage.latency_samples_at(sample_rate)
        self.bypass = stage.mask.strength == 0.0  # strength 0 is the input, exactly

        n_mels = config.n_mels
        self.audio = Timeline(channels, np.float32)
        self.studio = Timeline(n_mels, np.float32)
        self.predicted = Timeline(n_mels, np.float32)
        self.gain_db = Timeline(n_mels, np.float32)
        self.residual = Timeline(n_mels, np.float32)
        self.wet = Timeline(channels, np.float32)
        self.next_mel_block = 0
        self.next_gain_block = 0
        self.next_group = 0
        self.wet_final_end = 0  # wet output before this sample is complete
        self.received = 0

    def frame_sample(self, frame: int) -> int:
        """Source sample at the centre of mel frame `frame` (rounded)."""
        return math.floor(frame * self.samples_per_frame + 0.5)

    # -- 1. studio mel -------------------------------------------------------------------------
    def _studio_block(self, index: int) -> np.ndarray:
        config = self.stage.mel_config
        margin = ANALYSIS_MARGIN_FRAMES
        first_frame = index * self.mel_block
        start = self.frame_sample(first_frame - margin)
        stop = self.frame_sample(first_frame + self.mel_block + margin)
        mono = self.audio.read(start, stop).mean(axis=0)
        if not mono.any():  # silence (lead-in, flush): the STFT of zeros is zeros, skip it
            return np.zeros((config.n_mels, self.mel_block), dtype=np.float32)
        if self.sample_rate != config.sample_rate:
            import soxr

            mono = soxr.resample(mono, self.sample_rate, config.sample_rate, quality="HQ")
        power = mel_power(mono, config)
        return power[:, margin : margin + self.mel_block]

    def _advance_studio(self) -> None:
        while self.audio.end >= self.frame_sample(
            (self.next_mel_block + 1) * self.mel_block + ANALYSIS_MARGIN_FRAMES
        ):
            self.studio.append(self._studio_block(self.next_mel_block))
            self.next_mel_block += 1

    # -- 2. model windows ----------------------------------------------------------------------
    def _advance_windows(self) -> None:
        window, config = self.stage.window_frames, self.stage.mel_config
        starts = []
        start = self.blend.next_window_start
        while self.studio.end >= start + window:
            starts.append(start)
            start += self.blend.hop
        if not starts:
            return
        windows = np.stack([normalize(self.studio.read(s, s + window), config) for s in starts])
        for output in self.stage.run_windows(windows):
            self.blend.add(output)
        blended = self.blend.pop(self.blend.final_end)
        self.predicted.append(denormalize(blended.astype(np.float32), config))

    # -- 3. conditioned gains --------------------------------------------------------------------
    def _advance_gains(self) -> None:
        margin, block = self.conditioner.margin_frames, GAIN_BLOCK_FRAMES
        while (
            min(self.predicted.end, self.studio.end) >= (self.next_gain_block + 1) * block + margin
        ):
            first = self.next_gain_block * block - margin
            stop = (self.next_gain_block + 1) * block + margin
            studio = self.studio.read(first, stop)
            if studio.any():
                gain_db, residual = self.conditioner(studio, self.predicted.read(first, stop))
            else:  # silence around the block too: no STFT frame with sound reaches these gains
                gain_db = residual = np.zeros((studio.shape[0], block), np.float32)
            self.gain_db.append(gain_db)
            self.residual.append(residual)
            self.next_gain_block += 1

    # -- 4. shaped source STFT frames ------------------------------------------------------------
    def _group_ready(self, index: int) -> bool:
        hop = self.applier.hop
        last_frame = (index + 1) * self.group - 1
        needed_gain = math.floor(last_frame * hop / self.samples_per_frame) + 2
        ready = self.audio.end >= (last_frame + 1) * hop and self.gain_db.end >= needed_gain
        if self.stage.reconstruction == "griffinlim":
            span_stop = (last_frame + 1) * hop
            needed = math.ceil(span_stop / self.samples_per_frame) + GRIFFINLIM_MARGIN_FRAMES
            ready = ready and self.predicted.end >= needed
        return ready

    def _shape_group(self, index: int) -> None:
        hop, first_frame = self.applier.hop, index * self.group
        span_start = (first_frame - 1) * hop  # frame k covers [(k - 1) x hop, (k + 1) x hop)
        span_stop = span_start + self.applier.span_samples(self.group)
        audio = self.audio.read(span_start, span_stop)
        if not audio.any():  # nothing to shape (and the residual is capped to the studio level)
            return
        positions = np.arange(first_frame, first_frame + self.group) * hop / self.samples_per_frame
        lo = math.floor(positions[0])
        stop = math.floor(positions[-1]) + 2
        positions = positions - lo
        rng = np.random.default_rng([self.stage.seed % 2**32, index])
        if self.stage.reconstruction == "griffinlim":
            audio = self._griffinlim_span(span_start, span_stop)
            gain_db = np.zeros((self.stage.mel_config.n_mels, self.group), np.float32)
            wet = self.applier.apply(audio, gain_db, None)
        else:
            residual = frames_at(self.residual.read(lo, stop), positions)
            wet = self.applier.apply(
                audio,
                frames_at(self.gain_db.read(lo, stop), positions),
                residual if residual.any() else None,
                rng,
            )
        self.wet.add(span_start, wet)

    def _griffinlim_span(self, span_start: int, span_stop: int) -> np.ndarray:
        margin = GRIFFINLIM_MARGIN_FRAMES
        first = math.floor(span_start / self.samples_per_frame) - margin
        stop = math.ceil(span_stop / self.samples_per_frame) + margin
        start_sample = self.frame_sample(first)
        synthesised = reconstruct_griffinlim(
            self.predicted.read(first, stop),
            self.sample_rate,
            self.stage.mel_config,
            channels=self.channels,
            length=span_stop - start_sample,
            seed=(self.stage.seed * 1_000_003 + first) % 2**32,
        )
        return synthesised[:, span_start - start_sample :]

    def _advance_groups(self) -> None:
        while self._group_ready(self.next_group):
            self._shape_group(self.next_group)
            self.next_group += 1
            self.wet_final_end = (self.next_group * self.group - 1) * self.applier.hop

    # -- 5. emission -----------------------------------------------------------------------------
    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Take `chunk` (channels, n) and return the n output samples `latency_samples` behind."""
        first_out = self.received - self.latency_samples
        self.audio.append(chunk)
        self.received += chunk.shape[1]
        if not self.bypass:
            self._advance_studio()
            self._advance_windows()
            self._advance_gains()
            self._advance_groups()

        stop_out = self.received - self.latency_samples
        output = np.zeros((self.channels, chunk.shape[1]), dtype=np.float32)
        assert self.bypass or self.wet_final_end >= stop_out, "latency_samples is too small"
        lo = max(first_out, 0)
        if lo < stop_out:
            mix = self.stage.mix
            dry = self.audio.read(lo, stop_out)
            wet = dry if self.bypass else self.wet.read(lo, stop_out)
            kept = wet if mix == 1.0 else mix * wet + (1.0 - mix) * dry
            output[:, lo - first_out :] = kept
        self._discard(max(stop_out, 0))
        return output

    def _discard(self, emitted: int) -> None:
        hop = self.applier.hop
        next_group_frame = self.next_group * self.group
        self.gain_db.discard_before(math.floor(next_group_frame * hop / self.samples_per_frame))
        self.residual.discard_before(self.gain_db.start)
        gain_first = self.next_gain_block * GAIN_BLOCK_FRAMES - self.conditioner.margin_frames
        next_span_start = (next_group_frame - 1) * hop
        griffinlim_first = (
            math.floor(next_span_start / self.samples_per_frame) - GRIFFINLIM_MARGIN_FRAMES
        )
        self.predicted.discard_before(min(gain_first, griffinlim_first))
        self.studio.discard_before(min(gain_first, self.blend.next_window_start))
        self.wet.discard_before(emitted)
        next_mel_first = self.next_mel_block * self.mel_block - ANALYSIS_MARGIN_FRAMES
        self.audio.discard_before(min(emitted, next_span_start, self.frame_sample(next_mel_first)))

    def buffered_values(self) -> int:
        """Array cells held by the stream (to check that memory does not grow with the track)."""
        timelines = (self.audio, self.studio, self.predicted, self.gain_db, self.residual, self.wet)
        return sum(timeline.stored_values for timeline in timelines)
