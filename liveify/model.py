"""The ViT-GRU network that maps a studio mel window to the live mel of the same music.

Torch only, imported lazily (training and export, never the render path). Read top to bottom:
configuration, blocks, the model, then parameter/FLOP counts and checkpoint I/O.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from liveify.config import DictConfig
from liveify.errors import ModelFileError, ParameterError
from liveify.files import atomic_path


@dataclass
class ModelConfig(DictConfig):
    """Every hyper-parameter of `LiveifyModel`; saved in checkpoints and ONNX metadata.

    The GRU has `embed_dim // 2` hidden units per direction, so its bidirectional output is
    `embed_dim` wide and adds back onto the token stream without a projection.
    """

    embed_dim: int = 512
    num_heads: int = 8
    num_transformer_layers: int = 4  # before the GRU, and as many again after it
    mlp_ratio: float = 4.0
    gru_layers: int = 2
    gru_bidirectional: bool = True
    dropout: float = 0.1
    attention_dropout: float = 0.1
    patch_size: int = 16
    n_mels: int = 128
    context_frames: int = 1408

    def __post_init__(self):
        checks = {
            "embed_dim": self.embed_dim >= 2 and self.embed_dim % 2 == 0,
            "num_heads": self.num_heads >= 1 and self.embed_dim % max(self.num_heads, 1) == 0,
            "num_transformer_layers": self.num_transformer_layers >= 0,
            "mlp_ratio": self.mlp_ratio > 0,
            "gru_layers": self.gru_layers >= 1,
            "dropout": 0.0 <= self.dropout < 1.0,
            "attention_dropout": 0.0 <= self.attention_dropout < 1.0,
            "patch_size": self.patch_size >= 1,
            "n_mels": self.n_mels >= 1 and self.n_mels % max(self.patch_size, 1) == 0,
            "context_frames": self.context_frames >= 1
            and self.context_frames % max(self.patch_size, 1) == 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ParameterError(
                    f"ModelConfig.{name} = {getattr(self, name)!r} is invalid "
                    "(embed_dim even and divisible by num_heads; n_mels and context_frames "
                    "multiples of patch_size)"
                )
        if self.gru_bidirectional and self.embed_dim % 4 != 0:
            raise ParameterError(
                f"ModelConfig.embed_dim = {self.embed_dim} must be a multiple of 4 with a "
                "bidirectional GRU (embed_dim/2 per direction, split into frequency/time halves)"
            )

    @property
    def freq_patches(self) -> int:
        return self.n_mels // self.patch_size

    @property
    def time_patches(self) -> int:
        return self.context_frames // self.patch_size

    @property
    def gru_hidden(self) -> int:
        return self.embed_dim // 2 if self.gru_bidirectional else self.embed_dim


class SelfAttention(nn.Module):
    """Multi-head self-attention through `F.scaled_dot_product_attention`."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.num_heads = config.num_heads
        self.qkv = nn.Linear(config.embed_dim, 3 * config.embed_dim)
        self.proj = nn.Linear(config.embed_dim, config.embed_dim)
        self.attention_dropout = config.attention_dropout
        self.proj_dropout = nn.Dropout(config.dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, n_tokens, embed_dim = tokens.shape
        head_dim = embed_dim // self.num_heads
        # (B, N, 3, H, D/H) -> three (B, H, N, D/H) tensors
        qkv = self.qkv(tokens).reshape(batch, n_tokens, 3, self.num_heads, head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attended = F.scaled_dot_product_attention(
            query, key, value, dropout_p=self.attention_dropout if self.training else 0.0
        )
        attended = attended.transpose(1, 2).reshape(batch, n_tokens, embed_dim)
        return self.proj_dropout(self.proj(attended))


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        hidden = int(config.embed_dim * config.mlp_ratio)
        self.fc = nn.Linear(config.embed_dim, hidden)
        self.proj = nn.Linear(hidden, config.embed_dim)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(tokens))))


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.embed_dim)
        self.attention = SelfAttention(config)
        self.norm2 = nn.LayerNorm(config.embed_dim)
        self.mlp = MLP(config)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens + self.attention(self.norm1(tokens))
        return tokens + self.mlp(self.norm2(tokens))


class RecurrentBlock(nn.Module):
    """Bidirectional GRU over the token sequence, added back as a residual and layer-normed."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.gru = nn.GRU(
            input_size=config.embed_dim,
            hidden_size=config.gru_hidden,
            num_layers=config.gru_layers,
            batch_first=True,
            bidirectional=config.gru_bidirectional,
            dropout=config.dropout if config.gru_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.norm = nn.LayerNorm(config.embed_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        recurrent, _ = self.gru(tokens)
        return self.norm(tokens + self.dropout(recurrent))


class LiveifyModel(nn.Module):
    """ViT-GRU: studio mel window `(B, 1, n_mels, T)` in [-1, 1] -> live mel, same shape.

    Patches of `patch_size` x `patch_size` become tokens ordered time-major (all frequency patches
    of the first time step, then the next), so the GRU reads the music forwards and backwards in
    time. T may be shorter than `context_frames` (the time positional embedding is cut) but must
    be a multiple of `patch_size`.

    Examples
    --------
    >>> model = LiveifyModel(ModelConfig(embed_dim=32, num_heads=2, num_transformer_layers=1,
    ...                                  n_mels=32, context_frames=64, patch_size=16))
    >>> model(torch.zeros(2, 1, 32, 64)).shape
    torch.Size([2, 1, 32, 64])
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        dim, patch = config.embed_dim, config.patch_size
        self.patch_embed = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)
        # 2-D positional embedding: a frequency half and a time half, concatenated per token
        self.pos_embed_freq = nn.Parameter(torch.zeros(1, config.freq_patches, 1, dim // 2))
        self.pos_embed_time = nn.Parameter(torch.zeros(1, 1, config.time_patches, dim // 2))
        # Kept for checkpoint compatibility with the spec's ViT; its output is discarded.
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.dropout = nn.Dropout(config.dropout)
        self.encoder = nn.ModuleList(
            TransformerBlock(config) for _ in range(config.num_transformer_layers)
        )
        self.recurrent = RecurrentBlock(config)
        self.decoder = nn.ModuleList(
            TransformerBlock(config) for _ in range(config.num_transformer_layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.reconstruct = nn.Linear(dim, patch * patch)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed_freq, std=0.02)
        nn.init.trunc_normal_(self.pos_embed_time, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def check_input(self, mel: torch.Tensor) -> None:
        """Raise ParameterError unless `mel` is (B, 1, n_mels, T) with T a patch multiple."""
        config = self.config
        if mel.dim() != 4 or mel.shape[1] != 1 or mel.shape[2] != config.n_mels:
            raise ParameterError(
                f"model input must be shaped (batch, 1, {config.n_mels}, frames); "
                f"got {tuple(mel.shape)}"
            )
        frames = mel.shape[3]
        if frames % config.patch_size != 0 or not 0 < frames <= config.context_frames:
            raise ParameterError(
                f"model input has {frames} frames; use a multiple of patch_size "
                f"{config.patch_size} up to context_frames {config.context_frames} "
                "(pad the window with liveify.mel.SILENT_LEVEL)"
            )

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if not (torch.jit.is_tracing() or torch.compiler.is_compiling()):
            self.check_input(mel)
        batch = mel.shape[0]
        patch, dim = self.config.patch_size, self.config.embed_dim

        patches = self.patch_embed(mel)  # (B, D, F', T')
        freq_patches, time_patches = patches.shape[2], patches.shape[3]
        position = torch.cat(
            [
                self.pos_embed_freq.expand(1, freq_patches, time_patches, dim // 2),
                self.pos_embed_time[:, :, :time_patches].expand(
                    1, freq_patches, time_patches, dim // 2
                ),
            ],
            dim=-1,
        )  # (1, F', T', D)
        tokens = patches.permute(0, 2, 3, 1) + position  # (B, F', T', D)
        tokens = tokens.transpose(1, 2).reshape(batch, time_patches * freq_patches, dim)
        tokens = torch.cat([self.cls_token.expand(batch, 1, dim), tokens], dim=1)
        tokens = self.dropout(tokens)

        for block in self.encoder:
            tokens = block(tokens)
        tokens = self.recurrent(tokens)
        for block in self.decoder:
            tokens = block(tokens)

        pixels = self.reconstruct(self.norm(tokens[:, 1:]))  # (B, T'*F', p*p)
        pixels = pixels.reshape(batch, time_patches, freq_patches, patch, patch)
        # fold back: (B, T', F', p_f, p_t) -> (B, 1, F'*p_f, T'*p_t)
        mel_out = pixels.permute(0, 2, 3, 1, 4).reshape(
            batch, 1, freq_patches * patch, time_patches * patch
        )
        return torch.tanh(mel_out)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def flops_per_window(config: ModelConfig, frames: int | None = None) -> int:
    """Analytic FLOPs of one forward pass on one window (batch 1).

    Counts 2 x multiply-accumulates of every matrix product: the patch convolution, the QKV /
    output / MLP / reconstruction linears, attention scores and weighted values, and the GRU's
    input and recurrent products (3 gates per step, per direction, per layer). Norms, softmax,
    activations, biases and the GRU's gate arithmetic are left out (< 1 % at the default size).
    """
    frames = config.context_frames if frames is None else frames
    dim, patch = config.embed_dim, config.patch_size
    n_patches = (config.n_mels // patch) * (frames // patch)
    n_tokens = n_patches + 1  # with the CLS token
    hidden = int(dim * config.mlp_ratio)

    macs = n_patches * patch * patch * dim  # patch embedding
    per_block = n_tokens * (3 * dim * dim + dim * dim + 2 * dim * hidden)  # linears
    per_block += 2 * n_tokens * n_tokens * dim  # Q K^T and A V
    macs += 2 * config.num_transformer_layers * per_block
    directions = 2 if config.gru_bidirectional else 1
    gru_hidden = config.gru_hidden
    for layer in range(config.gru_layers):
        input_size = dim if layer == 0 else gru_hidden * directions
        macs += directions * n_tokens * 3 * (input_size + gru_hidden) * gru_hidden
    macs += n_patches * dim * patch * patch  # patch reconstruction
    return 2 * macs


# --- checkpoints ---------------------------------------------------------------------------------


def save_checkpoint(
    path: str | os.PathLike,
    model: LiveifyModel,
    config: ModelConfig | None = None,
    extra: dict | None = None,
) -> Path:
    """Write a plain checkpoint `{"model_config", "state_dict", **extra}` atomically.

    `extra` holds plain data only (dicts, lists, strings, numbers, tensors) so the file loads
    with `weights_only=True`; by convention `mel_config` (a `MelConfig.to_dict()`) and
    `training_info` (songs, epochs, val_loss, ...).
    """
    path = Path(path)
    config = model.config if config is None else config
    extra = dict(extra or {})
    reserved = {"model_config", "state_dict"} & set(extra)
    if reserved:
        raise ParameterError(f"extra must not contain {sorted(reserved)}; they are written here")
    for key, value in extra.items():
        if hasattr(value, "to_dict"):
            extra[key] = value.to_dict()
    payload = {"model_config": config.to_dict(), "state_dict": model.state_dict(), **extra}
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)
    return path


def _lightning_training_info(checkpoint: dict) -> dict:
    """Epoch, step, best validation loss and any extra hyper-parameters of a Lightning file."""
    info = {key: checkpoint[key] for key in ("epoch", "global_step") if key in checkpoint}
    for key, state in (checkpoint.get("callbacks") or {}).items():
        if "ModelCheckpoint" in str(key) and isinstance(state, dict):
            score = state.get("best_model_score")
            if score is not None:
                info["best_score"] = float(score)
                info["monitor"] = str(state.get("monitor"))
    hyper = dict(checkpoint.get("hyper_parameters") or {})
    for key, value in hyper.items():
        if key not in ("model_config", "mel_config"):
            info[key] = value
    return info


def load_checkpoint(path: str | os.PathLike) -> tuple[LiveifyModel, ModelConfig, dict]:
    """Load a Lightning checkpoint or a plain `.pt` into an eval-mode `LiveifyModel`.

    Loads with `torch.load(..., weights_only=True)`: files holding arbitrary pickled objects are
    refused. Returns the model, its config and `info` with keys `format` ("lightning"/"plain"),
    `mel_config` (dict or None) and `training_info` (dict).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: checkpoint not found; pass a .ckpt or .pt file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError, zip errors, ... all mean "not usable"
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise ModelFileError(
            f"{path}: cannot load as a weights-only torch checkpoint ({first_line}); "
            "save plain tensors and dicts (liveify.model.save_checkpoint)"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ModelFileError(f"{path}: not a Liveify checkpoint (no state_dict)")

    if "hyper_parameters" in checkpoint:
        hyper = checkpoint["hyper_parameters"] or {}
        model_config = hyper.get("model_config")
        mel_config = hyper.get("mel_config")
        prefix = "model."
        state_dict = {
            key[len(prefix) :]: value
            for key, value in checkpoint["state_dict"].items()
            if key.startswith(prefix)
        }
        info = {"format": "lightning", "training_info": _lightning_training_info(checkpoint)}
    else:
        model_config = checkpoint.get("model_config")
        mel_config = checkpoint.get("mel_config")
        state_dict = checkpoint["state_dict"]
        info = {"format": "plain", "training_info": dict(checkpoint.get("training_info") or {})}
    if not isinstance(model_config, dict):
        raise ModelFileError(
            f"{path}: no model_config in the checkpoint; train with liveify train or save with "
            "liveify.model.save_checkpoint"
        )
    try:
        config = ModelConfig.from_dict(model_config)
    except ParameterError as error:
        raise ModelFileError(f"{path}: bad model_config ({error})") from None
    model = LiveifyModel(config)
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0]
        raise ModelFileError(f"{path}: weights do not match model_config ({first_line})") from None
    model.eval()
    info["mel_config"] = dict(mel_config) if isinstance(mel_config, dict) else None
    return model, config, info


def default_parameter_summary() -> str:
    """One line with the default model's size and cost, for the README and `--help`."""
    config = ModelConfig()
    model = LiveifyModel(config)
    params = count_parameters(model)
    gflops = flops_per_window(config) / 1e9
    return f"{params / 1e6:.1f} M parameters, {gflops:.1f} GFLOP per {config.context_frames}-frame window"


__all__ = [
    "MLP",
    "LiveifyModel",
    "ModelConfig",
    "RecurrentBlock",
    "SelfAttention",
    "TransformerBlock",
    "count_parameters",
    "flops_per_window",
    "load_checkpoint",
    "save_checkpoint",
]
