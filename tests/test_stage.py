"""The stage protocol: constructors derived from declared parameters, one validation for every
stage's calls, whole calls aligned and shown whole, and the public `process_block` hook."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from liveify.errors import ParameterError, StageError
from liveify.plugins.base import RangeParameter, Stage, parameter_specs
from liveify.plugins.crowd import Crowd
from liveify.plugins.limiter import TruePeakLimiter
from liveify.plugins.venue import VenueReverb

SR = 22050


class Delay(Stage):
    """A pure delay that declares it: whole calls must come back exactly aligned."""

    delay_samples = RangeParameter(100, 1, 10_000, kind=int, doc="Delay in samples.")
    gain = RangeParameter(1.0, 0.0, 2.0, doc="Gain of the delayed signal.")

    def latency_samples_at(self, sample_rate):
        return self.delay_samples

    def reset(self):
        self.held = None

    def process_block(self, audio, sample_rate):
        held = np.zeros((audio.shape[0], self.delay_samples), np.float32)
        joined = np.concatenate([held if self.held is None else self.held, audio], axis=1)
        self.held = joined[:, audio.shape[1] :]
        return joined[:, : audio.shape[1]] * np.float32(self.gain)


class PeakNormaliser(Stage):
    """Scales a whole signal to a peak of one: it must see the signal before processing it."""

    def reset(self):
        self.peak = 1.0

    def start_signal(self, audio, sample_rate):
        self.peak = float(np.max(np.abs(audio)))

    def process_block(self, audio, sample_rate):
        return audio / np.float32(self.peak)


def noise(seconds: float = 0.5, channels: int = 2) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.normal(0.0, 0.1, (channels, round(seconds * SR))).astype(np.float32)


def test_the_constructor_follows_the_declared_parameters():
    assert str(inspect.signature(Delay)) == "(delay_samples: int = 100, gain: float = 1.0)"
    assert (Delay().delay_samples, Delay().gain) == (100, 1.0)
    positional, named = Delay(250, 0.5), Delay(gain=0.5, delay_samples=250)
    assert repr(positional) == repr(named) == "<Delay delay_samples=250 gain=0.5>"
    assert type(Delay(gain=1).gain) is float  # converted to the declared kind
    with pytest.raises(ParameterError, match=r"Delay.gain = 3 is out of range \[0, 2\]"):
        Delay(gain=3)
    with pytest.raises(StageError, match=r"'delay' \(did you mean 'delay_samples'\?\)"):
        Delay(delay=5)
    with pytest.raises(TypeError, match="too many positional arguments"):
        Delay(1, 1.0, 2)
    assert str(inspect.signature(Delay(5))).startswith("(input_array")  # an instance's call


@pytest.mark.parametrize("stage_class", [VenueReverb, Crowd, TruePeakLimiter])
def test_liveify_stages_are_built_from_their_declarations(stage_class):
    specs = parameter_specs(stage_class)
    signature = inspect.signature(stage_class)
    declared = [signature.parameters[name] for name in specs]
    assert [argument.default for argument in declared] == [spec.default for spec in specs.values()]
    assert all(argument.kind is argument.POSITIONAL_OR_KEYWORD for argument in declared)
    stage = stage_class()
    assert all(getattr(stage, name) == spec.default for name, spec in specs.items())
    assert all(f"{name}=" in repr(stage) for name in specs)


def test_a_stage_with_arguments_of_its_own_lists_them_after_its_parameters():
    signature = inspect.signature(Crowd)
    assert list(signature.parameters)[-3:] == ["beat_times_s", "music_level_db", "cues"]
    assert signature.parameters["cues"].kind is inspect.Parameter.KEYWORD_ONLY
    crowd = Crowd(500, 0.5, music_level_db=-18.0)
    assert (crowd.size, crowd.intensity, crowd.music_level_db) == (500, 0.5, -18.0)


def test_a_whole_call_comes_back_aligned_and_a_stream_delayed():
    audio = noise()
    np.testing.assert_array_equal(Delay(300)(audio, SR), audio)
    stage = Delay(300)
    first = stage(audio[:, :1000], SR, reset=False)
    rest = stage(audio[:, 1000:], SR, reset=False)
    streamed = np.concatenate([first, rest], axis=1)
    np.testing.assert_array_equal(streamed[:, 300:], audio[:, :-300])
    assert not streamed[:, :300].any()
    assert Delay()(audio[:, :0], SR).shape == (2, 0)


def test_a_whole_call_is_seen_whole_before_it_is_processed():
    audio = noise()
    assert np.max(np.abs(PeakNormaliser()(audio, SR))) == pytest.approx(1.0)
    streamed = PeakNormaliser()(audio, SR, reset=False)  # a stream is never seen whole
    np.testing.assert_array_equal(streamed, audio)


@pytest.mark.parametrize(
    "stage", [VenueReverb(), Crowd(size=50), TruePeakLimiter(), Delay()], ids=repr
)
def test_every_stage_checks_its_input_the_same_way(stage):
    audio = noise(0.1)
    audio[1, 10] = np.nan
    for reset in (True, False):
        with pytest.raises(ParameterError, match="NaN or Inf"):
            stage(audio, SR, reset=reset)
    with pytest.raises(ParameterError, match="no channels"):
        stage(np.zeros((0, 100), np.float32), SR)
    with pytest.raises(ParameterError, match="sample_rate"):
        stage(noise(0.1), 100)
    with pytest.raises(ParameterError, match=r"\(samples, channels\)"):
        stage(noise(0.1).T, SR)
