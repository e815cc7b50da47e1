"""ONNX export of Liveify models: the torch-to-ONNX export and its torch-vs-ONNX Runtime check.

Training side only: the render path reads model files through `liveify.model_file`, never this
package. `export_onnx` and `export_checkpoint` import torch when called.
"""

from liveify.export.onnx import (
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
]
