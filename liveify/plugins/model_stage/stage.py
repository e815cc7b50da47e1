"""LiveModel: the exported ViT-GRU run by ONNX Runtime as an effect stage, on audio at any rate.

Audio is analysed, windowed, run through the model and reconstructed in blocks on a fixed grid
of mel frames, so chunked (`reset=False`) and whole-signal calls give the same output, the
chunked one delayed by `latency_samples`. Never imports torch.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from liveify.errors import ModelFileError, ParameterError, require
from liveify.mel import (
    SILENT_LEVEL,
    MelConfig,
    denormalize,
    mel_power,
    normalize,
    reconstruct_griffinlim,
    reconstruct_mask,
)
from liveify.model_file import EXPORT_HINT, check_model_file, decode_metadata
from liveify.plugins.base import Stage, as_channels_first, check_sample_rate
from liveify.windows import crossfade_weights, window_hop

RECONSTRUCTIONS = ("mask", "griffinlim")
#: Mel frames of context on each side of a block analysed or reconstructed on its own: covers
#: the centred STFT (n_fft / 2 = 2 frames), the resampler's edge and the gain smoothing.
_ANALYSIS_MARGIN_FRAMES = 4
_RECONSTRUCTION_MARGIN_FRAMES = 8


def physical_cores() -> int:
    """Physical CPU cores this process may use (hyper-threads slow ORT's matmuls down)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    try:
        cores = set()
        physical_id = "0"
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "physical id":
                    physical_id = value.strip()
                elif key.strip() == "core id":
                    cores.add((physical_id, value.strip()))
        physical = len(cores) or usable
    except OSError:
        physical = usable
    return max(1, min(physical, usable))


class _Timeline:
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
    def stored(self) -> int:
        return self._array.shape[1]

    def _reserve(self, end: int) -> None:
        needed = end - self.start
        if self._offset + needed <= self._array.shape[1]:
            return
        live = self._array[:, self._offset : self._offset + (self.end - self.start)]
        capacity = self._array.shape[1]
        if needed > capacity // 2:
            capacity = 2 * needed
            array = np.zeros((self._array.shape[0], capacity), dtype=self._array.dtype)
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


class _Stream:
    """Streaming state for one signal at one sample rate and channel count.

    Four stages run on fixed grids, each as soon as its input is complete:
    1. studio mel: blocks of `mel_block` frames, each from its own span of source audio (mono
       downmix resampled to the analysis rate), with margins so frames match a whole-signal STFT;
    2. model windows of `window_frames` every `hop` frames, blended with `crossfade_weights`;
       a frame is final once the next window starts after it;
    3. reconstruction blocks of `block_frames` frames at the source rate, with margins, crossfaded
       over `crossfade` samples;
    4. emission: output position = input position - latency_samples.
    """

    def __init__(self, stage: LiveModel, sample_rate: float, channels: int):
        self.stage = stage
        self.sample_rate = sample_rate
        self.channels = channels
        config = stage.mel_config
        self.samples_per_frame = config.hop_length * sample_rate / config.sample_rate
        self.window = stage.window_frames
        self.hop = stage.window_hop_frames
        self.weights = crossfade_weights(self.window, stage.overlap)[np.newaxis, :]
        self.mel_block = stage.mel_block_frames
        self.block = stage.block_frames
        self.crossfade = 2 * max(1, round(self.samples_per_frame))
        self.latency_samples = stage.latency_samples_at(sample_rate)

        n_mels = config.n_mels
        self.audio = _Timeline(channels, np.float32)
        self.studio = _Timeline(n_mels, np.float32, start=-self.mel_block)
        self.predicted = _Timeline(n_mels, np.float64)
        self.weight = _Timeline(1, np.float64)
        self.wet = _Timeline(channels, np.float32)
        self.next_mel_block = -1  # one block before frame 0 so early frames see the leading zeros
        self.next_window = 0
        self.next_block = 0
        self.wet_final_end = 0  # wet output before this sample is complete
        self.received = 0
        #: When the signal's length is known (a whole-signal call), output at or after it is
        #: discarded, so reconstruction blocks that only produce such output are skipped.
        self.output_limit: int | None = None
        ramp = (np.arange(self.crossfade) + 0.5) / self.crossfade
        self.fade_in = ramp.astype(np.float32)
        self.fade_out = ramp[::-1].astype(np.float32)

    def frame_sample(self, frame: int) -> int:
        """Source sample at the centre of mel frame `frame` (rounded)."""
        return math.floor(frame * self.samples_per_frame + 0.5)

    # -- 1. studio mel -------------------------------------------------------------------------
    def _studio_block(self, index: int) -> np.ndarray:
        config = self.stage.mel_config
        margin = _ANALYSIS_MARGIN_FRAMES
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
        return power[:, margin : margin + self.mel_block].astype(np.float32)

    def _advance_studio(self) -> None:
        margin = _ANALYSIS_MARGIN_FRAMES
        while self.audio.end >= self.frame_sample(
            (self.next_mel_block + 1) * self.mel_block + margin
        ):
            self.studio.append(self._studio_block(self.next_mel_block))
            self.next_mel_block += 1

    # -- 2. model windows ----------------------------------------------------------------------
    def _advance_windows(self) -> None:
        starts = []
        while self.studio.end >= self.next_window * self.hop + self.window:
            starts.append(self.next_window * self.hop)
            self.next_window += 1
        if not starts:
            return
        config = self.stage.mel_config
        windows = np.stack(
            [normalize(self.studio.read(start, start + self.window), config) for start in starts]
        )
        outputs = self.stage.run_windows(windows)
        for start, output in zip(starts, outputs, strict=True):
            self.predicted.add(start, output.astype(np.float64) * self.weights)
            self.weight.add(start, self.weights)

    # -- 3. reconstruction ---------------------------------------------------------------------
    def _predicted_power(self, first: int, stop: int, studio_power: np.ndarray) -> np.ndarray:
        config = self.stage.mel_config
        power = studio_power.copy()  # frames before 0 are covered by no window: leave them as is
        lo = max(first, 0)
        if lo < stop:
            blended = self.predicted.read(lo, stop) / self.weight.read(lo, stop)
            power[:, lo - first :] = denormalize(blended.astype(np.float32), config)
        return power

    def _reconstruct_block(self, index: int) -> None:
        stage, config = self.stage, self.stage.mel_config
        margin = _RECONSTRUCTION_MARGIN_FRAMES
        first = index * self.block - margin
        stop = (index + 1) * self.block + margin
        studio_power = self.studio.read(first, stop)
        predicted_power = self._predicted_power(first, stop, studio_power)
        start_sample = self.frame_sample(first)
        audio = self.audio.read(start_sample, self.frame_sample(stop))
        seed = (stage.seed * 1_000_003 + index) % 2**32
        if stage.reconstruction == "mask":
            wet = reconstruct_mask(
                audio, self.sample_rate, studio_power, predicted_power, config, seed=seed
            )
        else:
            wet = reconstruct_griffinlim(
                predicted_power,
                self.sample_rate,
                config,
                channels=self.channels,
                length=audio.shape[1],
                seed=seed,
            )
        half = self.crossfade // 2
        keep_start = self.frame_sample(index * self.block) - half
        keep_stop = self.frame_sample((index + 1) * self.block) + half
        kept = wet[:, keep_start - start_sample : keep_stop - start_sample].copy()
        if index > 0:  # the first block has no predecessor to fade from
            kept[:, : self.crossfade] *= self.fade_in
        kept[:, -self.crossfade :] *= self.fade_out
        self.wet.add(keep_start, kept)
        self.wet_final_end = keep_stop - self.crossfade

    def _advance_reconstruction(self) -> None:
        margin = _RECONSTRUCTION_MARGIN_FRAMES
        while True:
            needed_frame = (self.next_block + 1) * self.block + margin
            final_frames = self.next_window * self.hop  # no later window reaches before this
            if final_frames < needed_frame or self.studio.end < needed_frame:
                return
            half = self.crossfade // 2
            keep_start = self.frame_sample(self.next_block * self.block) - half
            if self.output_limit is not None and keep_start >= self.output_limit:
                self.wet_final_end = self.frame_sample((self.next_block + 1) * self.block) - half
            else:
                self._reconstruct_block(self.next_block)
            self.next_block += 1

    # -- 4. emission -----------------------------------------------------------------------------
    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Take `chunk` (channels, n) and return the n output samples `latency_samples` behind."""
        first_out = self.received - self.latency_samples
        self.audio.append(chunk)
        self.received += chunk.shape[1]
        self._advance_studio()
        self._advance_windows()
        self._advance_reconstruction()

        stop_out = self.received - self.latency_samples
        output = np.zeros((self.channels, chunk.shape[1]), dtype=np.float32)
        assert self.wet_final_end >= stop_out, "latency_samples is too small"
        lo = max(first_out, 0)
        hi = stop_out if self.output_limit is None else min(stop_out, self.output_limit)
        if lo < hi:
            mix = self.stage.mix
            wet = self.wet.read(lo, hi)
            if mix == 1.0:
                output[:, lo - first_out : hi - first_out] = wet
            else:
                dry = self.audio.read(lo, hi)
                output[:, lo - first_out : hi - first_out] = mix * wet + (1.0 - mix) * dry
        self._discard(max(stop_out, 0))
        return output

    def _discard(self, emitted: int) -> None:
        next_block_first = self.next_block * self.block - _RECONSTRUCTION_MARGIN_FRAMES
        oldest_frame = min(next_block_first, self.next_window * self.hop)
        self.studio.discard_before(oldest_frame)
        self.predicted.discard_before(next_block_first)
        self.weight.discard_before(next_block_first)
        self.wet.discard_before(emitted)
        next_mel_first = self.next_mel_block * self.mel_block - _ANALYSIS_MARGIN_FRAMES
        self.audio.discard_before(
            min(emitted, self.frame_sample(next_block_first), self.frame_sample(next_mel_first))
        )

    def buffered_values(self) -> int:
        """Array cells held by the stream (to check that memory does not grow with the track)."""
        timelines = (self.audio, self.studio, self.predicted, self.weight, self.wet)
        return sum(timeline.stored * timeline._array.shape[0] for timeline in timelines)


class LiveModel(Stage):
    """The learned studio-to-live model as an effect stage, run by ONNX Runtime.

    Called like a pedalboard plugin on float32 `(channels, samples)` audio at any sample rate:
    a mono downmix is analysed at the model's rate (22.05 kHz), the model runs on overlapping
    context windows, and the predicted live mel is applied back to the source audio at its own
    rate, length and channel count.

        >>> live = LiveModel("model.onnx")                          # doctest: +SKIP
        >>> out = live(audio, 44100)                                # whole track, aligned
        >>> board = liveify.Chain([LiveModel("model.onnx"), liveify.VenueReverb.preset("arena")])

    Parameters
    ----------
    path : an ONNX file written by `liveify export`; its metadata configures everything.
    providers : "auto" (CUDA when onnxruntime-gpu sees a GPU, else CPU), "cpu", "cuda", or a list
        of ONNX Runtime provider names.
    batch_size : windows per model call; larger batches help on GPU when chunks are long (a
        whole-track call batches fully; a streaming call batches the windows its chunk completes).
    overlap : fraction of each window shared with the next (0.5 = every frame seen by two
        windows). Lower is faster (0.25 costs ~2/3 of 0.5), higher blends more smoothly.
    reconstruction : "mask" keeps the source phase, stereo image and full bandwidth and applies
        the predicted change as gains; "griffinlim" resynthesises the predicted mel (duller,
        mono image, as in the original spec).
    mix : 1.0 = only the model's output, 0.0 = the dry input (delayed like the output).
    seed : seed of the residual noise that mask reconstruction adds for predicted room sound.
    block_frames : mel frames reconstructed per block; larger is a little faster but adds
        latency.
    intra_op_threads : ONNX Runtime threads; default the physical cores available.

    Streaming
    ---------
    `stage(chunk, sr, reset=False)` returns as many samples as it is given, delayed by
    `latency_samples`: the model needs a whole context window (about 32.7 s) after a frame
    before the frame is final, plus one reconstruction block and the analysis margins, so the
    latency is `ceil((block + margin + window + mel_block + analysis_margin - 2) x hop x sr /
    22050 + crossfade / 2) + 3` samples, about 40 s for the defaults at any rate. Feed
    `tail_samples(sr)` zeros after the track to flush the rest. `stage(audio, sr)` (reset=True)
    does exactly that internally and returns the aligned result, equal to the chunked output
    shifted by the latency. Memory is bounded by the latency and `batch_size` windows, not by
    the track length.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        providers: str | list[str] | tuple[str, ...] = "auto",
        batch_size: int = 4,
        overlap: float = 0.5,
        reconstruction: str = "mask",
        mix: float = 1.0,
        *,
        seed: int = 0,
        block_frames: int = 256,
        intra_op_threads: int | None = None,
    ):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ParameterError(f"batch_size must be an integer >= 1; got {batch_size!r}")
        if reconstruction not in RECONSTRUCTIONS:
            raise ParameterError(
                f"reconstruction must be one of {', '.join(RECONSTRUCTIONS)}; got {reconstruction!r}"
            )
        if not 0.0 <= float(mix) <= 1.0:
            raise ParameterError(f"mix must be in [0, 1]; got {mix}")
        if not isinstance(block_frames, int) or block_frames < 8:
            raise ParameterError(f"block_frames must be an integer >= 8; got {block_frames!r}")
        self.path = check_model_file(path)
        self.batch_size = batch_size
        self.reconstruction = reconstruction
        self.mix = float(mix)
        self.seed = int(seed)
        self.session, self.provider = _open_session(self.path, providers, intra_op_threads)
        self.metadata = decode_metadata(self.session.get_modelmeta().custom_metadata_map, self.path)
        try:
            self.mel_config = MelConfig.from_dict(self.metadata["mel_config"])
        except (ParameterError, TypeError) as error:
            raise ModelFileError(
                f"{self.path}: bad mel_config metadata ({error}); {EXPORT_HINT}"
            ) from None
        self.model_config = self.metadata["model_config"]
        self.input_name = self.metadata["input_name"]
        self.output_name = self.metadata["output_name"]
        self.window_frames = int(self.model_config["context_frames"])
        if int(self.model_config["n_mels"]) != self.mel_config.n_mels:
            raise ModelFileError(
                f"{self.path}: model and mel configs disagree on n_mels; {EXPORT_HINT}"
            )
        self._check_graph()
        self.overlap = float(overlap)
        self.window_hop_frames = window_hop(self.window_frames, self.overlap)
        self.block_frames = min(block_frames, self.window_frames)
        self.mel_block_frames = max(_RECONSTRUCTION_MARGIN_FRAMES, min(64, self.window_frames))
        self._silent_output: np.ndarray | None = None
        self._stream: _Stream | None = None
        self._sample_rate: float | None = None

    # -- ONNX Runtime ----------------------------------------------------------------------------
    def _check_graph(self) -> None:
        inputs = {node.name: node for node in self.session.get_inputs()}
        outputs = {node.name for node in self.session.get_outputs()}
        if self.input_name not in inputs or self.output_name not in outputs:
            raise ModelFileError(
                f"{self.path}: graph lacks the {self.input_name!r} input or {self.output_name!r} "
                f"output named in its metadata; {EXPORT_HINT}"
            )
        shape = inputs[self.input_name].shape
        expected = [1, self.mel_config.n_mels, self.window_frames]
        if len(shape) != 4 or list(shape[1:]) != expected:
            raise ModelFileError(
                f"{self.path}: input shape {shape} does not match (batch, {expected}) from its "
                f"metadata; {EXPORT_HINT}"
            )

    def run_windows(self, windows: np.ndarray) -> np.ndarray:
        """Model outputs for normalised windows `(N, n_mels, window_frames)`, in batches.

        Silent windows (every frame at the floor, e.g. the flush after a track) reuse one cached
        output instead of running the model.
        """
        outputs = np.empty_like(windows, dtype=np.float32)
        silent = np.all(windows <= SILENT_LEVEL, axis=(1, 2))
        if silent.any():
            if self._silent_output is None:
                self._silent_output = self._run(np.full_like(windows[:1], SILENT_LEVEL))[0]
            outputs[silent] = self._silent_output
        pending = np.flatnonzero(~silent)
        for first in range(0, len(pending), self.batch_size):
            indices = pending[first : first + self.batch_size]
            outputs[indices] = self._run(windows[indices])
        return outputs

    def _run(self, windows: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(windows[:, np.newaxis], dtype=np.float32)
        (output,) = self.session.run([self.output_name], {self.input_name: batch})
        return output[:, 0]

    # -- latency -------------------------------------------------------------------------------
    def latency_samples_at(self, sample_rate: float) -> int:
        """Output delay in samples at `sample_rate` when streaming with `reset=False`."""
        sample_rate = check_sample_rate(sample_rate)
        samples_per_frame = self.mel_config.hop_length * sample_rate / self.mel_config.sample_rate
        frames = (
            self.block_frames
            + _RECONSTRUCTION_MARGIN_FRAMES
            + self.window_frames
            + self.mel_block_frames
            + _ANALYSIS_MARGIN_FRAMES
            - 2
        )
        crossfade = 2 * max(1, round(samples_per_frame))
        return math.ceil(frames * samples_per_frame + crossfade / 2) + 3

    @property
    def latency_samples(self) -> int:
        """Delay at the rate of the current stream, else of the last `tail_samples(sr)` query,
        else at 44.1 kHz. Prefer `latency_samples_at(sr)` / `tail_samples(sr)`."""
        return self.latency_samples_at(self._sample_rate or 44100.0)

    def tail_samples(self, sample_rate: float) -> int:
        """Zeros to feed after a streamed track so the output catches up (= the latency)."""
        self._sample_rate = check_sample_rate(sample_rate)
        return self.latency_samples_at(sample_rate)

    # -- processing ------------------------------------------------------------------------------
    def reset(self) -> None:
        self._stream = None

    def _piece_samples(self, sample_rate: float) -> int:
        """Largest span pushed at once: `batch_size` window hops, so memory stays bounded."""
        samples_per_frame = self.mel_config.hop_length * sample_rate / self.mel_config.sample_rate
        return max(1, int(self.batch_size * self.window_hop_frames * samples_per_frame))

    def _push(self, stream: _Stream, audio: np.ndarray) -> np.ndarray:
        output = np.empty_like(audio)
        piece = self._piece_samples(stream.sample_rate)
        for first in range(0, audio.shape[1], piece):
            output[:, first : first + piece] = stream.push(audio[:, first : first + piece])
        return output

    def _process_whole(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        """Stream `audio` then `latency` zeros; the aligned result is what follows the latency."""
        stream = _Stream(self, sample_rate, audio.shape[0])
        latency, n_samples = stream.latency_samples, audio.shape[1]
        stream.output_limit = n_samples
        result = np.empty_like(audio)
        piece = self._piece_samples(sample_rate)
        for first in range(0, n_samples + latency, piece):
            stop = min(first + piece, n_samples + latency)
            chunk = np.zeros((audio.shape[0], stop - first), dtype=np.float32)
            if first < n_samples:
                chunk[:, : min(stop, n_samples) - first] = audio[:, first:stop]
            output = stream.push(chunk)
            lo, hi = max(first - latency, 0), stop - latency  # output positions we keep
            if lo < hi:
                result[:, lo:hi] = output[:, lo - (first - latency) :]
        return result

    def process(
        self,
        input_array: np.ndarray,
        sample_rate: float,
        buffer_size: int | None = None,
        reset: bool = True,
    ) -> np.ndarray:
        """Process `(channels, samples)` float32 audio; see the class docstring for streaming."""
        audio = as_channels_first(input_array)
        sample_rate = check_sample_rate(sample_rate)
        channels = audio.shape[0]
        if channels < 1:
            raise ParameterError(
                "audio has no channels; pass (channels, samples) with channels >= 1"
            )
        if not np.all(np.isfinite(audio)):
            raise ParameterError("audio contains NaN or Inf samples; clean the input first")
        self._sample_rate = sample_rate
        if reset:
            self.reset()
            return self._process_whole(audio, sample_rate)
        stream = self._stream
        if stream is None:
            stream = self._stream = _Stream(self, sample_rate, channels)
        elif stream.sample_rate != sample_rate or stream.channels != channels:
            raise ParameterError(
                f"stream started at {stream.sample_rate:g} Hz with {stream.channels} channels; got "
                f"{sample_rate:g} Hz with {channels}: call reset() (or reset=True) for a new signal"
            )
        return self._push(stream, audio)

    def __repr__(self) -> str:
        config = self.model_config
        layers = config["num_transformer_layers"]
        gru = (
            f"GRU({config['gru_layers']}{', bi' if config.get('gru_bidirectional', True) else ''})"
        )
        seconds = self.window_frames * self.mel_config.frame_duration_s
        rate = self._sample_rate or 44100.0
        latency = self.latency_samples_at(rate)
        return (
            f"<LiveModel {self.path.name}: ViT-GRU {config['embed_dim']}d {config['num_heads']}h "
            f"{layers}+{gru}+{layers}, patch {config['patch_size']}, {self.mel_config.n_mels} mels "
            f"x {self.window_frames} frames ({seconds:.1f} s), {self.metadata['precision']}; "
            f"{self.provider}; overlap {self.overlap:g}, batch {self.batch_size}, "
            f"{self.reconstruction}, mix {self.mix:g}; latency {latency} samples "
            f"({latency / rate:.1f} s at {rate:g} Hz)>"
        )


def _open_session(path: Path, providers, intra_op_threads: int | None):
    """An InferenceSession tuned for throughput, and the provider that actually runs it."""
    onnxruntime = require("onnxruntime", "cpu")
    available = onnxruntime.get_available_providers()
    if isinstance(providers, str):
        choice = providers.lower()
        if choice == "auto":
            providers = ["CPUExecutionProvider"]
            if "CUDAExecutionProvider" in available:
                providers.insert(0, "CUDAExecutionProvider")
        elif choice == "cpu":
            providers = ["CPUExecutionProvider"]
        elif choice == "cuda":
            if "CUDAExecutionProvider" not in available:
                raise ParameterError(
                    "providers='cuda' but ONNX Runtime has no CUDA provider; "
                    "pip install 'liveify[gpu]' (onnxruntime-gpu) or use providers='auto'"
                )
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            raise ParameterError(
                f"providers must be 'auto', 'cpu', 'cuda' or a list; got {providers!r}"
            )
    unknown = [name for name in providers if name not in available]
    if unknown:
        raise ParameterError(
            f"ONNX Runtime providers {unknown} are not available here (available: {available})"
        )
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = intra_op_threads or physical_cores()
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=list(providers))
    except Exception as error:
        text = (
            str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        )
        raise ModelFileError(f"{path}: not a readable ONNX model ({text}); {EXPORT_HINT}") from None
    return session, session.get_providers()[0]


__all__ = ["LiveModel"]
