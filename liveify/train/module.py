"""`LiveifyLightningModule`: the network with its loss, optimiser, schedule and logging.

Optimiser: AdamW (betas 0.9/0.999, weight decay 0.05 on matrices only: biases, norms, positional
embeddings and the CLS token are not decayed), gradients clipped to norm 1 by the Trainer, the
learning rate following `liveify.train.losses.WarmupCosine` per optimiser step.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch

from liveify.errors import ParameterError
from liveify.mel import MelConfig
from liveify.model import LiveifyModel, ModelConfig, flops_per_window
from liveify.model_config import check_configs_agree
from liveify.train.losses import WarmupCosine, live_mel_loss, warmup_steps_for

#: Training costs about three forward passes per sample (the backward pass about two).
TRAINING_FLOPS_PER_FORWARD = 3


class LiveifyLightningModule(pl.LightningModule):
    """`LiveifyModel` (attribute `model`) with its loss, optimiser, schedule and logging.

    Hyper-parameters (saved in every checkpoint, read back by `liveify.checkpoint`):
    `model_config` and `mel_config` as dicts, the optimiser settings, and, once the data module
    has split the songs, `train_songs` / `val_songs`. `flops_per_batch` (model FLOPs of the last
    training batch) feeds Lightning's `ThroughputMonitor`.

    Examples
    --------
    >>> module = LiveifyLightningModule(ModelConfig(embed_dim=32, num_heads=2, n_mels=32,
    ...     context_frames=88, patch_size=8), MelConfig(n_mels=32, context_length=4))
    >>> from liveify.train import LiveifyDataModule
    >>> trainer = pl.Trainer(max_epochs=2)  # doctest: +SKIP
    >>> trainer.fit(module, datamodule=LiveifyDataModule(...))  # doctest: +SKIP
    """

    def __init__(  # noqa: PLR0913  Lightning saves these keywords as the run's hyperparameters
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
        self._flops_per_sample = TRAINING_FLOPS_PER_FORWARD * flops_per_window(model_config)
        self._last_batch_size = 0

    @property
    def flops_per_batch(self) -> int:
        """Model FLOPs (forward and backward) of the last training batch, for throughput."""
        return self._flops_per_sample * self._last_batch_size

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
        self._last_batch_size = int(batch["studio"].shape[0])
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
