"""Liveify model files: the metadata stored in ONNX files, a torch-free reader for it, and
ONNX Runtime sessions on the device asked for.

An exported model carries everything the render path needs (model and mel configs, tensor names,
precision, optionally the reconstruction bounds it was tuned with), so `LiveModel("model.onnx")`
is configured from the file alone. `open_session` is shared by the model stage and the exporter's
parity check, so both run on the provider a render will use.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from liveify.cores import physical_cores
from liveify.errors import ModelFileError, first_line

#: Prefix of every Liveify key in the ONNX file's metadata_props.
PREFIX = "liveify."
#: Keys whose values are JSON objects; every other key holds a plain string.
JSON_KEYS = ("model_config", "mel_config", "training_info", "parity", "reconstruction")
REQUIRED_KEYS = ("model_config", "mel_config", "input_name", "output_name")
FORMAT_VERSION = "1"

EXPORT_HINT = "export one with `liveify export CHECKPOINT -o model.onnx`"


def encode_metadata(values: dict) -> dict[str, str]:
    """Turn `values` (JSON-able objects or strings) into prefixed string metadata_props."""
    encoded = {f"{PREFIX}format_version": FORMAT_VERSION}
    for key, value in values.items():
        if value is None:
            continue
        text = json.dumps(value, sort_keys=True, default=str) if key in JSON_KEYS else str(value)
        encoded[f"{PREFIX}{key}"] = text
    return encoded


def decode_metadata(props: dict[str, str], path: str | os.PathLike = "model") -> dict:
    """Parse prefixed metadata_props back into a dict; ModelFileError if Liveify keys are missing.

    Returns keys `model_config`, `mel_config`, `training_info`, `parity`, `reconstruction`
    (dicts; `reconstruction` holds `LiveModel` settings the model was tuned with), `input_name`,
    `output_name`, `precision`, `liveify_version`, `opset` and `format_version` (strings).
    """
    values = {key[len(PREFIX) :]: text for key, text in props.items() if key.startswith(PREFIX)}
    missing = [key for key in REQUIRED_KEYS if key not in values]
    if missing:
        raise ModelFileError(
            f"{path}: ONNX file lacks Liveify metadata ({', '.join(missing)}); {EXPORT_HINT}"
        )
    decoded: dict = {"training_info": {}, "parity": {}, "reconstruction": {}}
    for key, text in values.items():
        if key in JSON_KEYS:
            try:
                decoded[key] = json.loads(text)
            except json.JSONDecodeError:
                raise ModelFileError(
                    f"{path}: Liveify metadata {key!r} is not valid JSON; {EXPORT_HINT}"
                ) from None
        else:
            decoded[key] = text
    decoded["liveify_version"] = decoded.pop("version", "unknown")
    decoded.setdefault("precision", "fp32")
    return decoded


def check_model_file(path: str | os.PathLike) -> Path:
    """Return `path` if it is an existing file, else ModelFileError with the fix."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found; {EXPORT_HINT}")
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """Read the Liveify metadata of an ONNX model with ONNX Runtime only (no torch, no onnx).

    Examples
    --------
    >>> meta = read_metadata("model.onnx")
    >>> meta["model_config"]["embed_dim"], meta["precision"]
    (96, 'fp32')
    """
    from liveify.errors import require

    onnxruntime = require("onnxruntime", "cpu")
    path = check_model_file(path)
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:
        raise ModelFileError(
            f"{path}: not a readable ONNX model ({first_line(error)}); {EXPORT_HINT}"
        ) from None
    return decode_metadata(session.get_modelmeta().custom_metadata_map, path)


# --- inference sessions: device and provider choice --------------------------------------------
DEVICES_HELP = "auto, cpu, cuda or cuda:N"
_CPU = "CPUExecutionProvider"
_CUDA = "CUDAExecutionProvider"


#: Device auto on the CPU build of ONNX Runtime.
NO_CUDA_NOTICE = "device auto: no CUDA provider in this ONNX Runtime; running on the CPU"


def known_without_session(device: str) -> tuple[str, str | None] | None:
    """(provider, notice) where `device` settles on the CPU without opening a session (`cpu`, or
    `auto` on the CPU build of ONNX Runtime); None where only a session can tell (CUDA)."""
    kind, _ = parse_device(device)
    if kind == "cpu":
        return _CPU, None
    if kind == "auto" and not cuda_provider_installed():
        return _CPU, NO_CUDA_NOTICE
    return None


def parse_device(device: str) -> tuple[str, int]:
    """`"auto"`, `"cpu"`, `"cuda"` or `"cuda:N"` -> (kind, CUDA device index)."""
    text = str(device).strip().lower()
    kind, _, index = text.partition(":")
    if kind in ("auto", "cpu") and not index:
        return kind, 0
    if kind == "cuda" and (not index or index.isdigit()):
        return kind, int(index or 0)
    from liveify.errors import ParameterError

    raise ParameterError(f"device must be {DEVICES_HELP}; got {device!r}")


def open_session(
    path: str | os.PathLike,
    device: str = "auto",
    *,
    providers: list[str] | tuple[str, ...] | None = None,
    intra_op_threads: int | None = None,
):
    """An ONNX Runtime session on `device`, the provider that actually runs it, and a notice.

    `cuda`/`cuda:N` runs on that GPU or raises DeviceError (never silently on the CPU); `auto`
    tries CUDA when this ONNX Runtime has it and falls back to the CPU with a one-line notice
    (otherwise None) for the caller to print. `providers` (ONNX Runtime names) overrides `device`.

    Returns
    -------
    (session, provider name, notice or None)
    """
    from liveify.errors import DeviceError, ParameterError, require

    onnxruntime = require("onnxruntime", "cpu")
    path = check_model_file(path)
    available = onnxruntime.get_available_providers()
    if providers is not None:
        unknown = [name for name in providers if name not in available]
        if unknown:
            raise ParameterError(
                f"ONNX Runtime providers {unknown} are not available here (available: {available})"
            )
        return (*_session(onnxruntime, path, list(providers), intra_op_threads), None)
    known = known_without_session(device)
    if known is not None:  # the CPU, without trying CUDA
        return (*_session(onnxruntime, path, [_CPU], intra_op_threads), known[1])
    kind, index = parse_device(device)
    gpu = [(_CUDA, {"device_id": index}), _CPU]
    if kind == "cuda" and _CUDA not in available:
        raise DeviceError(
            f"device {device!r}: this ONNX Runtime has no CUDA provider (it has "
            f"{', '.join(available)}); pip install 'liveify[gpu]' (onnxruntime-gpu), or use "
            "device 'auto' or 'cpu'"
        )
    try:
        session, provider = _session(onnxruntime, path, gpu, intra_op_threads)
    except ModelFileError:
        session, provider = None, None
    if provider == _CUDA:
        return session, provider, None
    reason = "ONNX Runtime fell back to the CPU" if session else "the CUDA session did not start"
    if session is None:  # a file that no provider can read fails here, as a ModelFileError
        session, provider = _session(onnxruntime, path, [_CPU], intra_op_threads)
    if kind == "cuda":
        raise DeviceError(
            f"device {device!r}: CUDA cannot run {path.name} here ({reason}); check the GPU "
            "driver and onnxruntime-gpu's CUDA libraries, or use device 'auto' or 'cpu'"
        )
    return session, provider, f"device auto: CUDA could not start ({reason}); running on the CPU"


def log_device(logger, provider: str, notice: str | None) -> None:
    """Say where the model runs: its provider, or the fallback notice of device auto, which is a
    warning only where a CUDA provider exists and failed (on the CPU build of ONNX Runtime the
    CPU is the expected place)."""
    if notice is None:
        logger.info("model stage runs on %s", provider)
    elif cuda_provider_installed():
        logger.warning(notice)
    else:
        logger.info(notice)


def cuda_provider_installed() -> bool:
    """Whether this ONNX Runtime build has the CUDA provider (onnxruntime-gpu), working or not."""
    from liveify.errors import require

    return _CUDA in require("onnxruntime", "cpu").get_available_providers()


def _session(onnxruntime, path: Path, providers: list, intra_op_threads: int | None):
    """An InferenceSession tuned for throughput, and the provider that actually runs it."""
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = intra_op_threads or physical_cores()
    options.log_severity_level = 3
    # Worker threads sleep as soon as a run ends instead of spinning: between model calls the
    # stage's own numpy work (analysis, reconstruction) needs those cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=providers)
    except Exception as error:
        raise ModelFileError(
            f"{path}: not a readable ONNX model ({first_line(error)}); {EXPORT_HINT}"
        ) from None
    return session, session.get_providers()[0]
