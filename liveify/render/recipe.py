"""The track recipe shared by `liveify render` and `liveify eval`: model -> band -> room.

The band (the learned model stage with its latency removed, then the preset's PA) plays the song
alone; the room (crowd, venue reverb, external plugins) hears the preset's lead-in silence, the
band's song and the tail silence, so the crowd's lead-in swell, its clap-along and the applause
fall where they should. Mastering (album gain and true-peak limiter) follows in
`liveify.render.master`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveify.plugins.base import followed_by_silence, stream_aligned

#: Frames per processing block (~12 s at 44.1 kHz): the stages' FFT and call overheads are
#: amortised from about 10 s on, and memory stays at a few MB per block.
BLOCK_FRAMES = 1 << 19
#: Seconds of silence after the song that the band's stages (the PA) still process: their
#: filters ring on for a few milliseconds (the rest of the ring-out is below -100 dB).
BAND_RING_OUT_S = 0.2
BUNDLED_MODEL = Path(__file__).parent.parent / "models" / "demo.onnx"


@dataclass(frozen=True)
class ModelChoice:
    """The ONNX model a render uses (None: DSP only) and a one-line reason for the log."""

    path: Path | None
    note: str

    @property
    def sha256(self) -> str | None:
        from liveify.render.plan import file_sha256

        return None if self.path is None else file_sha256(self.path)


def load_render_preset(name_or_path: str, model_strength: float | None = None):
    """The preset a render uses, with `--model-strength` written into it: part of the preset's
    content, so a resume sees a changed strength."""
    import dataclasses

    from liveify.presets import load_preset

    preset = load_preset(name_or_path)
    if model_strength is None:
        return preset
    return dataclasses.replace(preset, model_strength=model_strength)


def resolve_model(model_path: Path | None, use_model: bool, preset) -> ModelChoice:
    """Which ONNX model the render uses, and why; a missing or foreign file fails here, once."""
    if not use_model:
        return ModelChoice(None, "model stage off (--no-model)")
    if model_path is not None:
        from liveify.model_file import read_metadata

        read_metadata(model_path)
        return ModelChoice(Path(model_path), f"model {model_path}")
    if not preset.model:
        return ModelChoice(None, f"preset {preset.name} does not use the model stage")
    if BUNDLED_MODEL.exists():
        return ModelChoice(BUNDLED_MODEL, f"bundled model {BUNDLED_MODEL.name}")
    return ModelChoice(None, "no bundled model installed; rendering the DSP chain only")


def build_band_and_room(preset, *, seed: int):
    """The preset's stages as two Chains: the band's (the PA), which plays the song alone, and
    the room's (crowd, venue, external plugins), which also hears the lead-in and tail."""
    from liveify.plugins.chain import Chain

    pa, *room = preset.build_stages(seed=seed)  # in render order, the PA board first
    return Chain([pa]), Chain(room)


def analyse(blocks: Iterable[np.ndarray], sample_rate: float):
    """The whole track's `TrackAnalysis` (beats, level) from its blocks, for stages that react
    to the whole song."""
    from liveify.analysis import TrackAnalysis

    analysis = TrackAnalysis(sample_rate)
    for block in blocks:
        analysis.add(block)
    return analysis


def _silence(frames: int) -> Iterator[np.ndarray]:
    return followed_by_silence((), frames)


def live_blocks(
    song: Callable[[], Iterable[np.ndarray]],
    sample_rate: float,
    preset,
    *,
    seed: int,
    model=None,
) -> Iterator[np.ndarray]:
    """The live version of a song, block by block: lead-in, the song, tail, exactly that long.

    `song()` returns the song's stereo float32 `(2, frames)` blocks from the start; it is called
    twice when a room stage reacts to the whole track (once to analyse it). `model` is a
    `LiveModel` stage or None for DSP only.
    """
    band, room = build_band_and_room(preset, seed=seed)
    if room.wants_track_analysis:
        room.prepare_track(analyse(song(), sample_rate), offset_s=preset.lead_in_s)
    lead_in = round(preset.lead_in_s * sample_rate)
    tail = round(preset.tail_s * sample_rate)
    band_tail = min(round(BAND_RING_OUT_S * sample_rate), tail)

    def band_input():
        songs = song()
        if model is not None:
            songs = stream_aligned(model, songs, sample_rate)
        yield from followed_by_silence(songs, band_tail)

    def stream():
        yield from _silence(lead_in)
        yield from stream_aligned(band, band_input(), sample_rate)
        yield from _silence(tail - band_tail)

    yield from stream_aligned(room, stream(), sample_rate)


def describe_chain(preset, model: ModelChoice, *, target_lufs: float, ceiling_db: float,
                   limiter: bool) -> list[str]:  # fmt: skip
    """The resolved recipe, stage by stage with its parameters, as `render --dry-run` prints it."""
    import textwrap

    def stage(number: int, name: str, values: dict, role: str) -> list[str]:
        text = " ".join(f"{key}={_short(value)}" for key, value in values.items())
        return [
            f"  {number}. {name} ({role})",
            *textwrap.wrap(text, 96, initial_indent=" " * 6, subsequent_indent=" " * 6),
        ]

    lines = [
        f"recipe per track: {preset.lead_in_s:g} s crowd lead-in, the song, {preset.tail_s:g} s tail"
    ]
    stages: list[tuple[str, dict, str]] = []
    if model.path is not None:
        stages.append(("model", {"file": model.path.name}, "band: the song alone"))
    stages.append(("PA", preset.pa, "band: the song alone"))
    stages.append(("crowd", preset.crowd, "room: lead-in, song, tail"))
    stages.append(("venue", preset.venue, "room: lead-in, song, tail"))
    stages += [("plugin", {"plugin": p.label, **p.parameters}, "room") for p in preset.plugins]
    mastering = (
        {"album_gain_to_lufs": target_lufs, "true_peak_limiter_dbtp": ceiling_db}
        if limiter
        else {"album_gain_to_lufs": target_lufs, "gain_only_true_peak_ceiling_dbtp": ceiling_db}
    )
    stages.append(("master", mastering, "album"))
    for number, (name, values, role) in enumerate(stages, 1):
        lines += stage(number, name, values, role)
    return lines


def _short(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
