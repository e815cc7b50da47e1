"""The `liveify` command line: render albums, manage presets, train, export and evaluate models.

Commands import their heavy dependencies inside the command function, so `liveify render` starts
without torch, lightning or whisper.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import click

from liveify import __version__
from liveify.config import spec_spelling_option_class
from liveify.errors import LiveifyError


class LiveifyGroup(click.Group):
    """A click group that prints LiveifyError as one line (tracebacks only with --verbose)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LiveifyError as error:
            if ctx.params.get("verbose") or (ctx.obj or {}).get("verbose"):
                raise
            click.secho(f"liveify: error: {error}", fg="red", err=True)
            sys.exit(error.exit_code)


@click.group(cls=LiveifyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="liveify")
@click.option("-v", "--verbose", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Turn studio recordings into live-concert versions.

    Exit status: 0 on success, 1 when something failed while running (a bad track, an
    unreadable model, a full disk), 2 for usage errors (a bad option, an unknown preset).

    \b
    Examples:
      liveify demo                              # demo album, rendered live, in seconds
      liveify render album/ --preset stadium    # whole album -> album-live/
      liveify presets list
      liveify train studio/ live/ --export model.onnx
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose


@main.command("render")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-p",
    "--preset",
    default="stadium",
    show_default=True,
    help="Bundled preset name (see `liveify presets list`) or a path to a .toml file.",
)
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder. Default: <album>-live/ beside the album.",
)
@click.option(
    "--model",
    "model_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="ONNX model for the learned stage (from `liveify export`). "
    "Default: the bundled model when the preset uses one.",
)
@click.option("--no-model", is_flag=True, help="Render the DSP chain only (venue, PA, crowd).")
@click.option(
    "--model-strength",
    type=click.FloatRange(0, 1),
    help="How much of the model's change to apply, 0-1 (0 = none).  [default: the preset's]",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["wav", "flac"]),
    default="wav",
    show_default=True,
)
@click.option(
    "--bit-depth",
    type=click.Choice(["16", "24", "32f"]),
    default="24",
    show_default=True,
    help="Integer PCM bits, or 32-bit float.",
)
@click.option(
    "--sample-rate",
    type=click.IntRange(8000, 384000),
    help="Output sample rate in Hz. Default: each input's own rate.",
)
@click.option(
    "--target-lufs",
    type=click.FloatRange(-40, -5),
    default=-14.0,
    show_default=True,
    help="Album loudness target: one gain for the whole album, then a true-peak limiter.",
)
@click.option(
    "--true-peak-ceiling",
    "true_peak_ceiling_db",
    type=click.FloatRange(-24, 0),
    default=-1.0,
    show_default=True,
    help="No output's true peak goes above this (dBTP).",
)
@click.option(
    "--no-limiter",
    is_flag=True,
    help="Gain only, no limiting: the album gain is lowered where a peak would pass the "
    "ceiling, so the album may land below its loudness target.",
)
@click.option(
    "--concert",
    "concert_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the whole set as one continuous file, crowd bridging the songs.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Tracks rendered in parallel.",
)
@click.option(
    "--force", is_flag=True, help="Re-render every track, even outputs made with these settings."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan (the recipe stage by stage, each track's output and whether it is "
    "rendered or kept) and stop; writes nothing.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the crowd and venue randomness; same seed, same render.",
)
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def render_command(
    inputs,
    preset,
    output_dir,
    model_path,
    no_model,
    model_strength,
    output_format,
    bit_depth,
    sample_rate,
    target_lufs,
    true_peak_ceiling_db,
    no_limiter,
    concert_path,
    jobs,
    force,
    dry_run,
    seed,
    no_progress,
):
    """Render albums, files or .m3u playlists as live-concert versions.

    Tracks of a folder are taken in natural order ("2 x" before "10 x"); a playlist gives its
    own order; hidden files (".x", macOS "._x") are skipped. A rerun keeps the outputs made with
    the same settings (preset content, model, loudness, format, seed, input file; recorded in
    OUTDIR/report.json) and renders the rest again. A bad track is reported and the album goes
    on; the exit code is then 1.

    \b
    Examples:
      liveify render album/ --preset stadium
      liveify render album/ -p club -o club-night/ --format flac --bit-depth 16
      liveify render setlist.m3u --concert live-set.wav --jobs 2
      liveify render song.wav --no-model --preset my-venue.toml --dry-run
    """
    from liveify.presets import load_preset
    from liveify.render import RenderSettings, collect_tracks, default_output_dir, resolve_model

    loaded_preset = load_preset(preset)
    if model_strength is not None:  # part of the preset, so resume sees a changed strength
        loaded_preset = dataclasses.replace(loaded_preset, model_strength=model_strength)
    selection = collect_tracks(inputs)
    settings = RenderSettings(
        preset=loaded_preset,
        output_dir=output_dir or default_output_dir(inputs),
        output_format=output_format,
        bit_depth=bit_depth,
        sample_rate=sample_rate,
        target_lufs=target_lufs,
        true_peak_ceiling_db=true_peak_ceiling_db,
        limiter=not no_limiter,
        jobs=jobs,
        force=force,
        seed=seed,
        concert_path=concert_path,
        progress=not no_progress,
    )
    model = resolve_model(model_path, not no_model, loaded_preset)
    source = f" (from {loaded_preset.file})" if loaded_preset.file else ""
    click.echo(f"preset {loaded_preset.name}{source}: {loaded_preset.description}")
    click.echo(f"model: {model.note}")
    if dry_run:
        _print_plan(selection, settings, model)
        return
    from liveify.render import render_album

    report = render_album(
        selection.tracks, settings, model, log=lambda line: click.echo(line, err=True)
    )
    _print_summary(report, settings.output_dir)
    if any(track["status"] == "error" for track in report["tracks"]):
        sys.exit(1)


def _print_plan(selection, settings, model) -> None:
    """`render --dry-run`: the recipe, every track's fate, the ignored files; writes nothing."""
    from liveify.render.plan import plan_outputs, settings_id, settings_record
    from liveify.render.recipe import describe_chain
    from liveify.render.workspace import read_report

    for line in describe_chain(settings.preset, model, target_lufs=settings.target_lufs,
                               ceiling_db=settings.true_peak_ceiling_db,
                               limiter=settings.limiter):  # fmt: skip
        click.echo(line)
    record = settings_record(settings, model.sha256)
    results = plan_outputs(selection.tracks, settings, record, read_report(settings.output_dir))
    click.echo(f"tracks -> {settings.output_dir}/ (settings {settings_id(record)}):")
    for result in results:
        action = "keep" if result.status == "skipped" else "render"
        click.echo(f"  {action:6s} {result.input} -> {Path(result.output).name}  ({result.reason})")
    for path in selection.ignored:
        click.echo(f"  ignore {path}  (hidden file)")
    click.echo(
        f"{len(results)} tracks; loudness target {settings.target_lufs:g} LUFS; nothing written"
    )


def _print_summary(report: dict, output_dir: Path) -> None:
    rows = [("track", "status", "audio s", "render s", "x real time", "LUFS", "dBTP", "limited dB")]
    for track in report["tracks"]:
        duration, seconds = track["duration_s"], track["seconds"]
        speed = f"{duration / seconds:.1f}" if duration and seconds else ""
        rows.append(
            (
                Path(track["input"]).name[:40],
                track["status"],
                f"{duration:.1f}" if duration else "",
                f"{seconds:.1f}" if seconds else "",
                speed,
                "" if track["lufs"] is None else f"{track['lufs']:.1f}",
                "" if track["true_peak_db"] is None else f"{track['true_peak_db']:.1f}",
                ""
                if not track.get("max_gain_reduction_db")
                else f"{track['max_gain_reduction_db']:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    loudness = report["loudness"]
    if loudness.get("gain_db") is not None:
        note = " (limited by the true-peak ceiling)" if loudness.get("limited_by_true_peak") else ""
        measured = loudness.get("album_lufs")
        album = f"; album {measured:.1f} LUFS" if measured is not None else ""
        click.echo(f"album gain {loudness['gain_db']:+.2f} dB{note}{album}")
        for hot in loudness.get("hot_tracks", []):
            click.echo(f"hot track turned down {-hot['trim_db']:.1f} dB: {hot['input']}")
    failed = [t for t in report["tracks"] if t["status"] == "error"]
    for track in failed:
        click.echo(f"failed: {track['error']}", err=True)
    if "concert" in report:
        click.echo(f"concert: {report['concert']}")
    click.echo(f"report: {output_dir / 'report.json'}")


@main.group("presets")
def presets_group():
    """List and show the venue presets.

    \b
    Examples:
      liveify presets list
      liveify presets show stadium > my-venue.toml   # then edit and use --preset my-venue.toml
    """


@presets_group.command("list")
def presets_list():
    """Bundled presets with a one-line description."""
    from liveify.presets import list_presets

    presets = list_presets()
    width = max(len(name) for name, _ in presets)
    for name, description in presets:
        click.echo(f"{name.ljust(width)}  {description}")


@presets_group.command("show")
@click.argument("name")
def presets_show(name):
    """Print the fully resolved TOML of a preset (a bundled name or a .toml path)."""
    from liveify.presets import load_preset

    click.echo(load_preset(name).to_toml(), nl=False)


@main.command("demo")
@click.argument(
    "outdir",
    required=False,
    default="liveify-demo",
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "-p",
    "--preset",
    default="stadium",
    show_default=True,
    help="Preset to render the demo album with.",
)
@click.option("--songs", type=click.IntRange(1, 12), default=3, show_default=True)
@click.option(
    "--duration",
    "duration_s",
    type=click.FloatRange(5, 120),
    default=20.0,
    show_default=True,
    help="Seconds per demo song.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def demo_command(outdir, preset, songs, duration_s, seed, no_progress):
    """Make a short synthetic album and render it live, to hear Liveify in under a minute.

    Writes OUTDIR/studio (the generated studio songs), OUTDIR/reference-live (the synthetic
    generator's own "live" takes, for comparison) and OUTDIR/studio-live (Liveify's render).

    \b
    Examples:
      liveify demo
      liveify demo my-demo/ --preset club --songs 2
    """
    from liveify.demo import make_demo_data
    from liveify.presets import load_preset
    from liveify.render import RenderSettings, collect_tracks, render_album, resolve_model

    loaded_preset = load_preset(preset)
    click.echo(f"writing {songs} synthetic songs of {duration_s:g} s to {outdir}/ ...")
    make_demo_data(outdir, songs=songs, duration_s=duration_s, seed=seed)
    reference = outdir / "reference-live"
    if reference.exists():
        shutil.rmtree(reference)
    (outdir / "live").rename(reference)
    studio = outdir / "studio"
    settings = RenderSettings(
        preset=loaded_preset,
        output_dir=outdir / "studio-live",
        force=True,
        seed=seed,
        progress=not no_progress,
    )
    model = resolve_model(None, True, loaded_preset)
    click.echo(f"rendering with preset {loaded_preset.name}; {model.note}")
    report = render_album(collect_tracks([studio]).tracks, settings, model)
    _print_summary(report, settings.output_dir)
    first = Path(report["tracks"][0]["output"])
    click.echo("")
    click.echo(f"studio songs:     {studio}/")
    click.echo(f"Liveify's render: {settings.output_dir}/")
    click.echo(f"listen, e.g.:     play '{first}'   (sox), or open the folder in any player")


class TrainCommand(click.Command):
    """`liveify train`: its options are built from the config dataclasses on first use, so the
    other commands start without importing what those need (numpy, the data modules)."""

    def get_params(self, ctx):
        if not any(param.name == "batch_size" for param in self.params):
            from liveify.train.options import train_params

            self.params.extend(train_params())
        return super().get_params(ctx)


@main.command("train", cls=TrainCommand)
@click.argument("studio_dir", required=False, type=click.Path(exists=True, file_okay=False))
@click.argument("live_dir", required=False, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--studio-dir",
    "--studio_dir",
    "studio_dir_option",
    cls=spec_spelling_option_class(),
    type=click.Path(exists=True, file_okay=False),
    help="The studio folder, instead of STUDIO_DIR.",
)
@click.option(
    "--live-dir",
    "--live_dir",
    "live_dir_option",
    cls=spec_spelling_option_class(),
    type=click.Path(exists=True, file_okay=False),
    help="The live folder, instead of LIVE_DIR.",
)
@click.pass_context
def train_command(ctx, studio_dir, live_dir, studio_dir_option, live_dir_option, **values):
    """Train a live-conversion model on paired STUDIO_DIR and LIVE_DIR recordings.

    Files are paired by song name, aligned (cached), split into training and validation
    songs, and fitted with early stopping into CHECKPOINT_DIR/version_N/; CHECKPOINT_DIR's
    best.ckpt and last.ckpt name the newest run's. After the first steps it prints the time per
    step and per epoch. Every option also accepts the original specification's spelling
    (--batch_size, --studio_dir, --no_augmentation, ...), and `python -m liveify.train` is this
    command.

    \b
    Examples:
      liveify demo-data demo/ --songs 8
      liveify train demo/studio demo/live --learning-rate 3e-4 --export model.onnx
      liveify train studio/ live/ --development-mode          # first song pair only
      liveify train studio/ live/ --devices 4 --strategy ddp  # four GPUs
      liveify train studio/ live/ --num-nodes 2 --devices 8 --strategy ddp
          # run on every node with MASTER_ADDR, MASTER_PORT, NODE_RANK set
      liveify train studio/ live/ --resume checkpoints/last.ckpt
    """
    from liveify.train import format_summary, resumed_configs, train
    from liveify.train.options import MEL_OPTIONS, MODEL_OPTIONS, configs_from_values

    studio_dir = _one_folder("studio", studio_dir, studio_dir_option)
    live_dir = _one_folder("live", live_dir, live_dir_option)
    model_config, mel_config, options = configs_from_values(values)
    if options.resume:  # the checkpoint's settings, and those given here must agree with them
        given = {
            name
            for name in (*MODEL_OPTIONS, *MEL_OPTIONS)
            if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
        }
        model_config, mel_config = resumed_configs(
            options.resume,
            {name: values[name] for name in given if name in MODEL_OPTIONS},
            {name: values[name] for name in given if name in MEL_OPTIONS},
        )
    result = train(
        studio_dir,
        live_dir,
        model_config=model_config,
        mel_config=mel_config,
        options=options,
        echo=lambda line: click.echo(line, err=True),
    )
    if result.is_global_zero:  # with DDP every process returns here; one report is enough
        click.echo(format_summary(result))


def _one_folder(side: str, argument, option):
    if argument and option and Path(argument).resolve() != Path(option).resolve():
        raise click.UsageError(f"{side.upper()}_DIR {argument} and --{side}-dir {option} differ")
    folder = argument or option
    if folder is None:
        raise click.UsageError(
            f"missing the {side} folder: give STUDIO_DIR LIVE_DIR, or --studio-dir and --live-dir"
        )
    return folder


def run_train_command(prog_name: str) -> None:
    """Run `liveify train` as a program of its own (`python -m liveify.train`), with the same
    one-line errors."""
    try:
        train_command.main(prog_name=prog_name, standalone_mode=False)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        sys.exit(1)
    except LiveifyError as error:
        click.secho(f"liveify: error: {error}", fg="red", err=True)
        sys.exit(error.exit_code)


@main.command("demo-data")
@click.argument("outdir", type=click.Path(file_okay=False))
@click.option("--songs", type=click.IntRange(1, 99), default=4, show_default=True)
@click.option(
    "--duration",
    "duration_s",
    type=click.FloatRange(2, 3600),
    default=30.0,
    show_default=True,
    help="Seconds per studio song; live takes add a crowd intro and applause.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="The same seed writes identical files."
)
@click.option(
    "--studio-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Use the real recordings of this folder as the studio side (instead of --songs "
    "synthetic songs) and render their live takes with the demo's own live renderer.",
)
@click.option(
    "--excerpt",
    "excerpt_s",
    type=click.FloatRange(2, 3600),
    help="With --studio-dir: take a seeded excerpt of this many seconds from each recording.",
)
def demo_data_command(outdir, songs, duration_s, seed, studio_dir, excerpt_s):
    """Write paired studio/live songs, to train and test without live recordings.

    OUTDIR/studio/NN Title.wav, OUTDIR/live/NN Title (Live).wav (tempo drift, crowd intro,
    its own venue, PA and crowd; the .json beside it holds the studio->live time map) and
    OUTDIR/midi/NN Title.mid. With --studio-dir the studio side is your recordings (or
    --excerpt seconds of each) and their live takes come from the same independent renderer.

    \b
    Examples:
      liveify demo-data demo/ --songs 8 --duration 30
      liveify demo-data real/ --studio-dir ~/Music/album --excerpt 50
      liveify train demo/studio demo/live --embed-dim 96 --num-heads 4 \\
          --num-transformer-layers 2 --gru-layers 1 --learning-rate 1e-3 --precision 32
    """
    if studio_dir is not None:
        from liveify.demo import make_live_takes

        click.echo(f"writing live takes of the recordings in {studio_dir}/ to {outdir}/ ...")
        pairs = make_live_takes(studio_dir, outdir, excerpt_s=excerpt_s, seed=seed)
    else:
        from liveify.demo import make_demo_data

        click.echo(
            f"writing {songs} synthetic studio/live pairs of {duration_s:g} s to {outdir}/ ..."
        )
        written = make_demo_data(outdir, songs=songs, duration_s=duration_s, seed=seed)
        pairs = [(studio_path, live_path) for studio_path, live_path, _ in written]
    for studio_path, live_path in pairs:
        click.echo(f"  {studio_path.name}  <->  {live_path.name}")
    click.echo(
        f"train on them: liveify train '{outdir}/studio' '{outdir}/live' "
        "(on a CPU, with the options of 'Training on a CPU' in the README)"
    )


@main.command("export")
@click.argument("checkpoint", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--checkpoint-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Without CHECKPOINT: export the newest run's best checkpoint in this folder.  "
    "[default: liveify train's --checkpoint-dir default, checkpoints]",
)
@click.option(
    "-o",
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="ONNX file to write. Default: CHECKPOINT with the suffix .onnx.",
)
@click.option(
    "--opset",
    type=click.IntRange(14, 21),
    default=None,
    help="ONNX opset.  [default: 17]",
)
@click.option(
    "--fp16",
    is_flag=True,
    help="Store float16 weights: half the file, faster on CUDA, usually slower on CPU "
    "(parity bound 1e-2 instead of 1e-4).",
)
@click.option(
    "--fused-attention/--no-fused-attention",
    default=True,
    show_default=True,
    help="Export attention as one ONNX Runtime MultiHeadAttention node (~7 % faster on CPU); "
    "--no-fused-attention keeps standard ONNX ops for other runtimes.",
)
def export_command(checkpoint, checkpoint_dir, output_path, opset, fp16, fused_attention):
    """Export a trained CHECKPOINT to ONNX for `liveify render --model`.

    CHECKPOINT is a Lightning .ckpt from `liveify train` (default: the newest run's best, from
    --checkpoint-dir; the ONNX file then goes beside it) or a plain .pt holding model_config,
    mel_config and state_dict (loaded with weights_only=True). The ONNX file has a dynamic batch
    axis and carries the model and mel configs and training facts, so LiveModel needs nothing
    else. It is written only if ONNX Runtime matches torch on random and music-like windows
    (max abs error < 1e-4, or 1e-2 with --fp16).

    \b
    Examples:
      liveify export -o model.onnx                   # the newest training run's best
      liveify export runs/best.ckpt -o model.onnx
      liveify export runs/best.ckpt -o model-fp16.onnx --fp16
      liveify render album/ --model model.onnx
    """
    from liveify.checkpoint import newest_best_checkpoint
    from liveify.export import export_checkpoint

    if checkpoint is None:
        from liveify.train.options import TrainOptions

        checkpoint = newest_best_checkpoint(checkpoint_dir or TrainOptions().checkpoint_dir)
    output_path = output_path or checkpoint.with_suffix(".onnx")
    click.echo(f"exporting {checkpoint} -> {output_path} (parity-checked) ...")
    report = export_checkpoint(
        checkpoint, output_path, opset=opset, fp16=fp16, fused_attention=fused_attention
    )
    click.echo(f"wrote {report}")


@main.command("eval")
@click.argument("studio_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("live_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--model",
    "model_path",
    type=click.Path(dir_okay=False),
    help="ONNX model to evaluate. Default: the bundled model when the preset uses one.",
)
@click.option("--no-model", is_flag=True, help="Evaluate the baselines only (no model rows).")
@click.option(
    "--model-strength",
    type=click.FloatRange(0, 1),
    help="How much of the model's change to apply, 0-1.  [default: the preset's]",
)
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
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the preset stages.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def eval_command(
    studio_dir,
    live_dir,
    model_path,
    no_model,
    model_strength,
    preset,
    output_dir,
    checkpoint_path,
    max_align_cost,
    no_loudness_match,
    no_figures,
    seed,
    no_progress,
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
    """
    from pathlib import Path

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
        progress=not no_progress,
        log=click.echo,
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


from liveify.batch.commands import batch_command, prepare_command  # noqa: E402

main.add_command(batch_command)
main.add_command(prepare_command)
