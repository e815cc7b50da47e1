"""The demo album and its own live renderer, so every path runs without anyone's recordings.

`liveify demo-data` and `liveify demo` write synthetic songs (`songs`: MIDI arrangements played
by the small synthesiser in `synth`), and live takes of them or of real studio recordings
(`album`, `takes`) made by the demo's own live renderer (`live`: its tempo drift, PA, hall and
audience). That renderer shares nothing with Liveify's stages or presets and imports none of
them, so a DSP-only baseline cannot be right by construction. `output` writes the files.
"""

from liveify.demo.album import make_demo_data
from liveify.demo.live import TimeMap, load_time_map
from liveify.demo.takes import make_live_takes

__all__ = ["TimeMap", "load_time_map", "make_demo_data", "make_live_takes"]
