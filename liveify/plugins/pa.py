"""PA colouring: the sound of a concert PA system as a board of native pedalboard plugins.

High-pass, tone shaping, bus compression, gentle saturation and a peak ceiling; chunk-exact and fast.
"""

from __future__ import annotations

import inspect

from liveify.plugins.base import RangeParameter, bound_parameters, parameters_signature

# JUCE's dsp::Limiter (pedalboard.Limiter) is a fixed first stage (a Compressor: -10 dB, 4:1,
# 2 ms attack, 200 ms release) with a fixed makeup of 10 * (1 - 1/4) / 2 dB, then a second stage
# at threshold_db (ratio 1000), makeup of -threshold_db and a hard clip at 0 dBFS. pa_colouring
# cancels both makeups so the limiter only catches peaks.
_JUCE_LIMITER_MAKEUP_DB = 10.0 * (1.0 - 1.0 / 4.0) / 2.0
_JUCE_LIMITER_FIRST_STAGE = {"threshold_db": -10.0, "ratio": 4.0, "attack_ms": 2.0,
                             "release_ms": 200.0}  # fmt: skip

PA_PARAMETERS: dict[str, RangeParameter] = {
    spec.name: spec
    for spec in (
        RangeParameter(
            35.0, 10.0, 500.0, name="low_cut_hz", doc="High-pass corner: the PA's lowest note."
        ),
        RangeParameter(
            110.0, 30.0, 500.0, name="low_shelf_hz", doc="Corner of the sub/bass shelf."
        ),
        RangeParameter(2.0, -12.0, 12.0, name="low_shelf_db", doc="Bass boost (+) or cut (-)."),
        RangeParameter(
            2500.0, 300.0, 8000.0, name="presence_hz", doc="Centre of the presence peak."
        ),
        RangeParameter(
            1.5, -12.0, 12.0, name="presence_db", doc="Presence boost: vocals cut through."
        ),
        RangeParameter(
            0.8, 0.2, 5.0, name="presence_q", doc="Presence peak sharpness (higher = narrower)."
        ),
        RangeParameter(
            8000.0, 1000.0, 16000.0, name="high_shelf_hz", doc="Corner of the treble shelf."
        ),
        RangeParameter(
            -2.0,
            -18.0,
            12.0,
            name="high_shelf_db",
            doc="Treble shelf; PAs heard from afar lose air.",
        ),
        RangeParameter(
            -18.0, -60.0, 0.0, name="compressor_threshold_db", doc="Bus compressor threshold."
        ),
        RangeParameter(
            2.5, 1.0, 20.0, name="compressor_ratio", doc="Bus compressor ratio (1 = off)."
        ),
        RangeParameter(10.0, 0.1, 200.0, name="compressor_attack_ms", doc="Compressor attack."),
        RangeParameter(150.0, 5.0, 2000.0, name="compressor_release_ms", doc="Compressor release."),
        RangeParameter(0.0, -12.0, 24.0, name="makeup_db", doc="Gain after the compressor."),
        RangeParameter(
            2.0,
            0.0,
            24.0,
            name="drive_db",
            doc="Saturation drive (tanh), level-compensated; 0 = clean.",
        ),
        RangeParameter(
            -1.0, -24.0, 0.0, name="limiter_threshold_db", doc="Peak ceiling of the output (dBFS)."
        ),
        RangeParameter(100.0, 1.0, 1000.0, name="limiter_release_ms", doc="Limiter release."),
    )
}

#: pa_colouring's keyword arguments: PA_PARAMETERS, declared once for both.
_SIGNATURE = parameters_signature(PA_PARAMETERS, kind=inspect.Parameter.KEYWORD_ONLY)


def pa_colouring(**parameters):
    """Build the PA colouring as a `pedalboard.Pedalboard` of native plugins.

    Order: HighpassFilter x 2 (12 dB/octave) -> LowShelfFilter -> PeakFilter (presence) ->
    HighShelfFilter -> Compressor -> makeup gain -> Distortion + Gain (saturation,
    level-compensated so `drive_db` changes the character, not the level) -> Limiter with its
    makeup cancelled, so the output never exceeds `limiter_threshold_db` dBFS and quieter material
    passes at unity gain. Plugins that would do nothing (0 dB gains, ratio 1, no drive) are left
    out and neighbouring gains are merged, to save time; where the saturation already keeps the
    signal under the ceiling, the limiter is built as the compressor it then reduces to.

    Examples
    --------
    >>> board = pa_colouring(low_cut_hz=40, presence_db=3, drive_db=4)
    >>> coloured = board(audio, 44100)                  # audio: float32 (channels, samples)
    >>> len(board)
    10
    """
    import pedalboard

    values = bound_parameters(_SIGNATURE, (), parameters, owner="pa_colouring")
    v = {
        name: PA_PARAMETERS[name].validate(value, owner="pa_colouring")
        for name, value in values.items()
    }
    # pedalboard's HighpassFilter is first order; two make the 12 dB/octave slope of a PA low cut.
    plugins: list[pedalboard.Plugin] = [
        pedalboard.HighpassFilter(cutoff_frequency_hz=v["low_cut_hz"]) for _ in range(2)
    ]
    if v["low_shelf_db"] != 0.0:
        plugins.append(
            pedalboard.LowShelfFilter(
                cutoff_frequency_hz=v["low_shelf_hz"], gain_db=v["low_shelf_db"]
            )
        )
    if v["presence_db"] != 0.0:
        plugins.append(
            pedalboard.PeakFilter(
                cutoff_frequency_hz=v["presence_hz"], gain_db=v["presence_db"], q=v["presence_q"]
            )
        )
    if v["high_shelf_db"] != 0.0:
        plugins.append(
            pedalboard.HighShelfFilter(
                cutoff_frequency_hz=v["high_shelf_hz"], gain_db=v["high_shelf_db"]
            )
        )
    if v["compressor_ratio"] > 1.0:
        plugins.append(
            pedalboard.Compressor(
                threshold_db=v["compressor_threshold_db"],
                ratio=v["compressor_ratio"],
                attack_ms=v["compressor_attack_ms"],
                release_ms=v["compressor_release_ms"],
            )
        )
    # Gains are folded together where they meet: tanh(g * makeup * x) is Distortion(drive +
    # makeup), and the drive compensation merges with the limiter's makeup cancellation.
    ceiling_db = v["limiter_threshold_db"]
    if v["drive_db"] > 0.0:
        plugins.append(pedalboard.Distortion(drive_db=v["drive_db"] + v["makeup_db"]))
        plugins.append(pedalboard.Gain(gain_db=-v["drive_db"] - _JUCE_LIMITER_MAKEUP_DB))
    else:
        plugins.append(pedalboard.Gain(gain_db=v["makeup_db"] - _JUCE_LIMITER_MAKEUP_DB))
    if v["drive_db"] >= -ceiling_db:
        # After the saturation nothing exceeds -(drive_db + 3.75) dBFS, so the limiter's second
        # stage and its clip never act: it is exactly its first-stage compressor and its makeup
        # (one JUCE compressor less per sample).
        plugins += [
            pedalboard.Compressor(**_JUCE_LIMITER_FIRST_STAGE),
            pedalboard.Gain(gain_db=_JUCE_LIMITER_MAKEUP_DB),
        ]
    else:
        plugins += [
            pedalboard.Limiter(threshold_db=ceiling_db, release_ms=v["limiter_release_ms"]),
            pedalboard.Gain(gain_db=ceiling_db),
        ]
    return pedalboard.Pedalboard(plugins)


# For help() and inspect.signature, which read __signature__ (not declared on functions in typeshed).
pa_colouring.__signature__ = _SIGNATURE  # type: ignore[attr-defined]
