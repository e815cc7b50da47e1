"""The LiveModel stage: parameters, ONNX Runtime calls and latency; streaming is `stream.Stream`."""

from __future__ import annotations

import math
import os
from dataclasses import fields, replace

import numpy as np

from liveify.errors import ModelFileError, ParameterError
from liveify.mel import SILENT_LEVEL, MelConfig
from liveify.model_file import EXPORT_HINT, check_model_file, decode_metadata, open_session
from liveify.plugins.base import Stage, check_sample_rate
from liveify.plugins.model_stage.reconstruction import (
    GainConditioner,
    MaskSettings,
    source_stft_size,
)
from liveify.plugins.model_stage.stream import (
    ANALYSIS_MARGIN_FRAMES,
    GAIN_BLOCK_FRAMES,
    GRIFFINLIM_MARGIN_FRAMES,
    Stream,
    group_frames,
)
from liveify.windows import window_hop

RECONSTRUCTIONS = ("mask", "griffinlim")


class LiveModel(Stage):
    """The learned studio-to-live model as an effect stage, run by ONNX Runtime.

    Called like a pedalboard plugin on float32 `(channels, samples)` audio at any sample rate:
    a mono downmix is analysed at the model's rate (22.05 kHz), the model runs on overlapping
    context windows, and the predicted live mel is applied back to the source audio at its own
    rate, length and channel count, within bounds that keep it from harming the music.

        >>> live = LiveModel("model.onnx", strength=0.7)
        >>> out = live(audio, 44100)                                # whole track, aligned
        >>> board = liveify.Chain([live, liveify.VenueReverb(rt60_s=2.0)])

    Parameters
    ----------
    path : an ONNX file written by `liveify export`; its metadata configures everything.
    device : "auto" (CUDA when ONNX Runtime can run it, else the CPU with a notice in
        `device_notice`), "cpu", "cuda" or "cuda:N" (an error if CUDA cannot run). The provider
        that runs the model is `provider`.
    batch_size : windows per model call; larger batches help on GPU when chunks are long.
    overlap : fraction of each window shared with the next (0.5 = every frame seen by two
        windows). Lower is faster (0.25 costs ~2/3 of 0.5), higher blends more smoothly.
    reconstruction : "mask" keeps the source phase, stereo image and full bandwidth and applies
        the predicted change as bounded, smoothed gains; "griffinlim" resynthesises the predicted
        mel (duller, mono image, no content above 11 kHz, as in the original spec).
    mix : 1.0 = only the model's output, 0.0 = the dry input (delayed like the output).
    strength : 0-1, scales the model's log-gain (0 returns the input exactly, 1 the full change).
    max_gain_db : bound of the gain in dB (boost or cut); a model may declare a tighter one in
        its metadata, and the tighter wins. Default: the model's, else `MaskSettings`'s 6 dB.
    mask_settings : every reconstruction setting at once (`MaskSettings`), replacing the model's.
    seed : seed of the residual noise that mask reconstruction adds for predicted room sound.
    intra_op_threads : ONNX Runtime threads; default the physical cores available.
    providers : ONNX Runtime provider names, overriding `device` (advanced).

    Streaming
    ---------
    `stage(chunk, sr, reset=False)` returns as many samples as it is given, delayed by
    `latency_samples_at(sr)`: the model needs a whole context window (about 32.7 s) after a frame
    before the frame is final, plus the gain smoothing, one group of STFT frames and the analysis
    margins, about 45 s at any rate. Feed `tail_samples(sr)` zeros after the track to flush the
    rest. `stage(audio, sr)` (reset=True) does exactly that (`plugins.base.stream_aligned`) and
    returns the aligned result. Memory is bounded by the latency, not by the track length.
    """

    def __init__(  # noqa: PLR0913  one keyword per stage parameter, as pedalboard's plugins take them
        self,
        path: str | os.PathLike,
        device: str = "auto",
        batch_size: int = 4,
        overlap: float = 0.5,
        reconstruction: str = "mask",
        mix: float = 1.0,
        *,
        strength: float = 1.0,
        max_gain_db: float | None = None,
        mask_settings: MaskSettings | None = None,
        seed: int = 0,
        intra_op_threads: int | None = None,
        providers: list[str] | tuple[str, ...] | None = None,
    ):
        # What pickling rebuilds the stage from: an ONNX Runtime session cannot be pickled, and a
        # process pool or Ray worker opens its own on its own device.
        self._arguments = {
            "path": os.fspath(path), "device": device, "batch_size": batch_size,
            "overlap": overlap, "reconstruction": reconstruction, "mix": mix,
            "strength": strength, "max_gain_db": max_gain_db, "mask_settings": mask_settings,
            "seed": seed, "intra_op_threads": intra_op_threads, "providers": providers,
        }  # fmt: skip
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ParameterError(f"batch_size must be an integer >= 1; got {batch_size!r}")
        if reconstruction not in RECONSTRUCTIONS:
            raise ParameterError(
                f"reconstruction must be one of {', '.join(RECONSTRUCTIONS)}; got {reconstruction!r}"
            )
        if not 0.0 <= float(mix) <= 1.0:
            raise ParameterError(f"mix must be in [0, 1]; got {mix}")
        self.path = check_model_file(path)
        self.batch_size = batch_size
        self.reconstruction = reconstruction
        self.mix = float(mix)
        self.seed = int(seed)
        self.device = device
        self.session, self.provider, self.device_notice = open_session(
            self.path, device, providers=providers, intra_op_threads=intra_op_threads
        )
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
        self.mel_block_frames = max(ANALYSIS_MARGIN_FRAMES, min(128, self.window_frames))
        self._mask = self._mask_settings(mask_settings, max_gain_db, strength)
        self.conditioner = GainConditioner(self.mel_config, self._mask)
        self._silent_output: np.ndarray | None = None
        self._stream: Stream | None = None
        self._sample_rate: float | None = None

    # -- reconstruction settings -----------------------------------------------------------------
    def _mask_settings(self, settings, max_gain_db, strength) -> MaskSettings:
        declared = self.metadata["reconstruction"]
        if settings is None:
            known = {field.name for field in fields(MaskSettings)} - {"strength"}
            try:
                settings = MaskSettings(**{k: v for k, v in declared.items() if k in known})
            except (ParameterError, TypeError) as error:
                raise ModelFileError(
                    f"{self.path}: bad reconstruction metadata ({error}); {EXPORT_HINT}"
                ) from None
        if max_gain_db is not None:
            bound = min(float(max_gain_db), float(declared.get("max_gain_db", max_gain_db)))
            settings = replace(
                settings, max_gain_db=bound, edge_gain_db=min(settings.edge_gain_db, bound)
            )
        return replace(settings, strength=float(strength))

    @property
    def mask(self) -> MaskSettings:
        """The reconstruction's bounds, smoothing, strength and residual noise in use."""
        return self._mask

    @property
    def strength(self) -> float:
        """0-1, scales the model's log-gain; setting it starts a new stream."""
        return self._mask.strength

    @strength.setter
    def strength(self, value: float) -> None:
        self._mask = replace(self._mask, strength=float(value))
        self.conditioner = GainConditioner(self.mel_config, self._mask)
        self.reset()

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
        """Output delay in samples at `sample_rate` when streaming with `reset=False`.

        Output sample s is final once the STFT group holding it is shaped: that needs the
        conditioned gains one group ahead, which need a gain block and its smoothing margin of
        blended model output, which needs the window after it, which needs the studio mel block
        (and its analysis margin) at that window's end.
        """
        sample_rate = check_sample_rate(sample_rate)
        samples_per_frame = self.mel_config.hop_length * sample_rate / self.mel_config.sample_rate
        hop = source_stft_size(sample_rate, self.mel_config) // 2
        frames = (
            GAIN_BLOCK_FRAMES
            + self.conditioner.margin_frames
            + self.window_frames
            + self.mel_block_frames
            + ANALYSIS_MARGIN_FRAMES
            + GRIFFINLIM_MARGIN_FRAMES
            + 2
        )
        group_samples = group_frames(hop, samples_per_frame) * hop
        return math.ceil(group_samples + frames * samples_per_frame) + 2

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

    def process_block(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        """The next block, delayed by the latency; pushed through the stream in pieces of at
        most `batch_size` window hops, so memory stays bounded however long the block is."""
        self._sample_rate = sample_rate
        piece = self._piece_samples(sample_rate)
        stream = self._stream
        if stream is None:
            stream = self._stream = Stream(self, sample_rate, audio.shape[0])
        elif stream.sample_rate != sample_rate or stream.channels != audio.shape[0]:
            raise ParameterError(
                f"stream started at {stream.sample_rate:g} Hz with {stream.channels} channels; got "
                f"{sample_rate:g} Hz with {audio.shape[0]}: call reset() (or reset=True) for a "
                "new signal"
            )
        output = np.empty_like(audio)
        for first in range(0, audio.shape[1], piece):
            output[:, first : first + piece] = stream.push(audio[:, first : first + piece])
        return output

    def __reduce__(self):
        """Pickles as a fresh stage built from the same path and parameters (any stream in
        progress is not carried over: the copy starts at the beginning of a signal)."""
        return (_rebuild, (type(self), self._arguments))

    def __repr__(self) -> str:
        config = self.model_config
        # Files without `layer_convention` count transformer layers per side of the GRU.
        total = int(config["num_transformer_layers"])
        total *= 1 if config.get("layer_convention") == "total" else 2
        bi = ", bi" if config.get("gru_bidirectional", True) else ""
        layers = f"{(total + 1) // 2}+GRU({config['gru_layers']}{bi})+{total // 2}"
        patch = config["patch_size"]
        patch = "x".join(map(str, patch)) if isinstance(patch, list) else patch
        seconds = self.window_frames * self.mel_config.frame_duration_s
        rate = self._sample_rate or 44100.0
        latency = self.latency_samples_at(rate)
        return (
            f"<LiveModel {self.path.name}: ViT-GRU {config['embed_dim']}d {config['num_heads']}h "
            f"{layers}, patch {patch}, {self.mel_config.n_mels} mels x {self.window_frames} "
            f"frames ({seconds:.1f} s), {self.metadata['precision']}; device {self.device} on "
            f"{self.provider}; overlap {self.overlap:g}, batch {self.batch_size}, "
            f"{self.reconstruction}, strength {self.strength:g}, max gain "
            f"{self._mask.max_gain_db:g} dB, mix {self.mix:g}; latency {latency} samples "
            f"({latency / rate:.1f} s at {rate:g} Hz)>"
        )


def _rebuild(cls, arguments: dict):
    return cls(**arguments)
