"""Export a `LiveifyModel` to ONNX with Liveify metadata, written only if ONNX Runtime matches torch.

torch, onnx and onnxruntime are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveify.errors import ModelFileError, ParameterError, first_line, require
from liveify.files import atomic_path
from liveify.model_config import check_configs_agree
from liveify.model_file import encode_metadata, open_session

INPUT_NAME = "mel"
OUTPUT_NAME = "live_mel"
#: Opset used when none is given: SDPA, LayerNormalization and GRU all export natively.
DEFAULT_OPSET = 17
MIN_OPSET, MAX_OPSET = 14, 21
#: Largest |torch - ORT| allowed on the parity inputs, per precision. fp16 keeps float32 inputs
#: and outputs and converts the weights and activations; on the full-size default model with
#: random weights it measures about 1.3e-3, so 1e-2 leaves headroom for trained weights.
PARITY_BOUND = {"fp32": 1e-4, "fp16": 1e-2}
#: ONNX Runtime contrib op the attention is exported as: one kernel for scores, softmax and the
#: weighted sum per head, where the SDPA export is MatMul, Mul, Softmax, MatMul and Transposes
#: that ORT does not fuse. On the full-size model on 2 CPU cores it is ~6 % faster per window.
FUSED_ATTENTION_OP = "com.microsoft::MultiHeadAttention"


@dataclass(frozen=True)
class ParityReport:
    """What an export wrote and how closely ONNX Runtime reproduced torch on it."""

    path: Path
    precision: str
    opset: int
    bound: float
    max_abs_error_random: float | None
    max_abs_error_music: float | None
    batch_sizes: tuple[int, ...]
    export_seconds: float
    file_bytes: int
    #: The ONNX Runtime provider the parity check ran on (None when not checked).
    provider: str | None = None

    @property
    def max_abs_error(self) -> float | None:
        errors = [e for e in (self.max_abs_error_random, self.max_abs_error_music) if e is not None]
        return max(errors) if errors else None

    @property
    def passed(self) -> bool:
        return self.max_abs_error is not None and self.max_abs_error < self.bound

    def __str__(self) -> str:
        if self.max_abs_error is None:
            parity = "parity not checked"
        else:
            parity = (
                f"parity max |torch - ORT| {self.max_abs_error_random:.2e} (random), "
                f"{self.max_abs_error_music:.2e} (music) < {self.bound:.0e} "
                f"at batch {'/'.join(map(str, self.batch_sizes))} on {self.provider}"
            )
        return (
            f"{self.path} ({self.precision}, opset {self.opset}, "
            f"{self.file_bytes / 1e6:.1f} MB, {self.export_seconds:.1f} s): {parity}"
        )


def _mel_config_for(model_config, mel_config):
    from liveify.mel import MelConfig

    if mel_config is None:
        raise ParameterError("mel_config is required: pass the MelConfig the model was trained on")
    if isinstance(mel_config, dict):
        mel_config = MelConfig.from_dict(mel_config)
    check_configs_agree(model_config, mel_config)
    return mel_config


def music_like_window(mel_config, frames: int, *, seed: int = 0) -> np.ndarray:
    """A normalised mel `(n_mels, frames)` of a synthetic chord progression with drums-like hits.

    Parity on random input alone can hide errors that only show on structured spectra (long
    silences at the floor, strong harmonics at the ceiling); this input has both.
    """
    from liveify.mel import SILENT_LEVEL, mel_power, normalize

    rate = mel_config.sample_rate
    n_samples = (frames - 1) * mel_config.hop_length
    time_s = np.arange(n_samples) / rate
    rng = np.random.default_rng(seed)
    chords_hz = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6)]
    audio = np.zeros(n_samples)
    chord_s = 2.0
    for index in range(int(np.ceil(time_s[-1] / chord_s)) + 1):
        span = (time_s >= index * chord_s) & (time_s < (index + 1) * chord_s)
        local_s = time_s[span] - index * chord_s
        envelope = np.exp(-1.5 * local_s) * (index % 4 != 3)  # every fourth bar is silent
        for root_hz in chords_hz[index % len(chords_hz)]:
            for harmonic in range(1, 6):
                phase = rng.uniform(0, 2 * np.pi)
                audio[span] += (
                    0.1
                    / harmonic
                    * envelope
                    * np.sin(2 * np.pi * root_hz * harmonic * local_s + phase)
                )
    beats = (time_s % 0.5) < 0.03
    audio += beats * rng.standard_normal(n_samples) * 0.3
    normalized = normalize(mel_power(audio.astype(np.float32), mel_config), mel_config)
    window = np.full((mel_config.n_mels, frames), SILENT_LEVEL, dtype=np.float32)
    usable = min(frames, normalized.shape[1])
    window[:, :usable] = normalized[:, :usable]
    return window


def parity_device(precision: str) -> str:
    """Where the parity check runs: an fp16 model on the provider it will render on (CUDA where
    this ONNX Runtime can run it: fp16 kernels differ between providers); fp32 on the CPU, the
    reference the bound was set on."""
    return "auto" if precision == "fp16" else "cpu"


def _parity(
    model, onnx_path: Path, mel_config, config, device: str
) -> tuple[float, float, tuple[int, ...], str]:
    """Max |torch - ORT| on 3 random windows (one batch) and 1 music-like window (batch 1), and
    the ONNX Runtime provider that ran them."""
    import torch

    rng = np.random.default_rng(1234)
    shape = (1, config.n_mels, config.context_frames)
    random_batch = rng.uniform(-1.0, 1.0, size=(3, *shape)).astype(np.float32)
    music_batch = music_like_window(mel_config, config.context_frames)[np.newaxis, np.newaxis]
    session, provider, _ = open_session(onnx_path, device)
    errors = []
    for batch in (random_batch, music_batch):
        with torch.no_grad():
            expected = model(torch.from_numpy(batch)).numpy()
        (actual,) = session.run([OUTPUT_NAME], {INPUT_NAME: batch})
        if actual.shape != expected.shape or not np.all(np.isfinite(actual)):
            return float("inf"), float("inf"), (3, 1), provider
        errors.append(float(np.max(np.abs(actual.astype(np.float64) - expected))))
    return errors[0], errors[1], (3, 1), provider


def _fuse_attention(model) -> None:
    """Make every `SelfAttention` of `model` export as one ORT `MultiHeadAttention` node.

    Only the traced graph changes: in torch each fused block still computes
    `scaled_dot_product_attention`, so the parity check compares the fused ONNX against the
    model's own maths.
    """
    import types

    import torch
    import torch.nn.functional as F

    from liveify.model import SelfAttention

    class _MultiHeadAttention(torch.autograd.Function):
        @staticmethod
        def forward(ctx, query, key, value, num_heads: int):
            batch, n_tokens, embed_dim = query.shape

            def heads(tensor):
                return tensor.reshape(batch, n_tokens, num_heads, -1).transpose(1, 2)

            attended = F.scaled_dot_product_attention(heads(query), heads(key), heads(value))
            return attended.transpose(1, 2).reshape(batch, n_tokens, embed_dim)

        @staticmethod
        def symbolic(graph, query, key, value, num_heads: int):
            attended = graph.op(FUSED_ATTENTION_OP, query, key, value, num_heads_i=num_heads)
            attended.setType(query.type())
            return attended

    def fused_forward(self, tokens):
        # (B, N, 3 * D) splits into Q, K, V exactly as the model's (B, N, 3, H, D/H) reshape does
        query, key, value = self.qkv(tokens).chunk(3, dim=-1)
        return self.proj_dropout(
            self.proj(_MultiHeadAttention.apply(query, key, value, self.num_heads))
        )

    for module in model.modules():
        if isinstance(module, SelfAttention):
            # On this instance only: the model being exported, never the class.
            module.forward = types.MethodType(fused_forward, module)  # type: ignore[method-assign]


def _to_fp16(model_proto):
    """Weights and activations to float16, inputs and outputs kept float32 for the stage."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(model_proto, keep_io_types=True)


def export_onnx(
    model,
    path: str | os.PathLike,
    *,
    mel_config,
    opset: int | None = None,
    fp16: bool = False,
    training_info: dict | None = None,
    check: bool = True,
    fused_attention: bool = True,
) -> ParityReport:
    """Export `model` to `path` as ONNX with a dynamic batch axis and Liveify metadata.

    Parameters
    ----------
    model : a `liveify.model.LiveifyModel` (any device; a CPU float32 copy is exported).
    path : output file; written atomically (temp file + rename), never left half-written.
    mel_config : the `MelConfig` (or its dict) the model was trained with; stored in the file so
        `LiveModel` analyses audio exactly as in training.
    opset : ONNX opset (default 17).
    fp16 : store float16 weights/activations (half the file, faster on CUDA; slower on most
        CPUs). Inputs and outputs stay float32.
    training_info : JSON-able facts about training (songs, epochs, val_loss, ...) for the file.
    check : compare ONNX Runtime against torch on random and music-like windows at batch 3 and
        1; if the max abs error reaches the bound (1e-4 fp32, 1e-2 fp16) the file is removed and
        ModelFileError is raised.
    fused_attention : export each attention as one ONNX Runtime `MultiHeadAttention` node
        (com.microsoft domain, CPU and CUDA): ~6 % faster per window on CPU. False keeps the
        standard-ONNX SDPA pattern for runtimes other than ONNX Runtime.

    Returns
    -------
    ParityReport with the measured errors and the export time.

    Examples
    --------
    >>> from liveify.export import export_onnx
    >>> report = export_onnx(model, "model.onnx", mel_config=MelConfig())  # doctest: +SKIP
    >>> print(report)  # doctest: +SKIP
    """
    torch = require("torch", "train")
    onnx = require("onnx", "train")
    import liveify

    started = time.perf_counter()
    path = Path(path)
    config = model.config
    mel_config = _mel_config_for(config, mel_config)
    opset = DEFAULT_OPSET if opset is None else int(opset)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ParameterError(
            f"opset must be in [{MIN_OPSET}, {MAX_OPSET}] (scaled_dot_product_attention needs "
            f"14); got {opset}"
        )
    precision = "fp16" if fp16 else "fp32"
    model = copy.deepcopy(model).float().cpu().eval()
    reference = model
    if fused_attention:
        model = copy.deepcopy(model)
        _fuse_attention(model)

    # The legacy TorchScript exporter takes seconds for the full-size model where dynamo=True
    # takes minutes, and honours dynamic_axes; trace with batch 2 so no size-1 batch is baked in.
    example = torch.zeros(2, 1, config.n_mels, config.context_frames)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                model,
                (example,),
                buffer,
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
            )
        except Exception as error:
            raise ModelFileError(
                f"{path}: ONNX export failed at opset {opset} ({first_line(error)})"
            ) from None
    model_proto = onnx.load_model_from_string(buffer.getvalue())
    if fp16:
        model_proto = _to_fp16(model_proto)
    model_proto.producer_name = "liveify"
    model_proto.producer_version = liveify.__version__
    model_proto.doc_string = "Liveify ViT-GRU: studio mel -> live mel (normalised, [-1, 1])"
    metadata = encode_metadata(
        {
            "version": liveify.__version__,
            "model_config": config.to_dict(),
            "mel_config": mel_config.to_dict(),
            "training_info": training_info or {},
            "input_name": INPUT_NAME,
            "output_name": OUTPUT_NAME,
            "precision": precision,
            "opset": opset,
            "attention": FUSED_ATTENTION_OP if fused_attention else "onnx",
        }
    )

    with atomic_path(path) as temp_path:
        bound = PARITY_BOUND[precision]
        _set_metadata(model_proto, metadata)
        onnx.save_model(model_proto, temp_path)
        error_random = error_music = provider = None
        batch_sizes: tuple[int, ...] = ()
        if check:
            error_random, error_music, batch_sizes, provider = _parity(
                reference, temp_path, mel_config, config, parity_device(precision)
            )
            worst = max(error_random, error_music)
            if not worst < bound:
                raise ModelFileError(
                    f"{path}: ONNX Runtime differs from torch by {worst:.2e} (bound {bound:.0e}, "
                    f"{precision}, opset {opset}); the file was not written. Try another --opset"
                    + ("" if not fp16 else " or export without --fp16")
                )
            parity = {
                "max_abs_error_random": error_random,
                "max_abs_error_music": error_music,
                "bound": bound,
                "batch_sizes": list(batch_sizes),
                "provider": provider,
            }
            _set_metadata(model_proto, encode_metadata({"parity": parity}))
            onnx.save_model(model_proto, temp_path)
    return ParityReport(
        path=path,
        precision=precision,
        opset=opset,
        bound=bound,
        max_abs_error_random=error_random,
        max_abs_error_music=error_music,
        batch_sizes=tuple(batch_sizes),
        export_seconds=time.perf_counter() - started,
        file_bytes=path.stat().st_size,
        provider=provider,
    )


def export_checkpoint(
    checkpoint_path: str | os.PathLike,
    path: str | os.PathLike,
    *,
    training_info: dict | None = None,
    opset: int | None = None,
    fp16: bool = False,
    check: bool = True,
    fused_attention: bool = True,
) -> ParityReport:
    """Load a Lightning `.ckpt` or plain `.pt` checkpoint and `export_onnx` it to `path`.

    The checkpoint's mel config and training facts (epoch, best validation loss, songs, ...) go
    into the ONNX metadata, updated with `training_info` (what a finished run knows beyond the
    file, e.g. its epoch count); a checkpoint without a mel config is taken to use `MelConfig()`.

    Examples
    --------
    >>> export_checkpoint("checkpoints/best.ckpt", "model.onnx")  # doctest: +SKIP
    """
    from liveify.checkpoint import load_checkpoint
    from liveify.mel import MelConfig

    model, _, info = load_checkpoint(checkpoint_path)
    mel_config = MelConfig.from_dict(info["mel_config"]) if info["mel_config"] else MelConfig()
    facts = {
        **info["training_info"],
        "checkpoint": Path(checkpoint_path).name,
        **(training_info or {}),
    }
    return export_onnx(
        model,
        path,
        mel_config=mel_config,
        opset=opset,
        fp16=fp16,
        training_info={key: _plain(value) for key, value in facts.items()},
        check=check,
        fused_attention=fused_attention,
    )


def _plain(value):
    """Tensors and numpy scalars -> Python numbers so training facts serialise as JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _set_metadata(model_proto, metadata: dict[str, str]) -> None:
    existing = {prop.key: prop for prop in model_proto.metadata_props}
    for key, value in metadata.items():
        if key in existing:
            existing[key].value = value
        else:
            prop = model_proto.metadata_props.add()
            prop.key, prop.value = key, value
