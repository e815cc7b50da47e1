"""`DictConfig`: the dict round trip every Liveify settings dataclass shares.

Configs travel as plain dicts through checkpoints, ONNX metadata and cache keys; reading one back
with a key this version does not know is an error that names the key, not a silent drop.
"""

from __future__ import annotations

import dataclasses

from liveify.errors import ParameterError


class DictConfig:
    """Mixin for settings dataclasses: `to_dict()` and a strict `from_dict()`."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
        return cls(**values)
