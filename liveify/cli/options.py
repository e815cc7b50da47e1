"""Options that several commands share, each written once: what an album render is made with.

`liveify render`, `liveify batch` and `liveify eval` take them with the same names, defaults and
help, because every album must come out as `liveify render` would make it.
"""

from __future__ import annotations

from pathlib import Path

import click

DEVICE_HELP = (
    "Where the model stage runs: auto (CUDA when ONNX Runtime has it, else the CPU with a "
    "notice), cpu, cuda or cuda:N (an error if CUDA cannot run)."
)


def _apply(function, options):
    for option in reversed(options):
        function = option(function)
    return function


def model_options(function):
    """--model, --no-model, --model-strength and --device."""
    return _apply(function, [
        click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="ONNX model for the learned stage (from `liveify export`). "
                     "Default: the bundled model when the preset uses one."),
        click.option("--no-model", is_flag=True,
                     help="Render the DSP chain only (venue, PA, crowd)."),
        click.option("--model-strength", type=click.FloatRange(0, 1),
                     help="How much of the model's change to apply, 0-1 (0 = none).  "
                     "[default: the preset's]"),
        click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda[:N]",
                     help=DEVICE_HELP),
    ])  # fmt: skip


def output_options(function):
    """--format, --bit-depth, --sample-rate, --target-lufs, --true-peak-ceiling, --no-limiter
    and --seed: what each output file is and how loud."""
    return _apply(function, [
        click.option("--format", "output_format", type=click.Choice(["wav", "flac"]),
                     default="wav", show_default=True),
        click.option("--bit-depth", type=click.Choice(["16", "24", "32f"]), default="24",
                     show_default=True, help="Integer PCM bits, or 32-bit float."),
        click.option("--sample-rate", type=click.IntRange(8000, 384000),
                     help="Output sample rate in Hz. Default: each input's own rate."),
        click.option("--target-lufs", type=click.FloatRange(-40, -5), default=-14.0,
                     show_default=True,
                     help="Album loudness target: one gain for the whole album, then a "
                     "true-peak limiter."),
        click.option("--true-peak-ceiling", "true_peak_ceiling_db", type=click.FloatRange(-24, 0),
                     default=-1.0, show_default=True,
                     help="No output's true peak goes above this (dBTP)."),
        click.option("--no-limiter", is_flag=True,
                     help="Gain only, no limiting: the album gain is lowered where a peak would "
                     "pass the ceiling, so the album may land below its loudness target."),
        seed_option,
    ])  # fmt: skip


seed_option = click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the crowd and venue randomness; same seed, same render.",
)
