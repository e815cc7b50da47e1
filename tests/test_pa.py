"""pa_colouring: the board's measured spectral effect, compression, peak ceiling, validation."""

from __future__ import annotations

import inspect

import numpy as np
import pedalboard
import pytest

from liveify.errors import ParameterError, StageError
from liveify.plugins.pa import PA_PARAMETERS, pa_colouring

SR = 44100
FLAT = dict(
    low_shelf_db=0.0, presence_db=0.0, high_shelf_db=0.0, compressor_ratio=1.0, drive_db=0.0
)


def sine(frequency_hz: float, amplitude: float = 0.1, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)[np.newaxis]


def gain_db(board, frequency_hz: float, amplitude: float = 0.1) -> float:
    """Steady-state gain of `board` on a sine (the first half second is left to settle)."""
    out = board(sine(frequency_hz, amplitude), SR)[:, SR // 2 :]
    return float(20 * np.log10(np.sqrt(2 * np.mean(out**2)) / amplitude))


def test_board_is_made_of_native_plugins_and_reads_like_the_docs():
    board = pa_colouring()
    assert isinstance(board, pedalboard.Pedalboard)
    kinds = [type(plugin).__name__ for plugin in board]
    assert kinds[0] == "HighpassFilter" and "Compressor" in kinds and "Distortion" in kinds
    assert "PeakFilter" in kinds and "Limiter" in [
        type(p).__name__ for p in pa_colouring(drive_db=0.0)
    ]
    # Plugins that do nothing are left out.
    assert "Distortion" not in [type(p).__name__ for p in pa_colouring(drive_db=0.0)]


def test_low_cut_and_shelves_shape_the_spectrum():
    flat = pa_colouring(**FLAT, low_cut_hz=120.0)
    assert gain_db(flat, 30.0) < -20.0
    assert abs(gain_db(flat, 1000.0)) < 0.3
    bass = pa_colouring(**{**FLAT, "low_shelf_db": 6.0}, low_cut_hz=20.0)
    assert 4.0 < gain_db(bass, 60.0) < 7.0
    bright = pa_colouring(**{**FLAT, "high_shelf_db": -9.0})
    assert gain_db(bright, 14000.0) < -6.0
    presence = pa_colouring(**{**FLAT, "presence_db": 6.0, "presence_hz": 3000.0})
    assert gain_db(presence, 3000.0) == pytest.approx(6.0, abs=0.5)
    assert gain_db(presence, 300.0) < 1.0


def test_compression_narrows_the_dynamics():
    rng = np.random.default_rng(0)
    t = np.arange(4 * SR) / SR
    # A loud 0.1 s burst every 0.5 s over a quiet bed: compression pulls the bursts down.
    phase = t % 0.5
    audio = (np.where(phase < 0.1, 0.5, 0.03) * rng.standard_normal(len(t))).astype(np.float32)
    loud = (t > 1.0) & (phase > 0.04) & (phase < 0.1)  # past the attack
    quiet = (t > 1.0) & (phase > 0.35)  # past the release

    def loud_to_quiet_db(x):
        return float(10 * np.log10(np.mean(x[0, loud] ** 2) / np.mean(x[0, quiet] ** 2)))

    def crest_db(x):
        """Peak-to-average ratio of the 50 ms RMS envelope (the level a listener follows)."""
        power = np.mean(x[0, SR:].reshape(-1, SR // 20) ** 2, axis=1)
        return float(10 * np.log10(power.max() / power.mean()))

    clean = pa_colouring(**FLAT, limiter_threshold_db=0.0)(audio[np.newaxis], SR)
    squashed = pa_colouring(
        **{**FLAT, "compressor_ratio": 8.0, "compressor_threshold_db": -30.0, "drive_db": 6.0},
        compressor_attack_ms=1.0,
        limiter_threshold_db=0.0,
    )(audio[np.newaxis], SR)
    assert loud_to_quiet_db(squashed) < loud_to_quiet_db(clean) - 6.0
    assert crest_db(squashed) < crest_db(clean) - 3.0


@pytest.mark.parametrize("ceiling_db", [-1.0, -6.0])
def test_limiter_bounds_the_peak_and_leaves_quiet_audio_alone(ceiling_db):
    board = pa_colouring(**FLAT, limiter_threshold_db=ceiling_db)
    loud = board(sine(1000.0, amplitude=4.0), SR)
    assert 20 * np.log10(np.max(np.abs(loud))) <= ceiling_db + 0.01
    # Quiet material passes at unity gain: the limiter's own makeup is cancelled.
    assert abs(gain_db(board, 1000.0, amplitude=0.01)) < 0.1


def test_chunked_board_equals_one_call():
    rng = np.random.default_rng(1)
    audio = (0.3 * rng.standard_normal((2, 2 * SR))).astype(np.float32)
    board = pa_colouring(drive_db=6.0, compressor_ratio=4.0)
    whole = board(audio, SR)
    first = board(audio[:, :12345], SR, reset=True)
    rest = board(audio[:, 12345:], SR, reset=False)
    assert np.max(np.abs(np.concatenate([first, rest], axis=1) - whole)) < 1e-5


def test_parameters_are_validated_and_named():
    with pytest.raises(
        ParameterError, match=r"pa_colouring.low_cut_hz = 2 is out of range \[10, 500\]"
    ):
        pa_colouring(low_cut_hz=2)
    with pytest.raises(ParameterError, match=r"drive_db"):
        pa_colouring(drive_db="loud")
    with pytest.raises(StageError, match=r"'drive' \(did you mean 'drive_db'\?\)"):
        pa_colouring(drive=3.0)


def test_the_signature_is_the_declared_parameters():
    """help(pa_colouring) shows PA_PARAMETERS: keyword-only, with their defaults."""
    signature = inspect.signature(pa_colouring)
    assert list(signature.parameters) == list(PA_PARAMETERS)
    for name, argument in signature.parameters.items():
        assert argument.kind is inspect.Parameter.KEYWORD_ONLY
        assert argument.default == PA_PARAMETERS[name].default


@pytest.mark.parametrize("drive_db", [0.0, 6.0])
def test_makeup_gain_applies_with_or_without_drive(drive_db):
    board = pa_colouring(**{**FLAT, "drive_db": drive_db}, makeup_db=6.0)
    assert gain_db(board, 1000.0, amplitude=0.005) == pytest.approx(6.0, abs=0.1)


def test_a_saturating_pa_runs_the_limiter_as_its_first_stage_with_the_same_output():
    audio = np.concatenate([sine(220.0, 3.0), sine(330.0, 2.0)])
    for drive_db in (1.0, 2.0, 6.0):
        board = pa_colouring(drive_db=drive_db, limiter_threshold_db=-1.0)
        assert not any(type(plugin) is pedalboard.Limiter for plugin in board)
        with_limiter = pedalboard.Pedalboard(
            [*list(board)[:-2], pedalboard.Limiter(threshold_db=-1.0), pedalboard.Gain(-1.0)]
        )
        np.testing.assert_allclose(board(audio, SR), with_limiter(audio, SR), atol=1e-6)
    # Without saturation the limiter can act: it stays JUCE's limiter.
    assert any(type(p) is pedalboard.Limiter for p in pa_colouring(drive_db=0.0))
