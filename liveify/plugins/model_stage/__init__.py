"""LiveModel: the exported ViT-GRU run by ONNX Runtime as an effect stage, on audio at any rate.

`stage` holds the stage (parameters, ONNX Runtime calls, latency), `stream` the streaming state
that makes chunked calls equal one whole call, `reconstruction` the way back from the predicted
mel to audio. Sessions and the device choice are `liveify.model_file.open_session`. Never imports
torch, librosa or numba.
"""

from liveify.plugins.model_stage.reconstruction import MaskSettings
from liveify.plugins.model_stage.stage import LiveModel

__all__ = ["LiveModel", "MaskSettings"]
