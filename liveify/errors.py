"""The LiveifyError family: every expected failure is one of these, printed by the CLI as one line.

Messages name the file, key or parameter at fault and, where there is one, how to fix it.
"""


class LiveifyError(Exception):
    """Base class for every error Liveify raises on purpose (bad input, bad settings)."""


class ParameterError(LiveifyError, ValueError):
    """A parameter is out of range or of the wrong kind; the message names the parameter."""


class AudioFileError(LiveifyError):
    """An audio file cannot be read, is not audio, or holds unusable samples; names the file."""


class PresetError(LiveifyError):
    """A preset is missing or invalid; the message names the preset and the key."""


class ModelFileError(LiveifyError):
    """A model file (ONNX or checkpoint) is missing, unreadable or lacks Liveify metadata."""


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
        raise MissingDependencyError(
            f"{module_name} is not installed ({error}); install it with: pip install 'liveify[{extra}]'"
        ) from None
