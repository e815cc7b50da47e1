"""What a training run tells its user: logs, progress on stderr, the pace of training, throughput.

Lightning's own chatter (advertising tips, device banners, warnings known to be harmless here) is
kept out of the way; what a newcomer needs is printed instead: the model's size, the measured time
per step with the time an epoch will take, and a pointer to the README's CPU recipe when a run on
a CPU would take hours.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ThroughputMonitor, TQDMProgressBar

from liveify.errors import MissingDependencyError, ParameterError

logger = logging.getLogger(__name__)

#: Lightning messages that say nothing about this run: deprecations inside Lightning itself,
#: advice that does not apply (worker counts are clamped to the cores on purpose), and notes on
#: folders that runs share by design.
HARMLESS_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)",
    r".*does not have many workers",
    r".*is smaller than the logging interval",
    r".*Checkpoint directory .* exists and is not empty",
    r".*Precision .* is not supported by the model summary",
)
#: Lightning's info-level loggers: device banners and "Tip:" advertisements.
LIGHTNING_INFO_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
)
#: A CPU run estimated to take longer than this (all epochs) earns the pointer to the README's
#: CPU recipe.
SLOW_CPU_RUN_S = 3600.0
CPU_RECIPE_HINT = (
    "training this model on a CPU will take hours; for a first model in minutes see "
    "'Training on a CPU' in the README (a 0.3 M-parameter model at --precision 32), or train on "
    "a GPU"
)


@contextlib.contextmanager
def quiet_lightning():
    """Silence Lightning's tips, banners and known-harmless warnings for the duration."""
    loggers = [logging.getLogger(name) for name in LIGHTNING_INFO_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in HARMLESS_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class StderrProgressBar(TQDMProgressBar):
    """Lightning's progress bar, on stderr: stdout keeps only the run's closing report."""

    def init_sanity_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_sanity_tqdm()

    def init_train_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_train_tqdm()

    def init_validation_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_validation_tqdm()


def format_duration(seconds: float) -> str:
    """12.3 s, 4.5 min, 2.1 h or 3.2 days: the unit a person would say."""
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 1.5 * size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


class TrainingPace(pl.Callback):
    """Measures the first steps after the warm-up step and prints the time per step and the
    estimated time per epoch and per run; on a CPU, points to the README's CPU recipe when the
    run would take hours.

    Measures at least `min_steps` steps, or as many as fit in `min_seconds`, whichever is fewer
    (at least one), so a slow model reports after its second step.
    """

    def __init__(self, *, accelerator: str, min_steps: int = 5, min_seconds: float = 5.0):
        self.accelerator = accelerator
        self.min_steps = min_steps
        self.min_seconds = min_seconds
        self.step_s: float | None = None
        self._measured = 0
        self._started: float | None = None

    def _now(self, trainer) -> float:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize(trainer.strategy.root_device)
        return time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_index) -> None:
        if self.step_s is not None or trainer.sanity_checking:
            return
        if self._started is None:  # the first step pays for warm-up: measure from its end
            self._started = self._now(trainer)
            return
        self._measured += 1
        elapsed = self._now(trainer) - self._started
        last_of_epoch = batch_index + 1 >= trainer.num_training_batches
        if self._measured >= self.min_steps or elapsed >= self.min_seconds or last_of_epoch:
            self.step_s = elapsed / self._measured
            if trainer.is_global_zero:
                batch_size = getattr(trainer.datamodule, "batch_size", None)
                self._report(trainer, batch_size or int(batch["studio"].shape[0]))

    def _say(self, trainer, line: str) -> None:
        """Print above the progress bar, not into it."""
        bar = trainer.progress_bar_callback
        if isinstance(bar, TQDMProgressBar) and bar.is_enabled:
            bar.print(line, file=sys.stderr)
        else:
            logger.info(line)

    def _report(self, trainer, batch_size: int) -> None:
        batches = trainer.num_training_batches
        epoch_s = self.step_s * batches
        run_s = epoch_s * trainer.max_epochs
        self._say(
            trainer,
            f"time per step {format_duration(self.step_s)} (batch {batch_size}, measured over "
            f"{self._measured} steps): about {format_duration(epoch_s)} per epoch of {batches} "
            f"steps, at most {format_duration(run_s)} for {trainer.max_epochs} epochs "
            "(validation not included; early stopping may end sooner)",
        )
        if self.accelerator == "cpu" and run_s > SLOW_CPU_RUN_S:
            self._say(trainer, f"note: {CPU_RECIPE_HINT}")


def throughput_monitor() -> ThroughputMonitor:
    """Lightning's ThroughputMonitor over training batches (samples/s and, on GPUs it knows,
    model FLOP utilisation from `LiveifyLightningModule.flops_per_batch`), logged every step."""
    return ThroughputMonitor(batch_size_fn=lambda batch: int(batch["studio"].shape[0]))


def measured_throughput(trainer, monitor: ThroughputMonitor, flops_per_sample: int) -> dict:
    """Samples/s over the whole run (warm-up and data loading included, validation excluded)
    from the monitor's logged totals, with model TFLOP/s and the FLOP utilisation of the
    device's peak (per device, where Lightning knows the peak)."""
    metrics = trainer.logged_metrics
    seconds, samples = metrics.get("train/time"), metrics.get("train/samples")
    if not seconds or not samples:
        return {"samples_per_s": None, "model_tflops_per_s": None, "flops_utilisation": None}
    per_device = float(samples) / float(seconds)
    device_flops = flops_per_sample * per_device
    peak = monitor.available_flops
    return {
        "samples_per_s": per_device * trainer.world_size,
        "model_tflops_per_s": device_flops * trainer.world_size / 1e12,
        "flops_utilisation": device_flops / peak if peak else None,
        "peak_tflops": peak / 1e12 if peak else None,
    }


def check_logger_installed(kind: str) -> None:
    """MissingDependencyError naming the extra when the logger's package is not installed."""
    if kind == "wandb":
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise MissingDependencyError(
                "--logger wandb needs wandb; install it with: pip install 'liveify[wandb]'"
            ) from None


def make_logger(kind: str, log_dir: str | os.PathLike, *, version: int | None = None):
    """TensorBoard (default) or Weights & Biases logger writing under `log_dir`, as run
    `version_<version>` (the run folder's number; None: the next free one).

    W&B runs offline unless `WANDB_MODE` is set or an API key is configured, so training never
    blocks on a login prompt; `wandb sync` uploads an offline run later.
    """
    log_dir = Path(log_dir)
    if kind == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=str(log_dir), name="liveify", version=version)
    if kind == "wandb":
        check_logger_installed(kind)
        from lightning.pytorch.loggers import WandbLogger

        offline = "WANDB_MODE" not in os.environ and not os.environ.get("WANDB_API_KEY")
        if offline:
            os.environ["WANDB_MODE"] = "offline"
        log_dir.mkdir(parents=True, exist_ok=True)
        name = None if version is None else f"version_{version}"
        return WandbLogger(project="liveify", save_dir=str(log_dir), name=name, offline=offline)
    raise ParameterError(f"logger {kind!r} is not one of tensorboard, wandb")
