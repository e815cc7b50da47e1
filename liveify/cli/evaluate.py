"""`liveify eval`: renders measured against real live recordings of the same songs."""

from __future__ import annotations

from pathlib import Path

import click

from liveify.cli.app import main, progress_option, show_progress
from liveify.cli.options import model_options, seed_option


@main.command("eval")
@click.argument("studio_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("live_dir", type=click.Path(exists=True, file_okay=False))
@model_options
@click.option(
    "-p",
    "--preset",
    default="stadium",
    show_default=True,
    help="Preset of the DSP-only and model + preset rows (name or .toml path).",
)
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(file_okay=False),
    default="report",
    show_default=True,
    help="Folder for report.json, report.md and figures/.",
)
@click.option(
    "--checkpoint",
    "checkpoint_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Training checkpoint that lists the training songs, if the ONNX file does not.",
)
@click.option(
    "--max-align-cost",
    type=click.FloatRange(min=0, min_open=True),
    help="Reject pairs whose alignment cost is higher.  [default: training's limit]",
)
@click.option(
    "--no-loudness-match",
    is_flag=True,
    help="Compare log-mel and STFT distances at the rows' own levels, not loudness-matched.",
)
@click.option("--no-figures", is_flag=True, help="Skip the PNG figures.")
@seed_option
@progress_option
def eval_command(
    studio_dir,
    live_dir,
    model_path,
    no_model,
    model_strength,
    device,
    preset,
    output_dir,
    checkpoint_path,
    max_align_cost,
    no_loudness_match,
    no_figures,
    seed,
    progress,
):
    """Measure renders against real live recordings of the same songs.

    Songs are paired and aligned as for training. Each is rendered as: identity (studio as is),
    the DSP-only preset, the model only and model + preset, and compared with the live take on
    the aligned timeline: log-mel L1 (dB), multi-resolution STFT distance, loudness difference
    (LU), spectral centroid and bandwidth differences (Hz). Songs the model was trained on are
    marked, and held-out songs are averaged separately.

    \b
    Examples:
      liveify eval studio/ live/ --model model.onnx -o report/
      liveify eval studio/ live/ --no-model --preset arena     # DSP baselines only
      liveify eval studio/ live/ --device cuda                 # the model rows on the GPU
    """
    from liveify.evaluate import METRICS, ROW_LABELS, evaluate

    output_dir = Path(output_dir)

    report = evaluate(
        studio_dir,
        live_dir,
        output_dir,
        model_path=model_path,
        preset=preset,
        use_model=not no_model,
        model_strength=model_strength,
        checkpoint_path=checkpoint_path,
        max_align_cost=max_align_cost,
        seed=seed,
        match_loudness=not no_loudness_match,
        figures=not no_figures,
        progress=show_progress(progress),
        device=device,
    )
    summary = report["summary"]
    group = "held_out" if summary["held_out"]["songs"] else "all"
    click.echo(f"model: {report['model_note']}")
    click.echo(f"mean over {len(summary[group]['songs'])} {group.replace('_', '-')} songs:")
    names = list(METRICS)
    click.echo("  " + "row".ljust(24) + "".join(name.rjust(19) for name in names))
    for row in report["rows"]:
        values = summary[group]["rows"][row]
        cells = "".join(
            ("n/a" if values[name] is None else f"{values[name]:.3f}").rjust(19) for name in names
        )
        click.echo("  " + ROW_LABELS[row].ljust(24) + cells)
    click.echo(f"report: {output_dir / 'report.md'}")
