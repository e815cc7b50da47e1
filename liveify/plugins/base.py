"""The stage protocol shared by every Liveify effect: pedalboard's `plugin(audio, sample_rate)`.

A stage takes float32 audio shaped `(channels, samples)` (1-D mono is accepted) and returns the
same layout. `reset=True` (the default, as in pedalboard) starts from a clean state; `reset=False`
continues from the previous call so that a track processed chunk by chunk equals one whole call.
Also `RangeParameter`, the validated-parameter descriptor the stages and presets share: a stage's
parameters are declared once, as RangeParameters, and its constructor follows from them.
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from liveify.audio import as_channels_first
from liveify.errors import LiveifyError, ParameterError, StageError


def check_sample_rate(sample_rate: float) -> float:
    """Validate a sample rate in Hz and return it as a float."""
    if not np.isfinite(sample_rate) or sample_rate < 8000:
        raise ParameterError(f"sample_rate must be >= 8000 Hz; got {sample_rate}")
    return float(sample_rate)


class Stage:
    """Base class for Liveify effect stages, called exactly like a pedalboard plugin.

    To write a stage, declare its parameters as `RangeParameter` class attributes and implement
    `process_block(audio, sample_rate)`; the constructor (keyword or positional arguments in
    declaration order, defaults, validation), its signature for `help()` and the repr follow
    from the declarations. State kept between calls is set up in `reset()`, which the
    constructor and every `reset=True` call run. The README's "Writing a stage" has an example.

    A subclass that needs more than its parameters (caches, extra keyword-only arguments) takes
    `*args, **parameters` plus its own keyword-only arguments in `__init__` and passes `*args,
    **parameters` on to `super().__init__`; its signature then lists both.
    """

    @property
    def latency_samples(self) -> int:
        """Samples by which the output lags the input when processing chunk by chunk."""
        return 0

    #: Whether the stage reacts to the whole track (its beats, its level): a renderer that streams
    #: a track in chunks then analyses it first and calls `prepare_track` before the first chunk.
    wants_track_analysis: bool = False
    #: The declared parameters as constructor arguments (set per subclass).
    _parameter_signature = inspect.Signature()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls._parameter_signature = parameters_signature(parameter_specs(cls))
        # inspect.signature reads __signature__, which typeshed does not declare on classes.
        cls.__signature__ = _ClassSignature(_constructor_signature(cls))  # type: ignore[attr-defined]

    def __init__(self, *args, **parameters) -> None:
        """Set every declared parameter from `args` (in declaration order) and `parameters` (by
        name), the others to their defaults, each validated; then start clean (`reset()`)."""
        values = bound_parameters(
            self._parameter_signature, args, parameters, owner=type(self).__name__
        )
        for name, value in values.items():
            setattr(self, name, value)
        self.reset()

    def __repr__(self) -> str:
        return parameters_repr(self)

    def __call__(
        self,
        input_array: np.ndarray,
        sample_rate: float,
        buffer_size: int | None = None,
        reset: bool = True,
    ) -> np.ndarray:
        return self.process(input_array, sample_rate, buffer_size=buffer_size, reset=reset)

    def process(
        self,
        input_array: np.ndarray,
        sample_rate: float,
        buffer_size: int | None = None,
        reset: bool = True,
    ) -> np.ndarray:
        """Process `input_array` (float32, `(channels, samples)`) and return the same layout.

        `reset=True`: the call is a whole signal. The stage starts clean (`reset()`), sees the
        whole signal first (`start_signal`), and its output lines up with the input: a stage with
        latency is streamed block by block and flushed (`stream_aligned`). `reset=False`: the call
        continues the previous one, delayed by `latency_samples_at(sample_rate)`. Every call's
        audio is checked here, once, before `process_block` sees it. `buffer_size` is accepted
        for pedalboard compatibility; stages choose their own block sizes.
        """
        audio = as_channels_first(input_array)
        sample_rate = check_sample_rate(sample_rate)
        if audio.shape[0] < 1:
            raise ParameterError(
                "audio has no channels; pass (channels, samples) with channels >= 1"
            )
        if not np.all(np.isfinite(audio)):
            raise ParameterError("audio contains NaN or Inf samples; clean the input first")
        if not reset:
            return self.process_block(audio, sample_rate)
        self.reset()
        self.start_signal(audio, sample_rate)
        if audio.shape[1] == 0 or self.latency_samples_at(sample_rate) == 0:
            return self.process_block(audio, sample_rate)
        aligned = stream_aligned(self, [audio], sample_rate, reset=False)
        return np.concatenate(list(aligned), axis=1)

    def process_block(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        """The stage's effect on the next block of the signal: the one method a stage must have.

        `audio` is checked float32 `(channels >= 1, samples)`, finite, at `sample_rate` Hz (the
        same rate through a signal unless the stage was reset). Return float32 `(channels,
        samples)`: as many samples as given (delayed by `latency_samples_at` if the stage has
        latency); stereo stages may turn mono into stereo. Keep whatever continues into the next
        block on `self` and clear it in `reset()`, so chunked calls equal one whole call. Called
        by `process`; call the stage itself, not this.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement process_block")

    def reset(self) -> None:
        """Clear streaming state so that the next call starts a new signal."""

    def start_signal(self, audio: np.ndarray, sample_rate: float) -> None:
        """See a whole signal (a `reset=True` call) after `reset()`, before it is processed.

        Stages that react to the whole track analyse it here (the crowd, unless `prepare_track`
        gave it the analysis); the rest ignore it.
        """

    def latency_samples_at(self, sample_rate: float) -> int:
        """`latency_samples` for audio at `sample_rate` (stages whose delay is fixed in seconds
        override this; asking before the first call gives the right figure)."""
        return self.latency_samples

    def tail_samples(self, sample_rate: float) -> int:
        """Samples of output that continue after the input ends (e.g. a reverb tail)."""
        return 0

    def prepare_track(self, analysis, *, offset_s: float = 0.0) -> None:
        """Take the whole track's `liveify.analysis.TrackAnalysis` before it is streamed in chunks.

        `offset_s` is where the track starts in the stream this stage will hear (the renderer's
        lead-in). Stages with `wants_track_analysis` override this; the rest ignore it.
        """


class _ClassSignature:
    """`__signature__` of a stage class: its constructor's, for `inspect.signature(VenueReverb)`
    and `help()`. Instances have none, so `inspect.signature(stage)` is its `__call__`'s."""

    def __init__(self, signature: inspect.Signature | None):
        self.signature = signature

    def __get__(self, instance, owner=None):
        if instance is not None:
            raise AttributeError("__signature__")
        return self.signature


def _constructor_signature(cls) -> inspect.Signature | None:
    """The declared parameters followed by the keyword-only arguments of the class's own
    `__init__`, for classes whose `__init__` passes `*args` on to `Stage.__init__`; None (the
    usual inspection) for classes with a constructor of their own."""
    try:
        own = inspect.signature(cls.__init__, eval_str=True)
    except (NameError, TypeError):  # an annotation that only type checkers can evaluate
        own = inspect.signature(cls.__init__)
    if not any(p.kind is p.VAR_POSITIONAL for p in own.parameters.values()):
        return None
    extra = [p for p in own.parameters.values() if p.kind is p.KEYWORD_ONLY]
    return cls._parameter_signature.replace(
        parameters=[*cls._parameter_signature.parameters.values(), *extra]
    )


# --- validated parameters --------------------------------------------------------------------


class RangeParameter:
    """A stage parameter with a default, an allowed range and a kind (float, int or bool).

    Used as a descriptor on stage classes (`rt60_s = RangeParameter(1.5, 0.1, 12.0)`): assigning
    validates the value and tells the stage (`_parameters_changed`) so it can drop cached data.
    Presets use the same objects to fill in defaults and to name out-of-range keys.
    """

    def __init__(
        self,
        default: Any,
        low: float = -math.inf,  # booleans have no range
        high: float = math.inf,
        *,
        kind: type = float,
        doc: str = "",
        name: str = "",
    ):
        self.default = default
        self.low = low
        self.high = high
        self.kind = kind
        self.doc = doc
        self.name = name

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return instance.__dict__[self.name]

    def __set__(self, instance, value) -> None:
        value = self.validate(value, owner=type(instance).__name__)
        instance.__dict__[self.name] = value
        changed: Callable[[str], None] | None = getattr(instance, "_parameters_changed", None)
        if changed is not None:
            changed(self.name)

    def describe(self) -> str:
        """The allowed values in words, e.g. `a number in [0.1, 12]`."""
        if self.kind is bool:
            return "true or false"
        noun = "an integer" if self.kind is int else "a number"
        return f"{noun} in {self._range()}"

    def _range(self) -> str:
        return f"[{_number(self.low)}, {_number(self.high)}]"

    def problem(self, value) -> str | None:
        """Why `value` is not allowed (a phrase to follow `name = value`), or None if it is."""
        if self.kind is bool:
            return None if isinstance(value, (bool, np.bool_)) else "must be true or false"
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            return f"must be {self.describe()}"
        if self.kind is int and not float(value).is_integer():
            return f"must be {self.describe()}"
        if not math.isfinite(float(value)):
            return f"must be {self.describe()}"
        if not self.low <= value <= self.high:
            return f"is out of range {self._range()}"
        return None

    def validate(self, value, *, owner: str = ""):
        """Return `value` converted to the parameter's kind, or raise ParameterError naming it."""
        problem = self.problem(value)
        if problem is not None:
            prefix = f"{owner}." if owner else ""
            raise ParameterError(f"{prefix}{self.name} = {value!r} {problem}")
        return self.kind(value)


def _number(value: float) -> str:
    """12.0 -> '12', 0.1 -> '0.1', 4294967295 -> '4294967295'."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def parameter_specs(cls) -> dict[str, RangeParameter]:
    """The RangeParameters of a stage class, in definition order, keyed by name."""
    specs: dict[str, RangeParameter] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, RangeParameter):
                specs[name] = value
    return specs


def parameters_signature(
    specs: Mapping[str, RangeParameter], *, kind=inspect.Parameter.POSITIONAL_OR_KEYWORD
) -> inspect.Signature:
    """A signature with one argument per parameter, in order, with its kind and default."""
    return inspect.Signature(
        [
            inspect.Parameter(name, kind, default=spec.default, annotation=spec.kind)
            for name, spec in specs.items()
        ]
    )


def bound_parameters(
    signature: inspect.Signature, args: tuple, keywords: dict, *, owner: str
) -> dict[str, Any]:
    """Every argument of `signature` by name, from `args` and `keywords`, else its default (not
    yet validated). Unknown names, too many or repeated arguments raise StageError."""
    try:
        bound = signature.bind(*args, **keywords)
    except TypeError as error:
        names = list(signature.parameters)
        unknown = [name for name in keywords if name not in signature.parameters]
        close = [n for n in names if unknown and n.startswith(unknown[0])]  # `rt60` -> `rt60_s`
        close = close or (difflib.get_close_matches(unknown[0], names, n=1) if unknown else [])
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise StageError(
            f"{owner}(): {error}{hint}; its parameters are {', '.join(names) or 'none'}"
        ) from None
    bound.apply_defaults()
    return dict(bound.arguments)


def parameters_repr(stage) -> str:
    """`<liveify.ClassName a=1 b=2>` listing every RangeParameter of `stage`, as pedalboard
    plugins do (without the `liveify.` for stages defined outside Liveify)."""
    fields = " ".join(f"{name}={getattr(stage, name)!r}" for name in parameter_specs(type(stage)))
    package = "liveify." if type(stage).__module__.startswith("liveify.") else ""
    return f"<{package}{type(stage).__name__}{' ' if fields else ''}{fields}>"


#: Frames of silence per call when flushing a stage's latency.
_FLUSH_BLOCK_FRAMES = 1 << 19
#: Beyond its declared latency, how long a stage may hold samples back before streaming gives up
#: (native plugins report no latency; pedalboard's PitchShift holds about 1.1 s).
_MAX_WITHHELD_S = 30.0


def followed_by_silence(blocks: Iterable[np.ndarray], frames: int) -> Iterator[np.ndarray]:
    """`blocks` (channels, n), then `frames` zeros with the last block's channel count."""
    channels = 2
    for block in blocks:
        channels = block.shape[0]
        yield block
    for start in range(0, frames, _FLUSH_BLOCK_FRAMES):
        yield np.zeros((channels, min(_FLUSH_BLOCK_FRAMES, frames - start)), np.float32)


def stream_aligned(
    stage, blocks: Iterable[np.ndarray], sample_rate: float, *, reset: bool = True
) -> Iterator[np.ndarray]:
    """Stream `blocks` through `stage` with its latency removed: output lines up with the input.

    The stage is reset once (unless `reset=False`: the caller has just reset it) and then called
    with `reset=False` on every block (`reset=True` on a block tells a stage that the block is the
    whole signal). Its first
    `latency_samples_at(sample_rate)` output samples are dropped, and zeros are fed after the
    input until exactly as many samples have come out as went in. That also covers native
    pedalboard plugins with latency (PitchShift, latent VST3s), which hold samples back while
    streaming instead of declaring a delay.
    """
    latency = stage.latency_samples_at(sample_rate)
    if reset:
        stage.reset()
    to_drop, fed, emitted, channels = latency, 0, 0, 2

    def aligned(block: np.ndarray) -> np.ndarray:
        nonlocal to_drop, emitted
        output = stage(block, sample_rate, reset=False)
        dropped = min(to_drop, output.shape[1])
        to_drop -= dropped
        output = output[:, dropped : dropped + fed - emitted]
        emitted += output.shape[1]
        return output

    for block in blocks:
        if block.shape[1] == 0:
            continue
        channels, fed = block.shape[0], fed + block.shape[1]
        output = aligned(block)
        if output.shape[1]:
            yield output
    flushed, most = 0, latency + round(_MAX_WITHHELD_S * sample_rate)
    while emitted < fed:
        if flushed >= most:
            raise LiveifyError(
                f"{stage!r} still withholds {fed - emitted} samples after {flushed} samples of "
                f"silence; it cannot be streamed (remove it from the chain)"
            )
        frames = min(_FLUSH_BLOCK_FRAMES, max(fed - emitted + to_drop, 1024))
        output = aligned(np.zeros((channels, frames), np.float32))
        flushed += frames
        if output.shape[1]:
            yield output
