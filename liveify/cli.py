"""The `liveify` command line: render albums, manage presets, train, export and evaluate models.

Commands import their heavy dependencies inside the command function, so `liveify render` starts
without torch, lightning or whisper.
"""

from __future__ import annotations

import sys

import click

from liveify import __version__
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
            sys.exit(2)


@click.group(cls=LiveifyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="liveify")
@click.option("-v", "--verbose", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Turn studio recordings into live-concert versions.

    \b
    Examples:
      liveify demo                              # demo album, rendered live, in seconds
      liveify render album/ --preset stadium    # whole album -> album-live/
      liveify presets list
      liveify train studio/ live/ --export model.onnx
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
