"""The options of a training run, and `liveify train`'s command-line options built from them.

Torch-free, so the CLI can list the options without importing torch. Every option's default,
range and help is written once, on its dataclass field (`TrainOptions` here, `ModelConfig`,
`AugmentConfig`; `MelConfig`'s defaults and checks are its own); `train_params` turns them into
click options that also accept the original specification's underscore spellings, and
`configs_from_values` turns the parsed values back into the configs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from liveify.config import DictConfig, Range, click_params, setting
from liveify.data.augment import AugmentConfig
from liveify.data.dataset import (
    ALIGN_METHODS,
    DEFAULT_MAX_ALIGN_COST,
    DEFAULT_MIN_LYRIC_SIMILARITY,
)
from liveify.data.lyrics import DEFAULT_WHISPER_MODEL
from liveify.errors import ParameterError
from liveify.mel import MelConfig
from liveify.model_config import ModelConfig

PRECISION_CHOICES = ("32", "16", "bf16", "16-mixed", "bf16-mixed")
LOGGERS = ("tensorboard", "wandb")


@dataclass
class TrainOptions(DictConfig):
    """Everything `train()` needs besides the model and mel configs (the CLI's run options)."""

    batch_size: int = setting(8, range=Range(1), help="Windows per batch and device.")
    learning_rate: float = setting(
        1e-6,
        range=Range(0, min_open=True),
        help="Peak AdamW learning rate (warm-up, then cosine decay). The default is the spec's "
        "and very low for training from scratch: 1e-4 to 5e-4 is typical.",
    )
    weight_decay: float = setting(
        0.05, range=Range(0), help="AdamW weight decay on weight matrices."
    )
    spectral_convergence_weight: float = setting(0.1, range=Range(0), cli=False)
    gradient_clip_norm: float = setting(1.0, range=Range(0), cli=False)
    max_epochs: int = setting(100, range=Range(1), help="Most epochs to train.")
    patience: int = setting(
        10, range=Range(1), help="Stop after this many epochs without a better validation loss."
    )
    num_workers: int = setting(
        10, range=Range(0), help="Data-loader worker processes (at most the CPU cores)."
    )
    accumulate_grad_batches: int = setting(1, range=Range(1), help="Batches per optimiser step.")
    precision: str = setting(
        "bf16-mixed",
        choices=PRECISION_CHOICES,
        help="16/bf16 mean mixed precision, as in Lightning; falls back with a note where the "
        "hardware lacks it (16-mixed on CPU -> bf16-mixed).",
    )
    train_split: float = setting(
        0.8,
        range=Range(0, 1, min_open=True, max_open=True),
        help="Share of songs (not windows) for training.",
    )
    window_overlap: float = setting(
        0.5,
        range=Range(0, 1, max_open=True),
        help="Overlap of consecutive context windows within a song.",
    )
    development_mode: bool = setting(
        False,
        help="Train and validate on the first song pair only, for fast iteration.",
    )
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    align: str = setting(
        "dtw",
        choices=ALIGN_METHODS,
        help="dtw: chroma + onset DTW; lyrics: Whisper lyrics anchor the DTW path, and pairs "
        "whose lyrics differ are rejected.",
    )
    max_align_cost: float = setting(
        DEFAULT_MAX_ALIGN_COST,
        range=Range(0, min_open=True),
        help="Reject pairs whose mean DTW cost is higher.",
    )
    min_lyric_similarity: float = setting(
        DEFAULT_MIN_LYRIC_SIMILARITY,
        range=Range(0, 1),
        help="With --align lyrics, reject pairs whose lyrics are less similar.",
    )
    whisper_model: str = setting(
        DEFAULT_WHISPER_MODEL,
        help="Whisper model name or checkpoint path for --align lyrics; weights are never "
        "downloaded here.",
    )
    cache_dir: str | None = setting(
        None,
        type=str,
        path="dir",
        show_default="$LIVEIFY_CACHE_DIR or ~/.cache/liveify",
        help="Cache of aligned pairs and transcripts.",
    )
    checkpoint_dir: str = setting(
        "checkpoints",
        path="dir",
        help="Each run writes version_N/ here; best.ckpt and last.ckpt name the newest run's.",
    )
    log_dir: str = setting("logs", path="dir", help="TensorBoard or W&B logs.")
    logger: str = setting(
        "tensorboard",
        choices=LOGGERS,
        help="wandb needs `pip install 'liveify[wandb]'` and runs offline without an API key.",
    )
    accelerator: str = setting(
        "auto", choices=("auto", "cpu", "cuda"), help="auto: CUDA when a GPU is visible."
    )
    devices: str = setting("auto", help="Devices per node: auto, a count (4) or indices (0,1).")
    num_nodes: int = setting(1, range=Range(1), help="Machines taking part (with --strategy ddp).")
    strategy: str = setting(
        "auto",
        choices=("auto", "ddp", "ddp_spawn"),
        help="ddp for several GPUs or nodes (auto picks it too).",
    )
    resume: str | None = setting(
        None,
        type=str,
        path="file",
        help="Continue a run from its checkpoint (e.g. checkpoints/last.ckpt).",
    )
    seed: int = setting(0, help="Seeds the split, initialisation, shuffling and augmentation.")
    export: str | None = setting(
        None, type=str, path="file", help="Export the best checkpoint to this ONNX file at the end."
    )

    def __post_init__(self):
        self.check_settings()


#: `MelConfig` fields that are `liveify train` options (MelConfig keeps its own defaults and
#: checks; the help is here).
MEL_OPTIONS = {
    "segment_duration": "Seconds per segment; a window is --context-length segments "
    "(0.5 s x 64 = 1408 frames, 32 s).",
    "context_length": "Consecutive segments per context window.",
    "n_mels": "Mel bands (a multiple of --patch-size).",
}
MODEL_OPTIONS = tuple(
    field.name for field in dataclasses.fields(ModelConfig) if field.metadata.get("cli")
)
AUGMENT_OPTIONS = tuple(field.name for field in dataclasses.fields(AugmentConfig))
RUN_OPTIONS = tuple(
    field.name for field in dataclasses.fields(TrainOptions) if field.metadata.get("cli")
)


def train_params() -> list:
    """Every `liveify train` option (click parameters), model and data first."""
    return [
        *click_params(ModelConfig),
        *click_params(MelConfig, help=MEL_OPTIONS),
        *click_params(TrainOptions),
        *click_params(AugmentConfig),
    ]


def configs_from_values(values: dict) -> tuple[ModelConfig, MelConfig, TrainOptions]:
    """The model, mel and run configs from `liveify train`'s parsed option values."""
    mel_config = MelConfig(**{name: values[name] for name in MEL_OPTIONS})
    patch_frames = values["patch_size"]
    if mel_config.context_frames % patch_frames or mel_config.n_mels % patch_frames:
        raise ParameterError(
            f"--segment-duration {mel_config.segment_duration:g} x --context-length "
            f"{mel_config.context_length} give {mel_config.frames_per_segment} x "
            f"{mel_config.context_length} = {mel_config.context_frames} frames and --n-mels is "
            f"{mel_config.n_mels}; both must be multiples of --patch-size {patch_frames}"
        )
    model_config = ModelConfig(
        **{name: values[name] for name in MODEL_OPTIONS},
        n_mels=mel_config.n_mels,
        context_frames=mel_config.context_frames,
    )
    augment = AugmentConfig(**{name: values[name] for name in AUGMENT_OPTIONS})
    options = TrainOptions(**{name: values[name] for name in RUN_OPTIONS}, augment=augment)
    return model_config, mel_config, options
