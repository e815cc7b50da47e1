"""Chain: an ordered container of native pedalboard plugins and Liveify stages, called as one.

pedalboard.Pedalboard holds native plugins only (a Python subclass of Plugin cannot be
instantiated, and a subclass of a concrete plugin has its `process` ignored inside a board; see
NOTES.md), so Chain runs each run of consecutive native plugins as one pedalboard.Pedalboard and
calls Liveify stages between them.

Two native plugins are run differently: `pedalboard.Distortion` is tanh(gain * x), which JUCE
evaluates one sample at a time with std::tanh (~11 ns a sample, a third of the PA's time), and
`pedalboard.Gain` is a multiplication that costs a whole pass through JUCE's buffers. numpy gives
the same values (tanh to 1 ulp) many times faster, and consecutive ones become one in-place pass,
so Chain runs them that way. Nested boards (`pedalboard.Pedalboard` or `pedalboard.Chain`
members, such as the PA board of a preset) run their plugins in order, so Chain opens them up to
find these inside.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from liveify.audio import as_channels_first
from liveify.errors import ParameterError, StageError
from liveify.plugins.base import Stage, check_sample_rate


def _is_native(plugin) -> bool:
    import pedalboard

    return isinstance(plugin, pedalboard.Plugin)


def _check_member(plugin):
    if _is_native(plugin) or isinstance(plugin, (Stage, Chain)):
        return plugin
    raise StageError(
        f"Chain members must be pedalboard plugins or Liveify stages; got {type(plugin).__name__}. "
        "Make a custom Python effect a liveify.Stage subclass that implements "
        "process_block(audio, sample_rate) (see the README's 'Writing a stage')."
    )


def _opened_up(plugins) -> Iterator:
    """`plugins` with nested sequential boards (pedalboard.Pedalboard / pedalboard.Chain)
    replaced by their members, recursively; parallel `pedalboard.Mix` branches stay whole."""
    import pedalboard

    for plugin in plugins:
        if isinstance(plugin, pedalboard.Chain):
            yield from _opened_up(plugin)
        else:
            yield plugin


class _Pointwise:
    """Consecutive `pedalboard.Distortion` (tanh(gain * x)) and `pedalboard.Gain` plugins,
    computed with numpy in one pass over a copy of the block, called like a pedalboard board."""

    def __init__(self, plugins: list):
        self.plugins = plugins

    def append(self, plugin) -> None:
        self.plugins.append(plugin)

    def process(self, audio: np.ndarray, sample_rate: float, buffer_size=None, reset=True):
        import pedalboard

        out = np.array(audio, dtype=np.float32)
        for plugin in self.plugins:
            drive_db = plugin.drive_db if type(plugin) is pedalboard.Distortion else plugin.gain_db
            out *= np.float32(10.0 ** (drive_db / 20.0))
            if type(plugin) is pedalboard.Distortion:
                np.tanh(out, out=out)
        return out


def _constructor_arguments(plugin) -> list[str]:
    """Names of a built-in pedalboard plugin's constructor arguments, from pybind's signature
    line (`__init__(self: ..., threshold_db: float = 0, ratio: float = 1, ...) -> None`)."""
    signature = (type(plugin).__init__.__doc__ or "").splitlines()[0]
    inside = signature[signature.find("(") + 1 : signature.rfind(")")]
    names = [part.split(":")[0].strip() for part in inside.split(",")]
    return [name for name in names if name and name not in ("self", "*args", "**kwargs")]


def _portable(plugin):
    """How to rebuild a member in another process: Liveify stages pickle themselves; native
    plugins (which cannot be pickled) travel as their class and constructor arguments, VST3/AU
    plugins as their file and saved state, nested boards member by member."""
    import pedalboard

    if isinstance(plugin, (Stage, Chain)):
        return ("stage", plugin)
    if isinstance(plugin, pedalboard.Pedalboard):
        return ("board", [_portable(member) for member in plugin])
    if isinstance(plugin, pedalboard.ExternalPlugin):
        return ("external", plugin.path_to_plugin_file, bytes(plugin.raw_state))
    name = type(plugin).__name__
    arguments = _constructor_arguments(plugin)
    if (
        getattr(pedalboard, name, None) is type(plugin)
        and arguments
        and all(
            isinstance(getattr(plugin, argument, None), (int, float, str, bool))
            for argument in arguments
        )
    ):
        return ("native", name, {argument: getattr(plugin, argument) for argument in arguments})
    raise ParameterError(
        f"cannot pickle {plugin!r}: this pedalboard plugin has no parameters to rebuild it from; "
        "build the chain inside each process instead"
    )


def _rebuilt(portable):
    import pedalboard

    kind, *data = portable
    if kind == "stage":
        return data[0]
    if kind == "board":
        return pedalboard.Pedalboard([_rebuilt(member) for member in data[0]])
    if kind == "external":
        plugin = pedalboard.load_plugin(data[0])
        plugin.raw_state = data[1]
        return plugin
    name, arguments = data
    return getattr(pedalboard, name)(**arguments)


def _chain_from_portable(members: list) -> Chain:
    return Chain([_rebuilt(member) for member in members])


class Chain:
    """An ordered chain of effects, used exactly like `pedalboard.Pedalboard`.

    Members may be native pedalboard plugins (including VST3/AU plugins from
    `pedalboard.load_plugin`), Liveify stages, or other Chains.

    >>> board = liveify.Chain([pedalboard.Compressor(), liveify.VenueReverb(rt60_s=2.5)])
    >>> board.append(liveify.Crowd(size=5000))
    >>> live = board(audio, sample_rate)
    """

    def __init__(self, plugins: Iterable | None = None):
        self._plugins = [_check_member(plugin) for plugin in (plugins or [])]
        # Processing groups, cached with the member ids (nested boards opened up) they were
        # built from: any change to the members, direct or nested, changes the ids.
        self._groups: list = []
        self._group_signature: list[int] | None = None

    # --- list-like container, as pedalboard.Pedalboard -------------------------------------
    def __len__(self) -> int:
        return len(self._plugins)

    def __iter__(self) -> Iterator:
        return iter(self._plugins)

    def __getitem__(self, index):
        return self._plugins[index]

    def __setitem__(self, index: int, plugin) -> None:
        self._plugins[index] = _check_member(plugin)

    def __delitem__(self, index) -> None:
        del self._plugins[index]

    def append(self, plugin) -> None:
        self._plugins.append(_check_member(plugin))

    def insert(self, index: int, plugin) -> None:
        self._plugins.insert(index, _check_member(plugin))

    def remove(self, plugin) -> None:
        self._plugins.remove(plugin)

    def index(self, plugin) -> int:
        return self._plugins.index(plugin)

    def __reduce__(self):
        """Pickle support (process pools): members travel as described by `_portable`."""
        return _chain_from_portable, ([_portable(plugin) for plugin in self._plugins],)

    def __repr__(self) -> str:
        names = ", ".join(repr(plugin) for plugin in self._plugins)
        count = len(self._plugins)
        return f"<liveify.Chain with {count} plugin{'s' if count != 1 else ''}: [{names}]>"

    # --- processing --------------------------------------------------------------------------
    def _processing_groups(self) -> list:
        """Consecutive native plugins merged into one Pedalboard each, runs of Distortions and
        Gains into one numpy pass, Liveify stages alone. Rebuilt when any member, nested ones
        included, has changed."""
        import pedalboard

        members = list(_opened_up(self._plugins))
        signature = [id(plugin) for plugin in members]
        if self._group_signature != signature:
            groups: list = []
            for plugin in members:
                kind: type
                if type(plugin) in (pedalboard.Distortion, pedalboard.Gain):
                    kind = _Pointwise
                elif _is_native(plugin):
                    kind = pedalboard.Pedalboard
                else:
                    groups.append(plugin)
                    continue
                if groups and type(groups[-1]) is kind:
                    groups[-1].append(plugin)
                else:
                    groups.append(kind([plugin]))
            self._groups, self._group_signature = groups, signature
        return self._groups

    def __call__(
        self,
        input_array: np.ndarray,
        sample_rate: float,
        buffer_size: int = 8192,
        reset: bool = True,
    ) -> np.ndarray:
        return self.process(input_array, sample_rate, buffer_size=buffer_size, reset=reset)

    def process(
        self,
        input_array: np.ndarray,
        sample_rate: float,
        buffer_size: int = 8192,
        reset: bool = True,
    ) -> np.ndarray:
        """Run every member in order on float32 (channels, samples) audio.

        With `reset=False` every member keeps its state from the previous call, so a track fed in
        chunks gives the same result as one call on the whole track. Native plugins with latency
        (PitchShift, latent VST3s) then return fewer samples than they were given, as in
        pedalboard; `liveify.plugins.base.stream_aligned` flushes them.
        """
        audio = as_channels_first(input_array)
        sample_rate = check_sample_rate(sample_rate)
        for group in self._processing_groups():
            if audio.shape[1] == 0 and not reset:
                break  # a streaming native plugin is holding samples back: nothing to pass on yet
            audio = group.process(audio, sample_rate, buffer_size=buffer_size, reset=reset)
            audio = np.ascontiguousarray(audio, dtype=np.float32)
        return audio

    def reset(self) -> None:
        for plugin in self._plugins:
            plugin.reset()

    def latency_samples_at(self, sample_rate: float) -> int:
        """Total delay of the Liveify stages at `sample_rate` (native plugins compensate their
        own latency)."""
        return sum(
            plugin.latency_samples_at(sample_rate)
            for plugin in self._plugins
            if isinstance(plugin, (Stage, Chain))
        )

    @property
    def latency_samples(self) -> int:
        """Total delay of the Liveify stages at the rate they last processed."""
        return sum(getattr(plugin, "latency_samples", 0) for plugin in self._plugins)

    @property
    def wants_track_analysis(self) -> bool:
        """Whether any member reacts to the whole track (see `Stage.prepare_track`)."""
        return any(getattr(plugin, "wants_track_analysis", False) for plugin in self._plugins)

    def prepare_track(self, analysis, *, offset_s: float = 0.0) -> None:
        """Hand the whole track's analysis to every member that wants it."""
        for plugin in self._plugins:
            if getattr(plugin, "wants_track_analysis", False):
                plugin.prepare_track(analysis, offset_s=offset_s)

    def tail_samples(self, sample_rate: float) -> int:
        """Samples of input-free output to request after the last input (reverb tails, latency)."""
        return sum(
            plugin.tail_samples(sample_rate)
            for plugin in self._plugins
            if isinstance(plugin, (Stage, Chain))
        )
