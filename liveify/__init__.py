"""Liveify: turn studio recordings into convincing live-concert versions.

The top level imports nothing heavy: stages and loaders load on first use, so `import liveify`
stays fast and never pulls in torch.

>>> board = liveify.Chain([liveify.VenueReverb(rt60_s=2.5), liveify.Crowd(size=5000)])
>>> live = board(audio, sample_rate)
"""

import importlib
import logging

__version__ = "0.1.0"

# A library stays silent until its program configures logging (the CLI does, in liveify.cli.app).
logging.getLogger("liveify").addHandler(logging.NullHandler())

_LAZY_EXPORTS = {
    "Chain": "liveify.plugins.chain",
    "Stage": "liveify.plugins.base",
    "RangeParameter": "liveify.plugins.base",
    "VenueReverb": "liveify.plugins.venue",
    "Crowd": "liveify.plugins.crowd",
    "pa_colouring": "liveify.plugins.pa",
    "LiveModel": "liveify.plugins.model_stage",
    "TruePeakLimiter": "liveify.plugins.limiter",
    "load_preset": "liveify.presets",
    "list_presets": "liveify.presets",
    "Preset": "liveify.presets",
    "MelConfig": "liveify.mel",
    "LiveifyError": "liveify.errors",
}

__all__ = [*_LAZY_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _LAZY_EXPORTS:
        return getattr(importlib.import_module(_LAZY_EXPORTS[name]), name)
    raise AttributeError(f"module 'liveify' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
