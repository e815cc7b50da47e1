"""`ModelConfig`: every hyper-parameter of the ViT-GRU, torch-free.

Checkpoints, ONNX metadata and the `liveify train` options all read it, so it lives apart from
the network (`liveify.model`), which needs torch.

Transformer layers: `num_transformer_layers` is the TOTAL, split around the GRU as the original
specification does (8 -> 4 before + 4 after). An odd total puts the extra layer before the GRU
(7 -> 4 + 3). Files written before this convention stored the count per side; their configs carry
no `layer_convention` key and are read as per side, so they load into the same network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveify.config import DictConfig, Range, setting
from liveify.errors import ParameterError

if TYPE_CHECKING:
    from liveify.mel import MelConfig

#: `layer_convention` of configs written now: `num_transformer_layers` counts both sides.
LAYERS_TOTAL = "total"
#: ... and of configs without the key (written before): it counts the layers on each side.
LAYERS_PER_SIDE = "per_side"
#: The original specification's keyword names for `ModelConfig` fields.
SPEC_KEYWORDS = {"input_fdim": "n_mels", "input_tdim": "context_frames"}


@dataclass
class ModelConfig(DictConfig):
    """Every hyper-parameter of `LiveifyModel`; saved in checkpoints and ONNX metadata.

    The GRU has `embed_dim // 2` hidden units per direction, so its bidirectional output is
    `embed_dim` wide and adds back onto the token stream without a projection. `patch_size` is
    an int (square patches) or a (freq, time) pair; a pair of equal sizes is stored as the int.
    `ModelConfig.from_keywords` also takes the original specification's names.

    Examples
    --------
    >>> config = ModelConfig(embed_dim=384, num_transformer_layers=6)
    >>> config.layers_before_gru, config.layers_after_gru
    (3, 3)
    >>> ModelConfig(patch_size=(16, 16)) == ModelConfig()
    True
    """

    embed_dim: int = setting(
        512, range=Range(4), help="Token width (a multiple of --num-heads and of 4)."
    )
    num_heads: int = setting(8, range=Range(1), help="Attention heads per transformer layer.")
    num_transformer_layers: int = setting(
        8,
        range=Range(0),
        help="Transformer layers in TOTAL, split around the GRU (8 -> 4 + 4; odd: one more before).",
    )
    mlp_ratio: float = setting(
        4.0, range=Range(0, min_open=True), help="MLP width as a multiple of --embed-dim."
    )
    gru_layers: int = setting(2, range=Range(1), help="Bidirectional GRU layers.")
    gru_bidirectional: bool = setting(True, cli=False)
    dropout: float = setting(0.1, range=Range(0, 1, max_open=True), help="Dropout on tokens.")
    attention_dropout: float = setting(
        0.1, range=Range(0, 1, max_open=True), help="Dropout on attention weights."
    )
    patch_size: int | tuple[int, int] = setting(
        16, type=int, help="Square patch size in mel bands and frames (Python: (freq, time))."
    )
    n_mels: int = setting(128, range=Range(1), cli=False)
    context_frames: int = setting(1408, range=Range(1), cli=False)
    #: What `num_transformer_layers` counts. "per_side" (files from before) is turned into the
    #: total on construction, so every config in memory counts the total.
    layer_convention: str = setting(
        LAYERS_TOTAL, choices=(LAYERS_TOTAL, LAYERS_PER_SIDE), cli=False
    )

    def __post_init__(self):
        self.patch_size = _patch_pair_or_int(self.patch_size)
        if self.layer_convention == LAYERS_PER_SIDE and isinstance(
            self.num_transformer_layers, int
        ):
            self.num_transformer_layers *= 2
            self.layer_convention = LAYERS_TOTAL
        self.check_settings(skip=("patch_size",))  # checked and normalised above
        patch_freq, patch_time = self.patch_shape
        checks = {
            "num_heads": (
                self.embed_dim % self.num_heads == 0,
                f"must divide embed_dim {self.embed_dim}",
            ),
            "embed_dim": (
                self.embed_dim % 4 == 0 or not self.gru_bidirectional,
                "must be a multiple of 4 with a bidirectional GRU (embed_dim/2 per direction, "
                "split into frequency/time halves)",
            ),
            "n_mels": (
                self.n_mels % patch_freq == 0,
                f"must be a multiple of the patch's {patch_freq} mel bands",
            ),
            "context_frames": (
                self.context_frames % patch_time == 0,
                f"must be a multiple of the patch's {patch_time} frames "
                "(context_frames = frames per segment x context_length)",
            ),
        }
        for name, (ok, rule) in checks.items():
            if not ok:
                raise ParameterError(f"ModelConfig.{name} = {getattr(self, name)!r} {rule}")

    # -- derived sizes -----------------------------------------------------------------------
    @property
    def patch_shape(self) -> tuple[int, int]:
        """(mel bands, frames) of one patch."""
        if isinstance(self.patch_size, tuple):
            return self.patch_size
        return self.patch_size, self.patch_size

    @property
    def freq_patches(self) -> int:
        return self.n_mels // self.patch_shape[0]

    @property
    def time_patches(self) -> int:
        return self.context_frames // self.patch_shape[1]

    @property
    def gru_hidden(self) -> int:
        return self.embed_dim // 2 if self.gru_bidirectional else self.embed_dim

    @property
    def layers_before_gru(self) -> int:
        return (self.num_transformer_layers + 1) // 2

    @property
    def layers_after_gru(self) -> int:
        return self.num_transformer_layers // 2

    # -- dict round trip ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        if isinstance(self.patch_size, tuple):
            values["patch_size"] = list(self.patch_size)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        """Read a stored config; one without `layer_convention` counts layers per side."""
        return super().from_dict({"layer_convention": LAYERS_PER_SIDE, **values})

    @classmethod
    def from_keywords(cls, **keywords) -> ModelConfig:
        """A config from `ModelConfig` field names or the original specification's keywords.

        `input_fdim` is `n_mels` and `input_tdim` is `context_frames`; `num_transformer_layers`
        is the total, as in the specification.

        >>> config = ModelConfig.from_keywords(input_fdim=128, input_tdim=64, patch_size=(16, 8))
        >>> config.n_mels, config.context_frames, config.patch_shape
        (128, 64, (16, 8))
        """
        known = {field.name for field in dataclasses.fields(cls)}
        values = {}
        for name, value in keywords.items():
            field_name = SPEC_KEYWORDS.get(name, name)
            if field_name not in known:
                spec = ", ".join(SPEC_KEYWORDS)
                raise ParameterError(
                    f"LiveifyModel got an unknown argument {name!r}; use ModelConfig fields "
                    f"({', '.join(sorted(known))}) or the specification's {spec}"
                )
            if field_name in values:
                raise ParameterError(f"LiveifyModel got {name!r} twice (also as {field_name!r})")
            values[field_name] = value
        return cls(**values)


def _patch_pair_or_int(patch_size) -> int | tuple[int, int]:
    """16 or (16, 16) -> 16; (16, 8) -> (16, 8); anything else is a ParameterError."""
    sizes = list(patch_size) if isinstance(patch_size, tuple | list) else [patch_size]
    valid = len(sizes) in (1, 2) and all(
        isinstance(size, int) and not isinstance(size, bool) and size >= 1 for size in sizes
    )
    if not valid:
        raise ParameterError(
            f"ModelConfig.patch_size = {patch_size!r} must be a positive int or a "
            "(freq, time) pair of positive ints"
        )
    if len(sizes) == 1 or sizes[0] == sizes[1]:
        return sizes[0]
    return sizes[0], sizes[1]


def check_configs_agree(model_config: ModelConfig, mel_config: MelConfig) -> None:
    """ParameterError unless the model's input size matches the mel analysis: its window is
    `segment_duration` x `context_length` (0.5 s x 64 -> 22 frames x 64 = 1408 frames)."""
    if model_config.n_mels != mel_config.n_mels:
        raise ParameterError(
            f"the model takes n_mels = {model_config.n_mels} mel bands but the mel settings give "
            f"{mel_config.n_mels}; use the model's n_mels (liveify train: --n-mels "
            f"{model_config.n_mels})"
        )
    if model_config.context_frames != mel_config.context_frames:
        raise ParameterError(
            f"the model's window is context_frames = {model_config.context_frames} frames but "
            f"segment_duration {mel_config.segment_duration:g} s x context_length "
            f"{mel_config.context_length} give "
            f"{mel_config.frames_per_segment} x {mel_config.context_length} = "
            f"{mel_config.context_frames} frames; use the segment settings the model was "
            "trained with"
        )
