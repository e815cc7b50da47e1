"""The `liveify` command line.

- `app`: the group and what every subcommand shares (one-line errors, exit codes, -v/-q,
  logging, when progress bars show).
- `options`: the album options `render`, `batch` and `eval` share, written once.
- `render`: `render`, `demo`, `presets` (torch-free: they start in a fraction of a second).
- `train`: `train`, `demo-data`, `export`.
- `evaluate`: `eval`.
- `batch`: `batch`, `prepare`.

Commands import their heavy dependencies inside the command function, so `liveify render`
starts without torch, lightning or whisper.
"""

from liveify.cli import batch, evaluate, render, train  # noqa: F401  (each registers its commands)
from liveify.cli.app import main
from liveify.cli.train import run_train_command, train_command

__all__ = ["main", "run_train_command", "train_command"]
