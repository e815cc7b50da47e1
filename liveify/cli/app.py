"""The `liveify` group and what every subcommand shares: one-line errors, -v/-q, logging, progress.

Library code logs through `logging.getLogger("liveify...")` and stays silent until a program
configures it; the command line does that here: INFO lines to stderr by default, WARNING and
above with `-q`, DEBUG (and full tracebacks on errors) with `-v`. Command results (tables,
reports, plans) go to stdout with click.echo and are not log lines.
"""

from __future__ import annotations

import logging
import sys

import click

from liveify import __version__
from liveify.errors import LiveifyError

#: ctx.meta key of the verbosity: -1 quiet, 0 normal, 1 verbose (counted over the group's and
#: the subcommand's -v/-q, so `liveify -v render ...` and `liveify render -v ...` agree).
VERBOSITY = "liveify.verbosity"
LOG_LEVELS = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}


class _ConsoleHandler(logging.Handler):
    """Log lines to stderr, printed above any live progress bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if "tqdm" in sys.modules:  # a bar may be on screen: tqdm.write keeps it intact
                from tqdm import tqdm

                tqdm.write(message, file=sys.stderr)
            else:
                click.echo(message, err=True)
        except Exception:  # logging must never take the program down
            self.handleError(record)


class _ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"liveify: error: {message}"
        if record.levelno >= logging.WARNING:
            return f"liveify: warning: {message}"
        if record.levelno < logging.INFO:
            return f"debug: {record.name}: {message}"
        return message


_configured_verbosity = 0


def configure_logging(verbosity: int) -> None:
    """Send the `liveify` loggers to stderr at the level `verbosity` asks for (idempotent)."""
    global _configured_verbosity
    _configured_verbosity = max(-1, min(1, verbosity))
    logger = logging.getLogger("liveify")
    logger.setLevel(LOG_LEVELS[_configured_verbosity])
    if not any(isinstance(handler, _ConsoleHandler) for handler in logger.handlers):
        handler = _ConsoleHandler()
        handler.setFormatter(_ConsoleFormatter())
        logger.addHandler(handler)


def verbosity() -> int:
    """-1 quiet, 0 normal, 1 verbose: as the command line being run asked."""
    return _configured_verbosity


def _count_verbosity(step: int):
    def callback(ctx: click.Context, _param, value) -> None:
        if value:
            ctx.meta[VERBOSITY] = max(-1, min(1, ctx.meta.get(VERBOSITY, 0) + step * value))
        configure_logging(ctx.meta.get(VERBOSITY, 0))

    return callback


def _verbosity_options() -> list[click.Option]:
    return [
        click.Option(["-v", "--verbose"], count=True, expose_value=False, is_eager=True,
                     callback=_count_verbosity(+1),
                     help="More output: debug log lines and full tracebacks on errors."),
        click.Option(["-q", "--quiet"], count=True, expose_value=False, is_eager=True,
                     callback=_count_verbosity(-1),
                     help="Less output: warnings and errors only, no progress bars."),
    ]  # fmt: skip


def show_progress(progress: bool | None) -> bool:
    """Whether to draw progress bars: as `--progress/--no-progress` says, else only when stderr
    is a terminal (no cursor escapes in logs and pipes) and the command is not quiet."""
    if progress is not None:
        return progress
    return sys.stderr.isatty() and verbosity() >= 0


def progress_option(function):
    """`--progress/--no-progress`, default: bars only on a terminal (see `show_progress`)."""
    return click.option(
        "--progress/--no-progress",
        default=None,
        help="Force progress bars on or off.  [default: on when stderr is a terminal]",
    )(function)


def exit_on_error(error: LiveifyError):
    """Print a LiveifyError as one line and exit with its status (re-raise it with -v)."""
    if verbosity() > 0:
        raise error
    click.secho(f"liveify: error: {error}", fg="red", err=True)
    sys.exit(error.exit_code)


class _LiveifyBehaviour:
    """What every Liveify command and group adds to click's: -v/-q, and LiveifyErrors printed as
    one line (tracebacks with -v) with their exit status."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params.extend(_verbosity_options())

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LiveifyError as error:
            exit_on_error(error)


class LiveifyCommand(_LiveifyBehaviour, click.Command):
    """A Liveify subcommand (see `_LiveifyBehaviour`)."""


class LiveifyGroup(_LiveifyBehaviour, click.Group):
    """A group whose commands and subgroups are Liveify commands."""

    command_class = LiveifyCommand


LiveifyGroup.group_class = LiveifyGroup


@click.group(cls=LiveifyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="liveify")
def main() -> None:
    """Turn studio recordings into live-concert versions.

    -v/--verbose and -q/--quiet work before or after the subcommand. Progress bars show only
    when stderr is a terminal (--progress/--no-progress on the long commands decide otherwise).

    Exit status: 0 on success, 1 when something failed while running (a bad track, an
    unreadable model, a full disk), 2 for usage errors (a bad option, an unknown preset).

    \b
    Examples:
      liveify demo                              # demo album, rendered live, in seconds
      liveify render album/ --preset stadium    # whole album -> album-live/
      liveify presets list
      liveify train studio/ live/ --export model.onnx
    """
