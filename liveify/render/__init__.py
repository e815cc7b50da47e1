"""Album rendering: tracks in, live versions out, mastered as one album.

- `inputs`: which tracks, in which order (folders, playlists, files; hidden files skipped).
- `plan`: settings, each track's output, and what a rerun keeps (fingerprints in report.json).
- `recipe`: one track's live version: model -> band (PA) -> room (crowd, venue, plugins).
- `master`: one album gain to the loudness target, then a true-peak limiter.
- `album`: the whole run: parallel tracks, progress, the report, the joined concert file.
- `workspace`: the output folder: one render at a time, leftovers of killed renders removed.

>>> from liveify.presets import load_preset
>>> settings = RenderSettings(preset=load_preset("stadium"), output_dir=Path("album-live"))
>>> report = render_album(collect_tracks(["album/"]).tracks, settings)
"""

from liveify.render.album import render_album, render_track
from liveify.render.inputs import TrackSelection, collect_tracks, default_output_dir
from liveify.render.plan import RenderSettings, TrackResult, plan_outputs
from liveify.render.recipe import (
    BUNDLED_MODEL,
    ModelChoice,
    live_blocks,
    load_render_preset,
    resolve_model,
)

__all__ = [
    "BUNDLED_MODEL",
    "ModelChoice",
    "RenderSettings",
    "TrackResult",
    "TrackSelection",
    "collect_tracks",
    "default_output_dir",
    "live_blocks",
    "load_render_preset",
    "plan_outputs",
    "render_album",
    "render_track",
    "resolve_model",
]
