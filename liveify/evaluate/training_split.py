"""Which songs a model was trained on, so an evaluation can average the held-out ones apart."""

from __future__ import annotations

from pathlib import Path


def training_songs(model_path: Path | None, checkpoint_path: Path | None = None) -> set[str] | None:
    """Song keys the model was trained on (from ONNX metadata, else a checkpoint), or None.

    Names are compared as `song_key`s, so "01 Song" from a checkpoint matches "1. Song (Live)".
    """
    from liveify.data.pairing import song_key

    info: dict = {}
    if model_path is not None:
        from liveify.model_file import read_metadata

        info = read_metadata(model_path).get("training_info") or {}
    if "train_songs" not in info and checkpoint_path is not None:
        from liveify.checkpoint import load_checkpoint

        info = load_checkpoint(checkpoint_path)[2].get("training_info") or {}
    songs = info.get("train_songs")
    if not isinstance(songs, list):
        return None
    return {song_key(str(name)) for name in songs}
