"""`liveify batch` and `liveify prepare`: catalogues of albums, training caches, on many workers.

They import nothing heavy at module level: no ray, no numpy, so `liveify --help` stays quick.
The album options are `liveify render`'s own (`cli.options`), because every album must come out
as `liveify render` would make it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from liveify.cli.app import main, progress_option, show_progress
from liveify.cli.options import model_options, output_options


def engine_options(function):
    """--engine, --workers, --address, --max-retries and --shard, shared by batch and prepare."""
    for option in reversed([
        click.option("--engine", type=click.Choice(["local", "ray"]), default="local",
                     show_default=True,
                     help="local: worker processes on this machine; ray: Ray tasks (needs "
                     "pip install 'liveify[ray]')."),
        click.option("-w", "--workers", type=click.IntRange(1, 4096), default=None,
                     help="Tasks at once. local: worker processes [default: the CPU cores]; "
                     "ray: CPUs of the embedded instance, or a cap on tasks in flight on a "
                     "cluster [default: no cap]."),
        click.option("--address", default=None,
                     help="Ray cluster to run on: auto (this machine is a node of a `ray start` "
                     "cluster) or ray://HOST:PORT. Default: an embedded local Ray instance."),
        click.option("--max-retries", type=click.IntRange(0, 100), default=1, show_default=True,
                     help="Attempts added when a worker dies mid-task (killed, out of memory, "
                     "node lost). Errors (a bad file) are not retried."),
        click.option("--shard", default=None, metavar="I/N",
                     help="Only shard I of N (0 <= I < N) of the catalogue, for job arrays: "
                     "N tasks with I = 0..N-1 cover it exactly once."),
    ]):  # fmt: skip
        function = option(function)
    return function


def _engine(engine, workers, address, max_retries, gpus_per_task=0.0):
    from liveify.batch.engine import EngineOptions

    options = EngineOptions(engine=engine, workers=workers, address=address,
                            max_retries=max_retries, gpus_per_task=gpus_per_task)  # fmt: skip
    if engine == "ray":
        from liveify.batch.ray_engine import import_ray

        import_ray()  # a missing extra is one line before any work, not a failure per album
    return options


def _shard(text):
    from liveify.batch.catalog import parse_shard

    return parse_shard(text) if text is not None else None


@main.command("batch")
@click.argument("catalogue", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", "output_root", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="OUTROOT: each album goes to OUTROOT/<album name>/, with its report.json; "
              "OUTROOT/batch-report.json covers them all.")  # fmt: skip
@click.option("-p", "--preset", default="stadium", show_default=True,
              help="Preset of every album (a CSV manifest's preset column overrides it per "
              "album): a bundled name or a .toml file.")  # fmt: skip
@model_options
@output_options
@click.option("--force", is_flag=True,
              help="Render every album again, even outputs made with these settings.")  # fmt: skip
@engine_options
@click.option("--gpus-per-album", type=click.FloatRange(0, 64), default=0.0, show_default=True,
              help="GPUs each album's task takes (0.5: two albums share one), so the model "
              "stage runs on CUDA (needs onnxruntime-gpu on the workers).")  # fmt: skip
@progress_option
def batch_command(catalogue, output_root, preset, model_path, no_model, model_strength, device,
                  output_format, bit_depth, sample_rate, target_lufs, true_peak_ceiling_db,
                  no_limiter, seed, force, engine, workers, address, max_retries, shard,
                  gpus_per_album, progress):  # fmt: skip
    """Render a whole catalogue: every album to OUTROOT/<album>/, one task per album.

    CATALOGUE is a folder of album folders, a text file with one album path per line, or a
    CSV file with the columns album, preset, output (a header row naming them is optional;
    empty cells take the command's --preset and the album folder's name). Each album is
    rendered exactly as `liveify render ALBUM -o OUTROOT/<album>` would: its own album gain
    and report.json. A rerun skips albums already rendered with these settings. An album
    another process is rendering right now is reported as busy and left to it.

    Exit status: 0 when every album is rendered (or busy elsewhere), 1 when one failed, 2 for
    usage errors.

    \b
    Examples:
      liveify batch catalogue/ -o live/ --preset club --workers 4
      liveify batch albums.csv -o live/ --engine ray --address auto
      liveify batch catalogue/ -o live/ --shard $SLURM_ARRAY_TASK_ID/100 --workers 8
    """
    from liveify.batch.album_task import BatchRenderOptions
    from liveify.batch.report import REPORT_NAME, summary_table
    from liveify.batch.runner import run_batch
    from liveify.render import load_render_preset, resolve_model

    shard_range = _shard(shard)
    engine_settings = _engine(engine, workers, address, max_retries, gpus_per_album)
    # A bad preset, model or strength fails once, here, not in every album's task.
    model = resolve_model(model_path, not no_model, load_render_preset(preset, model_strength))
    options = BatchRenderOptions(
        preset=preset, model_path=str(model_path) if model_path else None,
        use_model=not no_model, model_strength=model_strength, device=device,
        output_format=output_format, bit_depth=bit_depth,
        sample_rate=sample_rate, target_lufs=target_lufs,
        true_peak_ceiling_db=true_peak_ceiling_db, limiter=not no_limiter, seed=seed,
        force=force, gpus_per_album=gpus_per_album,
    )  # fmt: skip
    where = f"shard {shard} of " if shard else ""
    click.echo(f"{where}{catalogue} -> {output_root}/ (preset {preset}; {model.note}; "
               f"engine {engine})")  # fmt: skip
    result = run_batch(catalogue, output_root, options, engine_settings, shard=shard_range,
                       progress=show_progress(progress))  # fmt: skip
    for line in summary_table(result.outcomes):
        click.echo(line)
    if result.busy:
        click.echo(f"{len(result.busy)} albums were being rendered by another process; their "
                   "status is theirs to report (rerun to check)", err=True)  # fmt: skip
    click.echo(f"report: {output_root / REPORT_NAME}")
    if result.failed:
        sys.exit(1)


@main.command("prepare")
@click.argument("studio_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("live_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Cache to fill, as given to `liveify train --cache-dir` "
              "[default: ~/.cache/liveify]")  # fmt: skip
@click.option("--n-mels", type=click.IntRange(min=1), default=128, show_default=True,
              help="As `liveify train --n-mels` (part of the cache key).")  # fmt: skip
@click.option("--context-length", type=click.IntRange(min=1), default=64, show_default=True,
              help="As `liveify train --context-length` (part of the cache key).")  # fmt: skip
@engine_options
@progress_option
def prepare_command(studio_dir, live_dir, cache_dir, n_mels, context_length, engine, workers,
                    address, max_retries, shard, progress):  # fmt: skip
    """Fill the training cache: align every studio/live pair in parallel, ready for `train`.

    Pairs STUDIO_DIR and LIVE_DIR by song name and aligns each pair into the cache exactly as
    `liveify train` would (content-keyed .npz files, written atomically), one task per pair, so
    `liveify train` on one node or many starts from a full cache. Give it the --cache-dir,
    --n-mels and --context-length the training will use. Alignment costs are listed; `train`
    applies --max-align-cost to the cached pairs itself.

    \b
    Examples:
      liveify prepare studio/ live/ --workers 8
      liveify prepare studio/ live/ --engine ray --address auto --cache-dir /shared/liveify
      liveify train studio/ live/ --cache-dir /shared/liveify
    """
    from liveify.batch.prepare import PrepareOptions, prepare_summary, run_prepare

    shard_range = _shard(shard)
    engine_settings = _engine(engine, workers, address, max_retries)
    options = PrepareOptions(cache_dir=cache_dir, n_mels=n_mels, context_length=context_length)
    outcomes = run_prepare(studio_dir, live_dir, options, engine_settings, shard=shard_range,
                           progress=show_progress(progress))  # fmt: skip
    for line in prepare_summary(outcomes):
        click.echo(line)
    if any(outcome.status == "failed" for outcome in outcomes):
        sys.exit(1)
