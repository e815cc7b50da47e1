"""One training run, as `liveify train` does it: pair and align the folders, split by song, fit
with Lightning into a fresh run folder, report, and optionally export the best checkpoint."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import torch

from liveify.checkpoint import load_checkpoint, new_run_folder, point_latest, run_number
from liveify.errors import DataError, ParameterError
from liveify.mel import MelConfig
from liveify.model import ModelConfig, flops_per_window, size_summary
from liveify.train.datamodule import LiveifyDataModule
from liveify.train.hardware import (
    clamp_num_workers,
    parse_devices,
    resolve_accelerator,
    resolve_precision,
)
from liveify.train.module import (
    TRAINING_FLOPS_PER_FORWARD,
    LiveifyLightningModule,
    check_configs_agree,
)
from liveify.train.options import TrainOptions
from liveify.train.reporting import (
    StderrProgressBar,
    TrainingPace,
    check_logger_installed,
    make_logger,
    measured_throughput,
    quiet_lightning,
    throughput_monitor,
)

logger = logging.getLogger(__name__)


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
    run_dir: Path | None = None
    step_time_s: float | None = None
    stopped_early: bool = False
    accelerator: str = "cpu"
    is_global_zero: bool = True
    export_path: Path | None = None
    export_report: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)


class LatestRunLinks(pl.Callback):
    """Keeps CHECKPOINT_DIR/best.ckpt and last.ckpt naming this run's files as they appear, so
    they always name the newest run's best and last checkpoints."""

    def __init__(self, checkpoint_dir: Path, run_dir: Path):
        self.checkpoint_dir, self.run_dir = checkpoint_dir, run_dir

    def update(self) -> None:
        for name in ("best.ckpt", "last.ckpt"):
            if (self.run_dir / name).is_file():
                point_latest(self.checkpoint_dir, self.run_dir / name)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.update()


def train(
    studio_dir: str | os.PathLike,
    live_dir: str | os.PathLike,
    *,
    model_config: ModelConfig | None = None,
    mel_config: MelConfig | None = None,
    options: TrainOptions | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a model on paired studio/live recordings; return where everything went.

    Pairs and aligns the folders (cached), splits by song, fits with Lightning (early stopping on
    the validation loss) into CHECKPOINT_DIR/version_N/ (best.ckpt, last.ckpt; the folder's
    best.ckpt and last.ckpt then name them), and exports the best checkpoint to ONNX when
    `options.export` is set. With `options.resume`, the checkpoint's model and mel settings are
    used (None here), and given ones must equal them. Notes go to the `liveify.train` logger;
    `progress` shows Lightning's progress bars (stderr).

    Examples
    --------
    >>> result = train("studio/", "live/", model_config=ModelConfig(), mel_config=MelConfig(),
    ...                options=TrainOptions(max_epochs=50, learning_rate=3e-4))  # doctest: +SKIP
    >>> print(format_summary(result))  # doctest: +SKIP
    """
    started = time.perf_counter()
    options = options or TrainOptions()
    check_logger_installed(options.logger)
    notes: list[str] = []

    from lightning.pytorch.utilities import rank_zero_only

    def note(text: str) -> None:
        notes.append(text)
        if rank_zero_only.rank == 0:  # DDP runs this function once per process
            logger.info("note: %s", text)

    if options.resume:
        model_config, mel_config = resumed_configs(
            options.resume,
            model_config and dataclasses.asdict(model_config),
            mel_config and dataclasses.asdict(mel_config),
        )
    model_config = model_config or ModelConfig()
    mel_config = mel_config or MelConfig()
    check_configs_agree(model_config, mel_config)
    accelerator = resolve_accelerator(options.accelerator)
    precision, fallback = resolve_precision(options.precision, accelerator)
    for text in (fallback, clamp_num_workers(options.num_workers)[1]):
        if text:
            note(text)
    if options.learning_rate <= 1e-5:
        note(
            f"learning rate {options.learning_rate:g} is very low for AdamW from scratch; "
            "1e-4 to 5e-4 is typical (the spec's default is kept)"
        )
    if options.development_mode:
        note("development mode: training and validating on the first song pair only")
    if rank_zero_only.rank == 0:
        logger.info("model: %s; %s, %s", size_summary(model_config), accelerator, precision)

    pl.seed_everything(options.seed, workers=True, verbose=False)
    datamodule = LiveifyDataModule(
        studio_dir,
        live_dir,
        mel_config=mel_config,
        batch_size=options.batch_size,
        num_workers=clamp_num_workers(options.num_workers)[0],
        train_split=options.train_split,
        window_overlap=options.window_overlap,
        augment=options.augment,
        seed=options.seed,
        development_mode=options.development_mode,
        prepare_options=_prepare_options(options, accelerator),
        progress=progress,
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
            "development_mode": options.development_mode,
        },
    )
    trainer, callbacks = _trainer(options, accelerator, precision, progress)
    fit_started = time.perf_counter()
    with quiet_lightning():
        trainer.fit(module, datamodule=datamodule, ckpt_path=options.resume)
    fit_time_s = time.perf_counter() - fit_started
    result = _result(trainer, callbacks, datamodule, model_config, accelerator, precision)
    result.fit_time_s, result.notes = fit_time_s, notes
    if trainer.is_global_zero:
        callbacks["links"].update()
    if options.export and trainer.is_global_zero:
        _export(result, options.export)
    result.wall_time_s = time.perf_counter() - started
    return result


def _trainer(options: TrainOptions, accelerator: str, precision: str, progress: bool):
    """The Trainer of a run, writing into a fresh run folder (or the resumed run's folder)."""
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint

    checkpoint_dir = Path(options.checkpoint_dir)
    run_dir = _run_dir(options, checkpoint_dir)
    callbacks = {
        "checkpoints": ModelCheckpoint(
            dirpath=run_dir,
            filename="best",
            monitor="val_loss",
            mode="min",
            save_top_k=1,
            save_last=True,
        ),
        "early_stopping": EarlyStopping(monitor="val_loss", mode="min", patience=options.patience),
        "throughput": throughput_monitor(),
        "pace": TrainingPace(accelerator=accelerator),
        "links": LatestRunLinks(checkpoint_dir, run_dir),
        "learning_rate": LearningRateMonitor(logging_interval="step"),
    }
    if progress:
        callbacks["progress"] = StderrProgressBar()
    with quiet_lightning():  # the Trainer's banners and tips come as it is made
        trainer = pl.Trainer(
            accelerator=accelerator,
            devices=parse_devices(options.devices),
            num_nodes=options.num_nodes,
            strategy=options.strategy,
            precision=precision,
            max_epochs=options.max_epochs,
            accumulate_grad_batches=options.accumulate_grad_batches,
            gradient_clip_val=options.gradient_clip_norm or None,
            callbacks=list(callbacks.values()),
            logger=make_logger(options.logger, options.log_dir, version=run_number(run_dir)),
            log_every_n_steps=1,
            default_root_dir=str(run_dir),
            enable_model_summary=False,
            enable_progress_bar=progress,
        )
    callbacks["run_dir"] = run_dir
    return trainer, callbacks


def _run_dir(options: TrainOptions, checkpoint_dir: Path) -> Path:
    """A resumed run continues in its own folder; a new run gets the next `version_N`, numbered
    past the logger's versions too so the checkpoints and logs of a run share one name."""
    if options.resume:
        resumed = Path(options.resume).resolve().parent
        if resumed.parent == checkpoint_dir.resolve():
            return resumed
    from lightning.pytorch.utilities import rank_zero_only

    if rank_zero_only.rank != 0:  # Lightning hands rank 0's checkpoint folder to every process
        return checkpoint_dir
    log_versions = Path(options.log_dir) / "liveify"
    taken = {path.name for path in log_versions.iterdir()} if log_versions.is_dir() else set()
    return new_run_folder(checkpoint_dir, taken=taken)


def _result(trainer, callbacks, datamodule, model_config, accelerator, precision) -> TrainResult:
    checkpoints = callbacks["checkpoints"]
    best = Path(checkpoints.best_model_path) if checkpoints.best_model_path else None
    last = Path(checkpoints.last_model_path) if checkpoints.last_model_path else None
    score = checkpoints.best_model_score
    device_name = "CPU"
    if accelerator == "cuda":
        device_name = torch.cuda.get_device_name(trainer.strategy.root_device)
    if trainer.world_size > 1:
        device_name = f"{trainer.world_size} x {device_name}"
    flops_per_sample = TRAINING_FLOPS_PER_FORWARD * flops_per_window(model_config)
    speed = measured_throughput(trainer, callbacks["throughput"], flops_per_sample)
    return TrainResult(
        best_checkpoint=best,
        last_checkpoint=last,
        best_val_loss=float(score) if score is not None else None,
        epochs=trainer.current_epoch,
        steps=trainer.global_step,
        wall_time_s=0.0,
        fit_time_s=0.0,
        samples_per_s=speed["samples_per_s"],
        model_tflops_per_s=speed["model_tflops_per_s"],
        flops_utilisation=speed["flops_utilisation"],
        peak_tflops=speed.get("peak_tflops"),
        device=device_name,
        precision=precision,
        train_songs=list(datamodule.train_songs or []),
        val_songs=list(datamodule.val_songs or []),
        train_windows=len(datamodule.train_dataset or []),
        val_windows=len(datamodule.val_dataset or []),
        run_dir=callbacks["run_dir"],
        step_time_s=callbacks["pace"].step_s,
        stopped_early=callbacks["early_stopping"].stopped_epoch > 0,
        accelerator=accelerator,
        is_global_zero=trainer.is_global_zero,
    )


def _export(result: TrainResult, path: str | os.PathLike) -> None:
    from liveify.export import export_checkpoint

    source = result.best_checkpoint or result.last_checkpoint
    if source is None:
        raise DataError("no checkpoint was written, so there is nothing to export")
    report = export_checkpoint(
        source,
        path,
        training_info={
            "epochs": result.epochs,
            "steps": result.steps,
            "best_val_loss": result.best_val_loss,
            "precision": result.precision,
        },
    )
    result.export_path, result.export_report = Path(path), str(report)


def resumed_configs(
    checkpoint: str | os.PathLike,
    model_settings: dict | None = None,
    mel_settings: dict | None = None,
) -> tuple[ModelConfig, MelConfig]:
    """The model and mel configs stored in a checkpoint to resume. Settings asked for (field ->
    value, e.g. the options given on the command line) must equal the stored ones: a mismatch,
    such as another --segment-duration, is a ParameterError naming each setting."""
    _, stored_model, info = load_checkpoint(checkpoint)
    stored_mel = MelConfig.from_dict(info["mel_config"]) if info["mel_config"] else MelConfig()
    differences = [
        f"{key} {value!r} (the checkpoint's: {getattr(stored, key)!r})"
        for settings, stored in ((model_settings, stored_model), (mel_settings, stored_mel))
        for key, value in (settings or {}).items()
        if getattr(stored, key) != value
    ]
    if differences:
        raise ParameterError(
            f"{checkpoint} was trained with other settings than asked for: "
            f"{'; '.join(differences)}; resume with the checkpoint's values, or start a new run"
        )
    return stored_model, stored_mel


def _prepare_options(options: TrainOptions, accelerator: str) -> dict:
    """Keyword arguments for `prepare_pairs`; an unset cache folder keeps the data default."""
    values = {
        "whisper_device": "cuda" if accelerator == "cuda" and options.align == "lyrics" else None,
        "align": options.align,
        "max_align_cost": options.max_align_cost,
        "min_lyric_similarity": options.min_lyric_similarity,
        "whisper_model": options.whisper_model,
        "cache_dir": options.cache_dir,
    }
    return {key: value for key, value in values.items() if value is not None}


def format_summary(result: TrainResult) -> str:
    """The closing report of `liveify train`: loss, epochs, time, speed, and where files are."""

    def number(value, fmt: str, missing: str = "n/a") -> str:
        return missing if value is None else format(value, fmt)

    stopped = " (early stopping)" if result.stopped_early else ""
    lines = [
        "training finished",
        f"  best validation loss  {number(result.best_val_loss, '.4f')}",
        f"  epochs / steps        {result.epochs} / {result.steps}{stopped}",
        f"  wall time             {result.wall_time_s:.1f} s ({result.fit_time_s:.1f} s fitting)",
        f"  songs                 {len(result.train_songs)} train ({result.train_windows} windows), "
        f"{len(result.val_songs)} validation ({result.val_windows} windows)",
        f"  device / precision    {result.device} / {result.precision}",
        f"  training speed        {number(result.samples_per_s, '.1f')} samples/s "
        "(Lightning's ThroughputMonitor; data loading included, validation excluded)",
    ]
    if result.model_tflops_per_s is not None and result.accelerator == "cuda":
        utilisation = (
            f", {100 * result.flops_utilisation:.1f} % model FLOP utilisation of "
            f"{result.peak_tflops:.0f} TFLOP/s peak per GPU"
            if result.flops_utilisation is not None
            else ""
        )
        lines.append(
            f"  model FLOP/s          {result.model_tflops_per_s:.1f} TFLOP/s{utilisation}"
        )
    lines.append(f"  run folder            {result.run_dir or 'none'}")
    lines.append(f"  best checkpoint       {result.best_checkpoint or 'none'}")
    lines.append(f"  last checkpoint       {result.last_checkpoint or 'none'}")
    if result.export_path is not None:
        lines.append(f"  exported model        {result.export_path}")
    return "\n".join(lines)
