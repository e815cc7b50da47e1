"""`liveify train`, `liveify demo-data` and `liveify export`: the training side.

Each command imports torch and Lightning inside its function, so the other commands never pay
for them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from liveify.cli.app import LiveifyCommand, exit_on_error, main, progress_option, show_progress
from liveify.config import spec_spelling_option_class
from liveify.errors import LiveifyError


class TrainCommand(LiveifyCommand):
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
@progress_option
@click.pass_context
def train_command(ctx, studio_dir, live_dir, studio_dir_option, live_dir_option, progress,
                  **values):  # fmt: skip
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
        progress=show_progress(progress),
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
        exit_on_error(error)


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
