"""Training of the live-conversion model with Lightning.

Modules: `losses` (objective and learning-rate schedule), `module` (the LightningModule),
`datamodule` (aligned songs -> split by song -> windows), `hardware` (accelerator, precision,
devices, workers), `options` (a run's options and the `liveify train` command-line options, both
torch-free), `reporting` (progress, pace, throughput, logs) and `run` (`train()`, which
`liveify train` and `python -m liveify.train` call).

Names are imported on first use, so `liveify.train.options` loads without torch or Lightning.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "live_mel_loss": "losses",
    "spectral_convergence": "losses",
    "WarmupCosine": "losses",
    "warmup_steps_for": "losses",
    "LiveifyLightningModule": "module",
    "check_configs_agree": "module",
    "LiveifyDataModule": "datamodule",
    "TorchWindows": "datamodule",
    "clamp_num_workers": "hardware",
    "parse_devices": "hardware",
    "resolve_accelerator": "hardware",
    "resolve_precision": "hardware",
    "TrainOptions": "options",
    "make_logger": "reporting",
    "TrainResult": "run",
    "format_summary": "run",
    "resumed_configs": "run",
    "train": "run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'liveify.train' has no attribute {name!r}")
    return getattr(importlib.import_module(f"liveify.train.{_EXPORTS[name]}"), name)
