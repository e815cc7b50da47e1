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
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

import lightning.pytorch as pl
from liveify.errors import DataError, MissingDependencyError, ParameterError
from liveify.mel import SILENT_LEVEL, MelConfig
from liveify.model import LiveifyModel, ModelConfig, flops_per_window

if TYPE_CHECKING:
    from collections.abc import Sequence

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
            sync_dist=not on_step,
        )
        for name in ("l1", "spectral_convergence"):
            self.log(
                f"{stage}_{name}",
                losses[name],
                on_step=on_step,
                on_epoch=True,
                batch_size=batch_size,
                sync_dist=not on_step,
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
                {"params": decay, "weight_decay": self.hparams.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
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


def resolve_accelerator(devices: str | int) -> str:
    """`cuda` when a GPU is visible and devices are not explicitly CPU-only, else `cpu`."""
    return "cuda" if torch.cuda.is_available() and str(devices) != "0" else "cpu"


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
