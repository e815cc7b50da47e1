"""Catalogue scale: many albums rendered at once, on this machine or on a Ray cluster.

- `catalog`: a catalogue's albums (a folder of album folders or a manifest) and `--shard I/N`.
- `album_task`: one album, planned in the driver and rendered in a worker as `render` would.
- `engine`: tasks on worker processes (`local_engine`) or Ray tasks (`ray_engine`), with retries.
- `runner`: `liveify batch` end to end; `report`: OUTROOT/batch-report.json, shared by shards.
- `prepare`: `liveify prepare`, the training alignment cache filled in parallel.
- `commands`: the click commands.

>>> run_batch(Path("catalogue/"), Path("live/"), BatchRenderOptions(preset="club"),
...           EngineOptions(engine="ray"))  # starts Ray  # doctest: +SKIP

Nothing here imports ray until the Ray engine runs.
"""

import importlib

# Loaded on first use: the CLI imports `liveify.batch.commands` for every command, and
# `liveify presets list` must not pay for the render path.
_LAZY_EXPORTS = {
    "BatchRenderOptions": "liveify.batch.album_task",
    "EngineOptions": "liveify.batch.engine",
    "BatchResult": "liveify.batch.runner",
    "run_batch": "liveify.batch.runner",
}

__all__ = list(_LAZY_EXPORTS)


def __getattr__(name: str):
    if name in _LAZY_EXPORTS:
        return getattr(importlib.import_module(_LAZY_EXPORTS[name]), name)
    raise AttributeError(f"module 'liveify.batch' has no attribute {name!r}")
