"""The rows an evaluation compares: each song as the studio file, through one stage, or as
`liveify render` makes it (the one render recipe in `liveify.render`, cut to the song's span).
"""

from __future__ import annotations

import numpy as np

from liveify.errors import AudioFileError

#: Rows in report order. "model" rows appear only when a model is evaluated.
ROWS = ("identity", "dsp", "model", "model+preset")
ROW_LABELS = {
    "identity": "identity (studio as is)",
    "dsp": "DSP-only preset",
    "model": "model only",
    "model+preset": "model + preset",
}


def render_row(stage, audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Run `audio` through `stage` as a stream with its latency removed: no lead-in, no tail.

    The result has `audio`'s length and lies on its timeline.
    """
    from liveify.plugins.base import stream_aligned

    return _finite(np.concatenate(list(stream_aligned(stage, [audio], sample_rate)), axis=1))


def render_live(audio: np.ndarray, sample_rate: float, preset, *, seed: int, model=None,
                target_lufs: float = -14.0) -> np.ndarray:  # fmt: skip
    """The song as `liveify render` makes it (the recipe with lead-in and tail, mastered to
    `target_lufs`), cut back to the song's own span so it lines up with the studio timeline."""
    from liveify.render.master import master_audio
    from liveify.render.recipe import live_blocks

    blocks = live_blocks(lambda: [audio], sample_rate, preset, seed=seed, model=model)
    live = _finite(np.concatenate(list(blocks), axis=1))
    mastered = master_audio(live, sample_rate, target_lufs=target_lufs, ceiling_db=-1.0)
    lead_in = round(preset.lead_in_s * sample_rate)
    return np.ascontiguousarray(mastered[:, lead_in : lead_in + audio.shape[1]])


def _finite(rendered: np.ndarray) -> np.ndarray:
    if not np.isfinite(rendered).all():
        raise AudioFileError("the effect chain produced NaN or infinite samples")
    return np.ascontiguousarray(rendered, dtype=np.float32)
