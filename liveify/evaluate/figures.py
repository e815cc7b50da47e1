"""Figures of an evaluation: each song's studio, predicted and live mels, and the metric bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liveify.evaluate.metrics import METRICS, SIGNED_METRICS
from liveify.mel import MelConfig


def _pyplot():
    from liveify.errors import require

    matplotlib = require("matplotlib", "train")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_song_mels(
    path: Path,
    *,
    title: str,
    studio: np.ndarray,
    predicted: np.ndarray,
    live: np.ndarray,
    predicted_label: str,
    mel_config: MelConfig,
) -> Path:
    """Studio, predicted and aligned live power mels side by side, in dB, as a PNG."""
    plt = _pyplot()
    panels = [
        ("studio", studio),
        (f"predicted: {predicted_label}", predicted),
        ("live (aligned)", live),
    ]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4), sharey=True, constrained_layout=True)
    image = None
    for axis, (label, power) in zip(axes, panels, strict=True):
        level_db = 10.0 * np.log10(np.maximum(power, 1e-30) / mel_config.ref_power)
        duration_s = power.shape[1] * mel_config.frame_duration_s
        image = axis.imshow(
            level_db,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=-mel_config.top_db,
            vmax=0.0,
            extent=(0.0, duration_s, 0, power.shape[0]),
        )
        axis.set_title(label)
        axis.set_xlabel("time (s, studio timeline)")
    axes[0].set_ylabel("mel band")
    figure.colorbar(image, ax=axes, label="dB")
    figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def plot_metric_bars(path: Path, means: dict, rows: list[str], *, title: str) -> Path:
    """One bar chart per metric, a bar per row (absolute values for signed metrics), as a PNG."""
    plt = _pyplot()
    figure, axes = plt.subplots(
        1, len(METRICS), figsize=(4 * len(METRICS), 4), constrained_layout=True
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, (name, (unit, _)) in zip(axes, METRICS.items(), strict=True):
        values = [means[row][name] for row in rows]
        heights = [np.nan if value is None else value for value in values]
        axis.bar(range(len(rows)), heights, color=colours[: len(rows)])
        axis.set_xticks(range(len(rows)), rows, rotation=30, ha="right")
        label = f"|{name}|" if name in SIGNED_METRICS else name
        axis.set_title(f"{label} ({unit})" if unit else label)
    figure.suptitle(f"{title}; lower is better")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path
