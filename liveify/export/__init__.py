"""ONNX export of Liveify models: metadata, atomic writes and the torch-vs-ONNX Runtime check.

Importing this package is cheap and torch-free; `export_onnx` imports torch when called.
"""

from liveify.export.metadata import read_metadata
from liveify.export.onnx_export import (
    DEFAULT_OPSET,
    PARITY_BOUND,
    ParityReport,
    export_checkpoint,
    export_onnx,
)

__all__ = [
    "DEFAULT_OPSET",
    "PARITY_BOUND",
    "ParityReport",
    "export_checkpoint",
    "export_onnx",
    "read_metadata",
]
