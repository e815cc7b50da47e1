"""Liveify model files: the metadata stored in ONNX files, and a torch-free reader for it.

An exported model carries everything the render path needs (model and mel configs, tensor names,
precision), so `LiveModel("model.onnx")` is configured from the file alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from liveify.errors import ModelFileError

#: Prefix of every Liveify key in the ONNX file's metadata_props.
PREFIX = "liveify."
#: Keys whose values are JSON objects; every other key holds a plain string.
JSON_KEYS = ("model_config", "mel_config", "training_info", "parity")
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

    Returns keys `model_config`, `mel_config`, `training_info`, `parity` (dicts), `input_name`,
    `output_name`, `precision`, `liveify_version`, `opset` and `format_version` (strings).
    """
    values = {key[len(PREFIX) :]: text for key, text in props.items() if key.startswith(PREFIX)}
    missing = [key for key in REQUIRED_KEYS if key not in values]
    if missing:
        raise ModelFileError(
            f"{path}: ONNX file lacks Liveify metadata ({', '.join(missing)}); {EXPORT_HINT}"
        )
    decoded: dict = {"training_info": {}, "parity": {}}
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
    >>> meta = read_metadata("model.onnx")  # doctest: +SKIP
    >>> meta["model_config"]["embed_dim"], meta["precision"]  # doctest: +SKIP
    (512, 'fp32')
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
            f"{path}: not a readable ONNX model ({_first_line(error)}); {EXPORT_HINT}"
        ) from None
    return decode_metadata(session.get_modelmeta().custom_metadata_map, path)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
