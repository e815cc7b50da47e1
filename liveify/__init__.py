"""Liveify: turn studio recordings into convincing live-concert versions."""

__version__ = "0.1.0"
