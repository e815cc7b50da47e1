"""The ViT-GRU network that maps a studio mel window to the live mel of the same music.

Torch only, imported lazily (training and export, never the render path). Read top to bottom:
blocks, the model, then parameter and FLOP counts. The configuration, `ModelConfig`, is torch-free
(`liveify.model_config`); checkpoints are read and written by `liveify.checkpoint`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from liveify.errors import ParameterError
from liveify.model_config import ModelConfig


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

    Patches of `patch_size` become tokens ordered time-major (all frequency patches of the first
    time step, then the next), so the GRU reads the music forwards and backwards in time. T may be
    shorter than `context_frames` (the time positional embedding is cut) but must be a multiple
    of the patch's frames. Build it from a `ModelConfig`, or with the original specification's
    keywords (`input_fdim`, `input_tdim`, `patch_size=(16, 16)`, ...; see
    `ModelConfig.from_keywords`).

    Examples
    --------
    >>> model = LiveifyModel(ModelConfig(embed_dim=32, num_heads=2, num_transformer_layers=2,
    ...                                  n_mels=32, context_frames=64, patch_size=16))
    >>> model(torch.zeros(2, 1, 32, 64)).shape
    torch.Size([2, 1, 32, 64])
    >>> spec_model = LiveifyModel(input_fdim=128, input_tdim=1408, patch_size=(16, 16),
    ...     embed_dim=512, num_transformer_layers=8, num_heads=8, mlp_ratio=4.0, gru_layers=2,
    ...     dropout=0.1, attention_dropout=0.1)   # 8 x 88 = 704 patches, 4 + 4 layers
    """

    def __init__(self, config: ModelConfig | None = None, /, **keywords):
        super().__init__()
        if config is None:
            config = ModelConfig.from_keywords(**keywords)
        elif keywords:
            raise ParameterError(
                f"LiveifyModel takes a ModelConfig or keywords, not both (got {sorted(keywords)})"
            )
        elif not isinstance(config, ModelConfig):
            raise ParameterError(
                f"LiveifyModel's config must be a ModelConfig; got {type(config).__name__}"
            )
        self.config = config
        dim, patch = config.embed_dim, config.patch_shape
        self.patch_embed = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)
        # 2-D positional embedding: a frequency half and a time half, concatenated per token
        self.pos_embed_freq = nn.Parameter(torch.zeros(1, config.freq_patches, 1, dim // 2))
        self.pos_embed_time = nn.Parameter(torch.zeros(1, 1, config.time_patches, dim // 2))
        # Kept for checkpoint compatibility with the spec's ViT; its output is discarded.
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.dropout = nn.Dropout(config.dropout)
        self.encoder = nn.ModuleList(
            TransformerBlock(config) for _ in range(config.layers_before_gru)
        )
        self.recurrent = RecurrentBlock(config)
        self.decoder = nn.ModuleList(
            TransformerBlock(config) for _ in range(config.layers_after_gru)
        )
        self.norm = nn.LayerNorm(dim)
        self.reconstruct = nn.Linear(dim, patch[0] * patch[1])
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
        frames, patch_frames = mel.shape[3], config.patch_shape[1]
        if frames % patch_frames != 0 or not 0 < frames <= config.context_frames:
            raise ParameterError(
                f"model input has {frames} frames; use a multiple of the patch's "
                f"{patch_frames} frames up to context_frames {config.context_frames} "
                "(pad the window with liveify.mel.SILENT_LEVEL)"
            )

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if not (torch.jit.is_tracing() or torch.compiler.is_compiling()):
            self.check_input(mel)
        batch = mel.shape[0]
        (patch_freq, patch_time), dim = self.config.patch_shape, self.config.embed_dim

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

        pixels = self.reconstruct(self.norm(tokens[:, 1:]))  # (B, T'*F', p_f*p_t)
        pixels = pixels.reshape(batch, time_patches, freq_patches, patch_freq, patch_time)
        # fold back: (B, T', F', p_f, p_t) -> (B, 1, F'*p_f, T'*p_t)
        mel_out = pixels.permute(0, 2, 3, 1, 4).reshape(
            batch, 1, freq_patches * patch_freq, time_patches * patch_time
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
    dim, (patch_freq, patch_time) = config.embed_dim, config.patch_shape
    patch_pixels = patch_freq * patch_time
    n_patches = (config.n_mels // patch_freq) * (frames // patch_time)
    n_tokens = n_patches + 1  # with the CLS token
    hidden = int(dim * config.mlp_ratio)

    macs = n_patches * patch_pixels * dim  # patch embedding
    per_block = n_tokens * (3 * dim * dim + dim * dim + 2 * dim * hidden)  # linears
    per_block += 2 * n_tokens * n_tokens * dim  # Q K^T and A V
    macs += config.num_transformer_layers * per_block
    directions = 2 if config.gru_bidirectional else 1
    gru_hidden = config.gru_hidden
    for layer in range(config.gru_layers):
        input_size = dim if layer == 0 else gru_hidden * directions
        macs += directions * n_tokens * 3 * (input_size + gru_hidden) * gru_hidden
    macs += n_patches * dim * patch_pixels  # patch reconstruction
    return 2 * macs


def size_summary(config: ModelConfig) -> str:
    """`27.9 M parameters, 47.3 GFLOP per 1408-frame window` for `config` (built on the meta
    device: no memory for weights is taken)."""
    with torch.device("meta"):
        params = count_parameters(LiveifyModel(config))
    flops = flops_per_window(config)
    size = f"{params / 1e6:.1f} M" if params >= 1e5 else f"{params / 1e3:.1f} k"
    cost = f"{flops / 1e9:.1f} GFLOP" if flops >= 1e8 else f"{flops / 1e6:.1f} MFLOP"
    return f"{size} parameters, {cost} per {config.context_frames}-frame window"


__all__ = [
    "MLP",
    "LiveifyModel",
    "ModelConfig",
    "RecurrentBlock",
    "SelfAttention",
    "TransformerBlock",
    "count_parameters",
    "flops_per_window",
    "size_summary",
]
