"""Objective evaluation: render baseline and model rows for paired songs, measure them against the
real live recordings on the aligned timeline, and write report.json, report.md and figures.

Where things are: `metrics` (pure functions: arrays in, floats out), `timewarp` (studio time ->
live time), `rows` (the renders compared, through `liveify.render`'s one recipe),
`training_split` (which songs a model was trained on), `report` (means and report.md),
`figures` (PNGs) and `run` (`evaluate`, which does the I/O).
"""

from liveify.evaluate.metrics import (
    METRICS,
    SIGNED_METRICS,
    compare,
    log_magnitude_l1,
    log_mel_l1_db,
    loudness_difference_lu,
    multi_resolution_stft_distance,
    spectral_convergence,
    spectral_shape_difference_hz,
)
from liveify.evaluate.rows import ROW_LABELS, ROWS, render_live, render_row
from liveify.evaluate.run import evaluate
from liveify.evaluate.timewarp import TimeWarp
from liveify.evaluate.training_split import training_songs

__all__ = [
    "METRICS",
    "ROWS",
    "ROW_LABELS",
    "SIGNED_METRICS",
    "TimeWarp",
    "compare",
    "evaluate",
    "log_magnitude_l1",
    "log_mel_l1_db",
    "loudness_difference_lu",
    "multi_resolution_stft_distance",
    "render_live",
    "render_row",
    "spectral_convergence",
    "spectral_shape_difference_hz",
    "training_songs",
]
