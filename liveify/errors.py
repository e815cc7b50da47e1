"""The LiveifyError family: every expected failure is one of these, printed by the CLI as one line.

Messages name the file, key or parameter at fault and, where there is one, how to fix it.
"""

#: Exit statuses of the command line: runtime failures (a bad track, an unreadable model, I/O)
#: and usage errors (a bad option value, an unknown preset), as click uses 2 for its own.
EXIT_FAILURE = 1
EXIT_USAGE = 2


class LiveifyError(Exception):
    """Base class for every error Liveify raises on purpose (bad input, bad settings)."""

    exit_code = EXIT_FAILURE


class ParameterError(LiveifyError, ValueError):
    """A parameter is out of range or of the wrong kind; the message names the parameter."""

    exit_code = EXIT_USAGE


class StageError(LiveifyError, TypeError):
    """Something is used as a stage that is not one (a Chain member that is neither a pedalboard
    plugin nor a `Stage`), or a stage is built with arguments it does not take; the message says
    what the stage must provide. A TypeError too, as Python raises for wrong arguments."""

    exit_code = EXIT_USAGE


class AudioFileError(LiveifyError):
    """An audio file cannot be read, is not audio, or holds unusable samples; names the file."""


class PresetError(LiveifyError):
    """A preset is missing or invalid; the message names the preset and the key."""

    exit_code = EXIT_USAGE


class ModelFileError(LiveifyError):
    """A model file (ONNX or checkpoint) is missing, unreadable or lacks Liveify metadata."""


class OutputError(LiveifyError):
    """An output cannot be written (full disk, read-only folder, another render busy in the
    folder); the message names the output. Ends the whole render, not just one track."""


class DeviceError(LiveifyError):
    """A requested compute device (e.g. `cuda`) cannot run here; names the device and the fix."""


class MissingDependencyError(LiveifyError, ImportError):
    """An optional dependency is not installed; the message says which extra installs it."""


class DataError(LiveifyError):
    """Training or evaluation data cannot be paired, aligned or used; names the files."""


def require(module_name: str, extra: str):
    """Import an optional dependency, or fail with the pip command that installs it."""
    import importlib

    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        # The ONNX Runtime comes from one of two extras, never both.
        how = (
            "'liveify[cpu]' (or 'liveify[gpu]' on an NVIDIA GPU)"
            if extra == "cpu"
            else f"'liveify[{extra}]'"
        )
        raise MissingDependencyError(
            f"{module_name} is not installed ({error}); install it with: pip install {how}"
        ) from None


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type name if it has none), for one-line
    errors that wrap a library's multi-line message."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__
