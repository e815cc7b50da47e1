"""Training of the live-conversion model with Lightning: the LightningModule, the DataModule
of aligned studio/live mel windows, and `train()`, which `liveify train` calls.

Loss: L1 on the normalised mel (`[-1, 1]`, i.e. linear in dB), plus 0.1 x spectral convergence
on mel amplitudes. L1 in the dB domain weighs every part of the 80 dB range alike (as hearing
does) and, unlike L2, is not dominated by frames the alignment got wrong; spectral convergence
(`||A - Â||_F / ||A||_F` per window, amplitudes from the dB values) puts weight back on the loud
bands that carry the music, which a dB-domain loss treats like the noise floor.

Optimiser and schedule: AdamW (betas 0.9/0.999, weight decay 0.05 on matrices only: biases,
norms, positional embeddings and the CLS token are not decayed), gradients clipped to norm 1.
The learning rate rises linearly over the first 5 % of optimiser steps (at most 1000), then
follows a cosine down to 10 % of the peak by the last step of `max_epochs`; warm-up keeps Adam's
early, noisy second-moment estimates from throwing the attention layers off, and the cosine tail
anneals without a hand-tuned step schedule. Early stopping on the validation loss ends runs
sooner; the schedule is stepped per optimiser step, so gradient accumulation is accounted for.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from liveify.data.augment import AugmentConfig
from liveify.errors import DataError, MissingDependencyError, ParameterError
from liveify.mel import MelConfig
from liveify.model import LiveifyModel, ModelConfig, flops_per_window

PRECISION_CHOICES = ("32", "16", "bf16", "16-mixed", "bf16-mixed")
#: Lightning's own reading of the short precision names: "16"/"bf16" mean mixed precision.
_PRECISION_FLAGS = {
    "32": "32-true",
    "16": "16-mixed",
    "bf16": "bf16-mixed",
    "16-mixed": "16-mixed",
    "bf16-mixed": "bf16-mixed",
}
#: Dense bf16/fp16 tensor-core peaks (FLOP/s, no sparsity) used for model FLOP utilisation.
#: Matched on the CUDA device name; unknown devices report achieved TFLOP/s only.
PEAK_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,  # SXM; the PCIe card peaks at 756e12
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10": 125e12,
    "RTX 4090": 165e12,
    "V100": 125e12,
}


# --- loss and schedule ---------------------------------------------------------------------------


def mel_amplitude(normalized: torch.Tensor, top_db: float) -> torch.Tensor:
    """Normalised mel in [-1, 1] -> amplitude relative to the reference (1 at 0 dB)."""
    level_db = (normalized.float() - 1.0) * (top_db / 2.0)
    return torch.pow(10.0, level_db / 20.0)


def spectral_convergence(
    predicted: torch.Tensor, target: torch.Tensor, *, top_db: float
) -> torch.Tensor:
    """Mean over the batch of `||A_target - A_pred||_F / ||A_target||_F` on mel amplitudes."""
    predicted_amp = mel_amplitude(predicted, top_db).flatten(1)
    target_amp = mel_amplitude(target, top_db).flatten(1)
    difference = torch.linalg.vector_norm(target_amp - predicted_amp, dim=1)
    reference = torch.linalg.vector_norm(target_amp, dim=1).clamp_min(1e-6)
    return (difference / reference).mean()


def live_mel_loss(
    predicted: torch.Tensor,
    target: torch.Tensor,
    *,
    top_db: float = 80.0,
    spectral_convergence_weight: float = 0.1,
) -> dict[str, torch.Tensor]:
    """Training loss: L1 on the normalised mel + weight x spectral convergence.

    Returns a dict with `loss` (what is optimised), `l1` and `spectral_convergence`, all computed
    in float32 whatever the autocast precision.
    """
    l1 = torch.nn.functional.l1_loss(predicted.float(), target.float())
    convergence = spectral_convergence(predicted, target, top_db=top_db)
    return {
        "loss": l1 + spectral_convergence_weight * convergence,
        "l1": l1,
        "spectral_convergence": convergence,
    }


@dataclass
class WarmupCosine:
    """Learning-rate factor per optimiser step: linear warm-up, then cosine to `final_ratio`.

    A callable object (not a lambda) so LambdaLR's state dict, and so the checkpoint, holds plain
    numbers and loads with `weights_only=True`.
    """

    warmup_steps: int
    total_steps: int
    final_ratio: float = 0.1

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        decay_steps = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / decay_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.final_ratio + (1.0 - self.final_ratio) * cosine


def warmup_steps_for(
    total_steps: int, warmup_fraction: float = 0.05, max_warmup: int = 1000
) -> int:
    """Warm-up length: `warmup_fraction` of the run, at least 1 and at most `max_warmup` steps."""
    return max(1, min(max_warmup, round(warmup_fraction * total_steps)))


# --- the LightningModule -------------------------------------------------------------------------


class LiveifyLightningModule(pl.LightningModule):
    """`LiveifyModel` (attribute `model`) with its loss, optimiser, schedule and logging.

    Hyper-parameters (saved in every checkpoint, read back by `liveify.model.load_checkpoint`):
    `model_config` and `mel_config` as dicts, the optimiser settings, and, once the data module
    has split the songs, `train_songs` / `val_songs`.

    Examples
    --------
    >>> module = LiveifyLightningModule(ModelConfig(embed_dim=32, num_heads=2, n_mels=32,
    ...     context_frames=88, patch_size=8), MelConfig(n_mels=32, context_length=4))
    >>> trainer = pl.Trainer(max_epochs=2)  # doctest: +SKIP
    >>> trainer.fit(module, datamodule=LiveifyDataModule(...))  # doctest: +SKIP
    """

    def __init__(
        self,
        model_config: ModelConfig | dict,
        mel_config: MelConfig | dict,
        *,
        learning_rate: float = 1e-6,
        weight_decay: float = 0.05,
        warmup_fraction: float = 0.05,
        final_lr_ratio: float = 0.1,
        spectral_convergence_weight: float = 0.1,
        total_steps: int | None = None,
        extra_hyperparameters: dict | None = None,
    ):
        super().__init__()
        if isinstance(model_config, dict):
            model_config = ModelConfig.from_dict(model_config)
        if isinstance(mel_config, dict):
            mel_config = MelConfig.from_dict(mel_config)
        check_configs_agree(model_config, mel_config)
        if not learning_rate > 0:
            raise ParameterError(f"learning_rate must be > 0; got {learning_rate}")
        self.save_hyperparameters(
            {
                "model_config": model_config.to_dict(),
                "mel_config": mel_config.to_dict(),
                "learning_rate": float(learning_rate),
                "weight_decay": float(weight_decay),
                "warmup_fraction": float(warmup_fraction),
                "final_lr_ratio": float(final_lr_ratio),
                "spectral_convergence_weight": float(spectral_convergence_weight),
                "total_steps": total_steps,
                **(extra_hyperparameters or {}),
            }
        )
        self.model_config = model_config
        self.mel_config = mel_config
        self.model = LiveifyModel(model_config)

    def forward(self, studio_mel: torch.Tensor) -> torch.Tensor:
        return self.model(studio_mel)

    def setup(self, stage: str) -> None:
        # The data module is set up first; record its split so checkpoints say what was seen.
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        if datamodule is not None and getattr(datamodule, "train_songs", None) is not None:
            self.hparams["train_songs"] = list(datamodule.train_songs)
            self.hparams["val_songs"] = list(datamodule.val_songs)

    def on_train_epoch_start(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "set_epoch"):
            datamodule.set_epoch(self.current_epoch)

    def _shared_step(self, batch: dict, stage: str) -> torch.Tensor:
        studio, live = batch["studio"], batch["live"]
        predicted = self.model(studio)
        losses = live_mel_loss(
            predicted,
            live,
            top_db=self.mel_config.top_db,
            spectral_convergence_weight=self.hparams.spectral_convergence_weight,
        )
        batch_size = studio.shape[0]
        on_step = stage == "train"
        self.log(
            f"{stage}_loss",
            losses["loss"],
            on_step=on_step,
            on_epoch=True,
            prog_bar=True,
            batch_size=batch_size,
            sync_dist=True,
        )
        for name in ("l1", "spectral_convergence"):
            self.log(
                f"{stage}_{name}",
                losses[name],
                on_step=on_step,
                on_epoch=True,
                batch_size=batch_size,
                sync_dist=True,
            )
        return losses["loss"]

    def training_step(self, batch: dict, batch_index: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: dict, batch_index: int) -> torch.Tensor:
        return self._shared_step(batch, "val")

    def on_before_optimizer_step(self, optimizer) -> None:
        # Before clipping and after AMP unscaling, so this is the true gradient norm.
        from lightning.pytorch.utilities import grad_norm

        norms = grad_norm(self.model, norm_type=2)
        if norms:
            self.log("grad_norm", norms["grad_2.0_norm_total"], on_step=True, on_epoch=False)

    def configure_optimizers(self):
        decay, no_decay = [], []
        for name, parameter in self.model.named_parameters():
            if not parameter.requires_grad:
                continue
            # Matrices and conv kernels decay; biases, norms, embeddings and the CLS token don't.
            if parameter.ndim >= 2 and not name.startswith(("pos_embed", "cls_token")):
                decay.append(parameter)
            else:
                no_decay.append(parameter)
        optimizer = torch.optim.AdamW(
            [
                # named groups: LearningRateMonitor logs lr-AdamW/decay and lr-AdamW/no_decay
                {"params": decay, "weight_decay": self.hparams.weight_decay, "name": "decay"},
                {"params": no_decay, "weight_decay": 0.0, "name": "no_decay"},
            ],
            lr=self.hparams.learning_rate,
            betas=(0.9, 0.999),
        )
        total_steps = self.hparams.total_steps
        if total_steps is None:
            total_steps = int(self.trainer.estimated_stepping_batches)
        total_steps = max(1, total_steps)
        schedule = WarmupCosine(
            warmup_steps=warmup_steps_for(total_steps, self.hparams.warmup_fraction),
            total_steps=total_steps,
            final_ratio=self.hparams.final_lr_ratio,
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1},
        }


def check_configs_agree(model_config: ModelConfig, mel_config: MelConfig) -> None:
    """Raise ParameterError unless the model's input size matches the mel analysis."""
    if model_config.n_mels != mel_config.n_mels:
        raise ParameterError(
            f"model n_mels {model_config.n_mels} differs from the mel config's {mel_config.n_mels}"
        )
    if model_config.context_frames != mel_config.context_frames:
        raise ParameterError(
            f"model context_frames {model_config.context_frames} differs from the mel config's "
            f"{mel_config.context_frames} (frames_per_segment x context_length)"
        )


# --- hardware settings ---------------------------------------------------------------------------


def resolve_precision(precision: str, accelerator: str) -> tuple[str, str | None]:
    """Lightning precision flag for `precision` on `accelerator`, and a note if it fell back.

    "16" and "bf16" mean mixed precision, as in Lightning. fp16 autocast does not exist on CPU
    (-> bf16-mixed); GPUs without bf16 (before Ampere) get 16-mixed instead of bf16.
    """
    if precision not in _PRECISION_FLAGS:
        raise ParameterError(
            f"precision {precision!r} is not one of {', '.join(PRECISION_CHOICES)}"
        )
    flag = _PRECISION_FLAGS[precision]
    if accelerator == "cpu" and flag == "16-mixed":
        return "bf16-mixed", (
            f"precision {precision} (fp16 autocast) is not available on CPU; using bf16-mixed"
        )
    if accelerator == "cuda" and flag == "bf16-mixed" and not torch.cuda.is_bf16_supported():
        return "16-mixed", (
            f"precision {precision}: this GPU has no bfloat16 support; using 16-mixed"
        )
    return flag, None


def resolve_accelerator(accelerator: str = "auto") -> str:
    """`auto` -> `cuda` when a GPU is visible, else `cpu`; `cpu`/`cuda` are checked."""
    if accelerator == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if accelerator == "cuda" and not torch.cuda.is_available():
        raise ParameterError("accelerator cuda: no CUDA device is visible; use --accelerator cpu")
    if accelerator not in ("cpu", "cuda"):
        raise ParameterError(f"accelerator {accelerator!r} is not one of auto, cpu, cuda")
    return accelerator


def clamp_num_workers(num_workers: int) -> tuple[int, str | None]:
    """Data-loader workers, at most the CPU cores this process may use, with a note if clamped."""
    if num_workers < 0:
        raise ParameterError(f"num_workers must be >= 0; got {num_workers}")
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    if num_workers > cores:
        return cores, f"num_workers {num_workers} > {cores} CPU cores; using {cores}"
    return num_workers, None


def peak_flops(device_name: str) -> float | None:
    """Dense bf16 peak FLOP/s of a CUDA device from `PEAK_FLOPS`, or None if unknown."""
    for key, value in PEAK_FLOPS.items():
        if key.lower() in device_name.lower():
            return value
    return None


def make_logger(kind: str, log_dir: str | os.PathLike, *, run_name: str | None = None):
    """TensorBoard (default) or Weights & Biases logger writing under `log_dir`.

    W&B runs offline unless `WANDB_MODE` is set or an API key is configured, so training never
    blocks on a login prompt; `wandb sync` uploads an offline run later.
    """
    log_dir = Path(log_dir)
    if kind == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=str(log_dir), name="liveify", version=run_name)
    if kind == "wandb":
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise MissingDependencyError(
                "--logger wandb needs wandb; install it with: pip install 'liveify[wandb]'"
            ) from None
        from lightning.pytorch.loggers import WandbLogger

        offline = "WANDB_MODE" not in os.environ and not os.environ.get("WANDB_API_KEY")
        if offline:
            os.environ["WANDB_MODE"] = "offline"
        log_dir.mkdir(parents=True, exist_ok=True)
        return WandbLogger(project="liveify", save_dir=str(log_dir), name=run_name, offline=offline)
    raise ParameterError(f"logger {kind!r} is not one of tensorboard, wandb")


class ThroughputMonitor(pl.Callback):
    """Training samples/s (forward, backward and optimiser time; no data loading, no validation)
    and, on CUDA, model FLOP utilisation against `PEAK_FLOPS`.

    The first training batch of the run is left out: it pays for allocator warm-up and kernels
    being chosen, not for training.
    """

    def __init__(self, flops_per_sample: int):
        self.flops_per_sample = flops_per_sample
        self.samples = 0
        self.seconds = 0.0
        self._batches = 0
        self._started: float | None = None

    def _sync(self, trainer) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize(trainer.strategy.root_device)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_index) -> None:
        self._sync(trainer)
        self._started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_index) -> None:
        self._sync(trainer)
        self._batches += 1
        if self._started is None or self._batches == 1:
            return
        self.seconds += time.perf_counter() - self._started
        self.samples += int(batch["studio"].shape[0]) * trainer.world_size

    @property
    def samples_per_s(self) -> float | None:
        return self.samples / self.seconds if self.seconds > 0 else None

    def model_flops_per_s(self) -> float | None:
        """Achieved model FLOP/s: forward FLOPs x 3 (backward costs about twice the forward)."""
        rate = self.samples_per_s
        return None if rate is None else 3.0 * self.flops_per_sample * rate


# --- data ----------------------------------------------------------------------------------------


class TorchWindows(Dataset):
    """A torch view of `liveify.data.dataset.WindowDataset`: items become dicts of tensors.

    `{"studio": (1, n_mels, T), "live": (1, n_mels, T)}` float32; the default collate stacks
    them into `(B, 1, n_mels, T)` batches.
    """

    def __init__(self, windows):
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict:
        studio, live = self.windows[index]
        return {"studio": torch.from_numpy(studio), "live": torch.from_numpy(live)}

    def set_epoch(self, epoch: int) -> None:
        self.windows.set_epoch(epoch)


class LiveifyDataModule(pl.LightningDataModule):
    """Aligned studio/live songs -> split by song -> fixed context windows for Lightning.

    Windows: every song is cut on the same grid as rendering (`liveify.windows`, 50 % overlap by
    default, the tail padded with the silent level), for training and validation alike. Fixed
    windows rather than random crops keep validation exactly repeatable and teach the model the
    padded song ends it meets at render time; with 50 % overlap every frame is seen at two
    positions in the window, so content is not tied to one position embedding.

    Augmentation (SpecAugment + noise, `liveify.data.augment`) applies to training windows only,
    drawn from a generator seeded by (seed, epoch, window), so results do not depend on the number
    of workers; validation windows are never augmented.

    Preparation (pairing, alignment) runs in `prepare_data`, once per node, and fills the cache;
    `setup` on every process then loads from that cache. Pass `prepared` (a `PreparedData`) to
    skip preparation.

    Examples
    --------
    >>> datamodule = LiveifyDataModule("studio/", "live/", mel_config=MelConfig())
    >>> trainer.fit(module, datamodule=datamodule)  # doctest: +SKIP
    """

    def __init__(
        self,
        studio_dir: str | os.PathLike | None = None,
        live_dir: str | os.PathLike | None = None,
        *,
        mel_config: MelConfig,
        prepared=None,
        batch_size: int = 8,
        num_workers: int = 0,
        train_split: float = 0.8,
        window_overlap: float = 0.5,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        prepare_options: dict | None = None,
        echo=print,
    ):
        super().__init__()
        if prepared is None and (studio_dir is None or live_dir is None):
            raise ParameterError("pass studio_dir and live_dir, or prepared data")
        self.studio_dir, self.live_dir = studio_dir, live_dir
        self.mel_config = mel_config
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.train_split = train_split
        self.window_overlap = window_overlap
        self.augment = augment
        self.seed = seed
        self.prepare_options = dict(prepare_options or {})
        self.echo = echo
        self._prepared = prepared
        self.train_songs: list[str] | None = None
        self.val_songs: list[str] | None = None
        self.train_dataset: TorchWindows | None = None
        self.val_dataset: TorchWindows | None = None

    def _prepare(self, *, verbose: bool):
        from liveify.data.dataset import prepare_pairs

        prepared = prepare_pairs(
            self.studio_dir,
            self.live_dir,
            mel_config=self.mel_config,
            progress=verbose,
            log=self.echo if verbose else None,
            **self.prepare_options,
        )
        if verbose:
            self.echo(prepared.summary_lines()[0])
        return prepared

    def prepare_data(self) -> None:
        if self._prepared is None:
            self._prepared = self._prepare(verbose=True)

    def setup(self, stage: str | None = None) -> None:
        from liveify.data.dataset import WindowDataset, split_by_song

        if self.train_dataset is not None:
            return
        if self._prepared is None:  # another process than the one that ran prepare_data
            self._prepared = self._prepare(verbose=False)
        songs = self._prepared.songs
        if len(songs) < 2:
            raise DataError(
                f"training needs at least 2 song pairs (one for validation); got {len(songs)}"
            )
        train_songs, val_songs = split_by_song(songs, self.train_split, self.seed)
        self.train_songs = [song.studio_path.stem for song in train_songs]
        self.val_songs = [song.studio_path.stem for song in val_songs]
        frames = self.mel_config.context_frames
        self.train_dataset = TorchWindows(
            WindowDataset(
                train_songs,
                frames,
                self.window_overlap,
                augment_config=self.augment,
                seed=self.seed,
            )
        )
        self.val_dataset = TorchWindows(
            WindowDataset(val_songs, frames, self.window_overlap, augment_config=None)
        )

    def set_epoch(self, epoch: int) -> None:
        """Fresh augmentation draws each epoch (called by the LightningModule)."""
        if self.train_dataset is not None:
            self.train_dataset.set_epoch(epoch)

    def _loader(self, dataset: TorchWindows, *, shuffle: bool) -> DataLoader:
        on_cuda = self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            pin_memory=on_cuda,
            # Not persistent: workers are forked again each epoch and see the new epoch number.
            persistent_workers=False,
        )

    def train_dataloader(self) -> DataLoader:
        if self.trainer is not None:  # also right after resuming mid-run
            self.set_epoch(self.trainer.current_epoch)
        return self._loader(self.train_dataset, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, shuffle=False)


# --- training run --------------------------------------------------------------------------------


@dataclass
class TrainOptions:
    """Everything `train()` needs besides the model and mel configs (the CLI's options)."""

    batch_size: int = 8
    learning_rate: float = 1e-6
    weight_decay: float = 0.05
    spectral_convergence_weight: float = 0.1
    gradient_clip_norm: float = 1.0
    max_epochs: int = 100
    patience: int = 10
    num_workers: int = 10
    accumulate_grad_batches: int = 1
    precision: str = "bf16-mixed"
    train_split: float = 0.8
    window_overlap: float = 0.5
    development_mode: bool = False
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    align: str = "dtw"
    max_align_cost: float | None = None
    min_lyric_similarity: float | None = None
    whisper_model: str | None = None
    cache_dir: str | None = None
    checkpoint_dir: str = "checkpoints"
    log_dir: str = "logs"
    logger: str = "tensorboard"
    accelerator: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    resume: str | None = None
    seed: int = 0
    export: str | None = None

    def __post_init__(self):
        checks = {
            "batch_size": self.batch_size >= 1,
            "learning_rate": self.learning_rate > 0,
            "max_epochs": self.max_epochs >= 1,
            "patience": self.patience >= 1,
            "accumulate_grad_batches": self.accumulate_grad_batches >= 1,
            "train_split": 0.0 < self.train_split < 1.0,
            "window_overlap": 0.0 <= self.window_overlap < 1.0,
            "num_nodes": self.num_nodes >= 1,
            "gradient_clip_norm": self.gradient_clip_norm >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ParameterError(f"{name} = {getattr(self, name)!r} is out of range")
        if self.precision not in _PRECISION_FLAGS:
            raise ParameterError(
                f"precision {self.precision!r} is not one of {', '.join(PRECISION_CHOICES)}"
            )


@dataclass
class TrainResult:
    """What a training run produced; `format_summary` turns it into the CLI's closing report."""

    best_checkpoint: Path | None
    last_checkpoint: Path | None
    best_val_loss: float | None
    epochs: int
    steps: int
    wall_time_s: float
    fit_time_s: float
    samples_per_s: float | None
    model_tflops_per_s: float | None
    flops_utilisation: float | None
    peak_tflops: float | None
    device: str
    precision: str
    train_songs: list[str]
    val_songs: list[str]
    train_windows: int
    val_windows: int
    accelerator: str = "cpu"
    is_global_zero: bool = True
    export_path: Path | None = None
    export_report: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)


def parse_devices(devices: str | int) -> str | int | list[int]:
    """CLI `--devices`: "auto", a count ("2") or a list of device indices ("0,1")."""
    text = str(devices).strip()
    if text == "auto":
        return "auto"
    try:
        if "," in text:
            return [int(part) for part in text.split(",") if part.strip()]
        count = int(text)
    except ValueError:
        raise ParameterError(
            f"devices {devices!r}: use auto, a count such as 2, or indices such as 0,1"
        ) from None
    if count < 0 and count != -1:
        raise ParameterError(f"devices must be auto, -1 (all), or >= 1; got {devices!r}")
    return count


def train(
    studio_dir: str | os.PathLike,
    live_dir: str | os.PathLike,
    *,
    model_config: ModelConfig,
    mel_config: MelConfig,
    options: TrainOptions | None = None,
    echo=print,
) -> TrainResult:
    """Train a model on paired studio/live recordings; return where everything went.

    Pairs and aligns the folders (cached), splits by song, fits with Lightning (early stopping on
    the validation loss, best and last checkpoints), and exports the best checkpoint to ONNX when
    `options.export` is set. `echo` receives one-line notes (fallbacks, unmatched files).

    Examples
    --------
    >>> result = train("studio/", "live/", model_config=ModelConfig(), mel_config=MelConfig(),
    ...                options=TrainOptions(max_epochs=50, learning_rate=3e-4))  # doctest: +SKIP
    >>> print(format_summary(result))  # doctest: +SKIP
    """
    started = time.perf_counter()
    options = options or TrainOptions()
    check_configs_agree(model_config, mel_config)
    notes: list[str] = []

    from lightning.pytorch.utilities import rank_zero_only

    def note(text: str) -> None:
        notes.append(text)
        if rank_zero_only.rank == 0:  # DDP runs this function once per process
            echo(f"note: {text}")

    accelerator = resolve_accelerator(options.accelerator)
    precision, fallback = resolve_precision(options.precision, accelerator)
    if fallback:
        note(fallback)
    num_workers, clamped = clamp_num_workers(options.num_workers)
    if clamped:
        note(clamped)
    if options.resume:
        model_config, mel_config = _resumed_configs(options.resume, model_config, mel_config, note)
    if options.learning_rate <= 1e-5:
        note(
            f"learning rate {options.learning_rate:g} is very low for AdamW from scratch; "
            "1e-4 to 5e-4 is typical (the spec's default is kept)"
        )

    pl.seed_everything(options.seed, workers=True, verbose=False)
    datamodule = LiveifyDataModule(
        studio_dir,
        live_dir,
        mel_config=mel_config,
        batch_size=options.batch_size,
        num_workers=num_workers,
        train_split=options.train_split,
        window_overlap=options.window_overlap,
        augment=options.augment,
        seed=options.seed,
        prepare_options=_prepare_options(options, accelerator),
        echo=echo,
    )
    module = LiveifyLightningModule(
        model_config,
        mel_config,
        learning_rate=options.learning_rate,
        weight_decay=options.weight_decay,
        spectral_convergence_weight=options.spectral_convergence_weight,
        extra_hyperparameters={
            "batch_size": options.batch_size,
            "accumulate_grad_batches": options.accumulate_grad_batches,
            "precision": precision,
            "seed": options.seed,
            "augment_config": options.augment.to_dict(),
            "align": options.align,
            "window_overlap": options.window_overlap,
        },
    )

    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint

    checkpoint_dir = Path(options.checkpoint_dir)
    checkpoints = ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename="best",
        monitor="val_loss",
        mode="min",
        save_top_k=1,
        save_last=True,
    )
    early_stopping = EarlyStopping(monitor="val_loss", mode="min", patience=options.patience)
    throughput = ThroughputMonitor(flops_per_window(model_config))
    callbacks = [checkpoints, early_stopping, throughput]
    logger = make_logger(options.logger, options.log_dir)
    callbacks.append(LearningRateMonitor(logging_interval="step"))

    development = {}
    if options.development_mode:
        # fast_dev_run would also switch off checkpoints and logging; keep them so --export and
        # the logs can be tried, but run one short epoch.
        development = {"limit_train_batches": 4, "limit_val_batches": 2, "num_sanity_val_steps": 0}
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=parse_devices(options.devices),
        num_nodes=options.num_nodes,
        strategy=options.strategy,
        precision=precision,
        max_epochs=1 if options.development_mode else options.max_epochs,
        accumulate_grad_batches=options.accumulate_grad_batches,
        gradient_clip_val=options.gradient_clip_norm or None,
        callbacks=callbacks,
        logger=logger,
        log_every_n_steps=1,
        default_root_dir=str(checkpoint_dir),
        enable_model_summary=True,
        **development,
    )
    fit_started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=options.resume)
    fit_time_s = time.perf_counter() - fit_started

    best = Path(checkpoints.best_model_path) if checkpoints.best_model_path else None
    last = Path(checkpoints.last_model_path) if checkpoints.last_model_path else None
    best_score = checkpoints.best_model_score
    best_val_loss = float(best_score) if best_score is not None else None

    device_name = "CPU"
    peak = None
    if accelerator == "cuda":
        device_name = torch.cuda.get_device_name(trainer.strategy.root_device)
        peak = peak_flops(device_name)
    world_size = trainer.world_size
    achieved = throughput.model_flops_per_s()
    utilisation = achieved / (peak * world_size) if achieved and peak else None
    if world_size > 1:
        device_name = f"{world_size} x {device_name}"

    result = TrainResult(
        best_checkpoint=best,
        last_checkpoint=last,
        best_val_loss=best_val_loss,
        epochs=trainer.current_epoch,
        steps=trainer.global_step,
        wall_time_s=0.0,
        fit_time_s=fit_time_s,
        samples_per_s=throughput.samples_per_s,
        model_tflops_per_s=achieved / 1e12 if achieved else None,
        flops_utilisation=utilisation,
        peak_tflops=peak / 1e12 if peak else None,
        device=device_name,
        precision=precision,
        train_songs=list(datamodule.train_songs or []),
        val_songs=list(datamodule.val_songs or []),
        train_windows=len(datamodule.train_dataset or []),
        val_windows=len(datamodule.val_dataset or []),
        accelerator=accelerator,
        is_global_zero=trainer.is_global_zero,
        notes=notes,
    )
    if options.export and trainer.is_global_zero:
        source = best or last
        if source is None:
            raise DataError("no checkpoint was written, so there is nothing to export")
        result.export_path, result.export_report = export_trained(
            source, options.export, result=result
        )
    result.wall_time_s = time.perf_counter() - started
    return result


def _resumed_configs(
    checkpoint: str | os.PathLike, model_config: ModelConfig, mel_config: MelConfig, note
) -> tuple[ModelConfig, MelConfig]:
    """The model and mel configs stored in a checkpoint to resume (they win over the options)."""
    from liveify.model import load_checkpoint

    _, stored_model_config, info = load_checkpoint(checkpoint)
    stored_mel_config = (
        MelConfig.from_dict(info["mel_config"]) if info["mel_config"] else mel_config
    )
    if stored_model_config != model_config or stored_mel_config != mel_config:
        note(f"resuming {checkpoint}: using the model and mel settings stored in it")
    return stored_model_config, stored_mel_config


def _prepare_options(options: TrainOptions, accelerator: str) -> dict:
    """Keyword arguments for `prepare_pairs`; unset options keep the data code's defaults."""
    values = {
        "whisper_device": "cuda" if accelerator == "cuda" and options.align == "lyrics" else None,
        "align": options.align,
        "max_align_cost": options.max_align_cost,
        "min_lyric_similarity": options.min_lyric_similarity,
        "whisper_model": options.whisper_model,
        "cache_dir": options.cache_dir,
    }
    return {key: value for key, value in values.items() if value is not None}


def export_trained(
    checkpoint: str | os.PathLike, path: str | os.PathLike, *, result: TrainResult
) -> tuple[Path, str]:
    """Export `checkpoint` to ONNX with the run's songs, epochs and best validation loss."""
    from liveify.export import export_onnx
    from liveify.model import load_checkpoint

    model, _, info = load_checkpoint(checkpoint)
    mel_config = MelConfig.from_dict(info["mel_config"])
    training_info = {
        "train_songs": result.train_songs,
        "val_songs": result.val_songs,
        "epochs": result.epochs,
        "steps": result.steps,
        "best_val_loss": result.best_val_loss,
        "precision": result.precision,
        "checkpoint": Path(checkpoint).name,
    }
    report = export_onnx(model, path, mel_config=mel_config, training_info=training_info)
    return Path(path), str(report)


def format_summary(result: TrainResult) -> str:
    """The closing report of `liveify train`: loss, epochs, time, speed, and where files are."""

    def number(value, fmt: str, missing: str = "n/a") -> str:
        return missing if value is None else format(value, fmt)

    lines = [
        "training finished",
        f"  best validation loss  {number(result.best_val_loss, '.4f')}",
        f"  epochs / steps        {result.epochs} / {result.steps}",
        f"  wall time             {result.wall_time_s:.1f} s ({result.fit_time_s:.1f} s fitting)",
        f"  songs                 {len(result.train_songs)} train ({result.train_windows} windows), "
        f"{len(result.val_songs)} validation ({result.val_windows} windows)",
        f"  device / precision    {result.device} / {result.precision}",
        f"  training speed        {number(result.samples_per_s, '.1f')} samples/s "
        "(forward, backward and optimiser step; data loading and validation excluded)",
    ]
    if result.model_tflops_per_s is not None and result.accelerator == "cuda":
        utilisation = (
            f", {100 * result.flops_utilisation:.1f} % model FLOP utilisation of "
            f"{result.peak_tflops:.0f} TFLOP/s bf16 peak per GPU"
            if result.flops_utilisation is not None
            else ""
        )
        lines.append(
            f"  model FLOP/s          {result.model_tflops_per_s:.1f} TFLOP/s{utilisation}"
        )
    lines.append(f"  best checkpoint       {result.best_checkpoint or 'none'}")
    lines.append(f"  last checkpoint       {result.last_checkpoint or 'none'}")
    if result.export_path is not None:
        lines.append(f"  exported model        {result.export_path}")
    return "\n".join(lines)
