"""Venue presets: TOML files that set the venue reverb, PA colouring and crowd of a live render.

Bundled presets live next to this file (`stadium.toml`, `club.toml`, ...); any .toml file with the
same schema can be given by path. Schema (every key optional except as noted; missing keys take
the stage defaults, and `Preset.to_toml()` writes them all out)::

    name = "stadium"            # defaults to the file name
    description = "One line."   # shown by `liveify presets list`
    model = true                # run the learned live model before the DSP stages
    model_strength = 1.0        # how much of the model's change to apply [0, 1] (0 = none)
    model_max_gain_db = 6.0     # bound of the model's gain per band, boost or cut [1, 24]
    lead_in_s = 6.0             # crowd-only seconds the renderer adds before each track [0, 60]
    tail_s = 12.0               # seconds after each track for reverb tail and applause [0, 120]

    [venue]                     # liveify.VenueReverb parameters (rt60_s, room_size_m, ...)
    [pa]                        # liveify.plugins.pa.pa_colouring parameters (low_cut_hz, ...)
    [crowd]                     # liveify.Crowd parameters (size, intensity, clap_along, ...)

    [[plugins]]                 # optional, any number: VST3/AU plugins run after the venue
    path = "Plugins/Shimmer.vst3"          # relative paths are relative to the preset file
    parameters = { mix = 0.3 }             # set by name on the loaded plugin
    [[plugins]]                 # or one of pedalboard's built-in plugins, by class name
    builtin = "PitchShift"
    parameters = { semitones = 0.1 }       # its constructor's arguments

The seed is not part of a preset; pass it to `Preset.build_stages(seed=...)`. Unknown keys, wrong
types and out-of-range values raise PresetError naming the file and the dotted key.

>>> list_presets()[:2]
[('arena', '...'), ('cathedral', '...')]
>>> stages = load_preset("stadium").build_stages(seed=1)   # [PA board, Crowd, VenueReverb]
>>> reverb = load_preset("arena").build_venue()            # or one stage: build_pa, build_crowd
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from os import PathLike
from pathlib import Path

from liveify.errors import PresetError
from liveify.plugins.base import RangeParameter, parameter_specs
from liveify.plugins.crowd import Crowd
from liveify.plugins.pa import PA_PARAMETERS, pa_colouring
from liveify.plugins.venue import VenueReverb

__all__ = ["PluginSpec", "Preset", "list_presets", "load_preset"]

_APPLAUSE_S = parameter_specs(Crowd)["applause_s"]

_TOP_LEVEL = {
    "model": RangeParameter(True, kind=bool, name="model"),
    "model_strength": RangeParameter(1.0, 0.0, 1.0, name="model_strength"),
    "model_max_gain_db": RangeParameter(6.0, 1.0, 24.0, name="model_max_gain_db"),
    "lead_in_s": RangeParameter(4.0, 0.0, 60.0, name="lead_in_s"),
    "tail_s": RangeParameter(8.0, 0.0, 120.0, name="tail_s"),
}
_STAGE_KEYS = ("venue", "pa", "crowd")


def _section_specs() -> dict[str, dict[str, RangeParameter]]:
    """Allowed keys per stage table: the stage parameters, less the seed (a render option)."""
    venue = {k: v for k, v in parameter_specs(VenueReverb).items() if k != "seed"}
    crowd = {k: v for k, v in parameter_specs(Crowd).items() if k != "seed"}
    return {"venue": venue, "pa": dict(PA_PARAMETERS), "crowd": crowd}


@dataclass(frozen=True)
class PluginSpec:
    """A plugin of a preset: a VST3/AU file (absolute path) or a built-in pedalboard plugin
    (`builtin`, its class name), with parameter values to set by name."""

    path: str | None = None
    parameters: dict = field(default_factory=dict, hash=False)
    builtin: str | None = None

    @property
    def label(self) -> str:
        return self.path or f"pedalboard.{self.builtin}"

    def load(self):
        """The plugin, loaded with `pedalboard.load_plugin` (or built), parameters set."""
        import pedalboard

        if self.builtin is not None:
            try:
                return getattr(pedalboard, self.builtin)(**self.parameters)
            except (TypeError, ValueError) as error:
                raise PresetError(f"plugin {self.label}: {error}") from None
        try:
            plugin = pedalboard.load_plugin(self.path)
        except Exception as error:  # pedalboard raises ImportError/RuntimeError/ValueError
            raise PresetError(f"plugin {self.path}: cannot be loaded ({error})") from None
        for key, value in self.parameters.items():
            if key not in plugin.parameters:
                known = ", ".join(sorted(plugin.parameters)) or "none"
                raise PresetError(f"plugin {self.path}: no parameter {key!r} (it has: {known})")
            try:
                setattr(plugin, key, value)
            except (ValueError, TypeError) as error:
                raise PresetError(
                    f"plugin {self.path}: {key} = {value!r} rejected ({error})"
                ) from None
        return plugin


@dataclass(frozen=True)
class Preset:
    """A resolved venue preset: every stage parameter filled in, plugins with absolute paths.

    >>> preset = load_preset("arena")
    >>> preset.venue["rt60_s"], preset.crowd["size"]
    (2.0, 15000)
    >>> board = liveify.Chain(preset.build_stages(seed=0))
    """

    name: str
    description: str = ""
    model: bool = True
    model_strength: float = 1.0
    model_max_gain_db: float = 6.0
    lead_in_s: float = 4.0
    tail_s: float = 8.0
    venue: dict = field(default_factory=dict, hash=False)
    pa: dict = field(default_factory=dict, hash=False)
    crowd: dict = field(default_factory=dict, hash=False)
    plugins: tuple[PluginSpec, ...] = field(default=(), hash=False)
    #: The preset file a user preset was read from (None for bundled presets); not part of the
    #: preset's content, so an edited copy compares by what it sets.
    file: str | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        return (
            f"<liveify.Preset {self.name!r}: venue rt60_s={self.venue.get('rt60_s')} "
            f"room_size_m={self.venue.get('room_size_m')}, crowd size={self.crowd.get('size')}, "
            f"model {'on' if self.model else 'off'}, {len(self.plugins)} external plugins>"
        )

    def build_stages(self, *, seed: int = 0) -> list:
        """Instantiated stages in render order: PA board, Crowd, VenueReverb, external plugins.

        The crowd stands in the venue, so it is reverberated with the band; and it hears the dry
        PA, so it cheers as the last chord ends instead of waiting for the reverb to die away.
        Its applause is shortened where needed to die away, with the venue's ring-out, within the
        tail (`applause_in_tail`). The learned model stage is not included; the renderer puts it
        first when `model` is true.
        """
        stages = [
            self.build_pa(),
            self.build_crowd(seed=seed, applause_s=self.applause_in_tail()),
            self.build_venue(seed=seed),
        ]
        return stages + [plugin.load() for plugin in self.plugins]

    def build_venue(self, *, seed: int = 0) -> VenueReverb:
        """The preset's venue reverb (its `[venue]` table), with the impulse response's `seed`."""
        return VenueReverb(**self.venue, seed=seed)

    def build_pa(self):
        """The preset's PA colouring (its `[pa]` table) as a `pedalboard.Pedalboard`."""
        return pa_colouring(**self.pa)

    def build_crowd(self, *, seed: int = 0, **overrides) -> Crowd:
        """The preset's crowd (its `[crowd]` table, with `overrides`), seeded with `seed`.

        Its `applause_s` is the preset's as written; `build_stages` shortens it to fit the tail.
        """
        return Crowd(**{**self.crowd, **overrides}, seed=seed)

    def applause_in_tail(self) -> float:
        """The crowd's `applause_s`, shortened where needed so that the applause and the venue's
        ring-out (half its `rt60_s`) end before the tail does: a file that cuts the applause off
        gives a live render away."""
        room_s = self.tail_s - self.venue.get("rt60_s", 0.0) / 2
        applause_s = self.crowd.get("applause_s", _APPLAUSE_S.default)
        return max(min(applause_s, room_s), _APPLAUSE_S.low)

    def to_toml(self) -> str:
        """The fully resolved preset as TOML text that `load_preset` reads back to an equal Preset."""
        lines = [
            f"name = {_toml_value(self.name)}",
            f"description = {_toml_value(self.description)}",
        ]
        lines += [f"{key} = {_toml_value(getattr(self, key))}" for key in _TOP_LEVEL]
        for section in _STAGE_KEYS:
            lines += ["", f"[{section}]"]
            lines += [
                f"{key} = {_toml_value(value)}" for key, value in getattr(self, section).items()
            ]
        for plugin in self.plugins:
            inline = ", ".join(
                f"{_toml_key(k)} = {_toml_value(v)}" for k, v in plugin.parameters.items()
            )
            where = (
                f"path = {_toml_value(plugin.path)}"
                if plugin.path is not None
                else f"builtin = {_toml_value(plugin.builtin)}"
            )
            lines += ["", "[[plugins]]", where, f"parameters = {{{inline}}}"]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(
        cls, text: str, *, source: str = "<string>", base_dir: Path | None = None
    ) -> Preset:
        """Parse and validate preset TOML; `source` names it in errors, `base_dir` anchors plugin paths."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise PresetError(f"{source}: not valid TOML ({error})") from None
        return _validate(data, source=source, base_dir=base_dir or Path.cwd())


def _toml_key(key: str) -> str:
    bare = key and all(c.isalnum() or c in "-_" for c in key) and key.isascii()
    return key if bare else json.dumps(key)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PresetError(f"cannot write {value!r} to TOML")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    raise PresetError(f"cannot write {type(value).__name__} value {value!r} to TOML")


def _unknown(source: str, dotted: str, allowed) -> PresetError:
    allowed = sorted(allowed)
    last = dotted.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(last, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return PresetError(f"{source}: unknown key {dotted}{hint} (allowed: {', '.join(allowed)})")


def _check(source: str, dotted: str, spec: RangeParameter, value):
    problem = spec.problem(value)
    if problem is not None:
        raise PresetError(f"{source}: {dotted} = {value!r} {problem}")
    return spec.kind(value)


def _validate(data: dict, *, source: str, base_dir: Path) -> Preset:
    allowed = {"name", "description", *_TOP_LEVEL, *_STAGE_KEYS, "plugins"}
    for key in data:
        if key not in allowed:
            raise _unknown(source, key, allowed)
    text = {}
    for key in ("name", "description"):
        value = data.get(key, Path(source).stem if key == "name" else "")
        if not isinstance(value, str) or "\n" in value:
            raise PresetError(f"{source}: {key} = {value!r} must be a one-line string")
        text[key] = value
    top = {
        key: _check(source, key, spec, data.get(key, spec.default))
        for key, spec in _TOP_LEVEL.items()
    }

    sections = {}
    for section, specs in _section_specs().items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise PresetError(f"{source}: {section} must be a table ([{section}]), got {table!r}")
        for key in table:
            if key not in specs:
                raise _unknown(source, f"{section}.{key}", specs)
        sections[section] = {
            key: _check(source, f"{section}.{key}", spec, table.get(key, spec.default))
            for key, spec in specs.items()
        }
    plugins = _plugin_specs(data, source=source, base_dir=base_dir)
    return Preset(**text, **top, **sections, plugins=plugins)


def _plugin_specs(data: dict, *, source: str, base_dir: Path) -> tuple[PluginSpec, ...]:
    """The preset's [[plugins]] tables, checked: pedalboard built-ins by name, or plugin files."""
    entries = data.get("plugins", [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise PresetError(f"{source}: plugins must be an array of tables ([[plugins]])")
    plugins = []
    for index, entry in enumerate(entries):
        where = f"plugins[{index}]"
        for key in entry:
            if key not in ("path", "builtin", "parameters"):
                raise _unknown(source, f"{where}.{key}", ("path", "builtin", "parameters"))
        parameters = entry.get("parameters", {})
        if not isinstance(parameters, dict) or not all(
            isinstance(v, (bool, int, float, str)) for v in parameters.values()
        ):
            raise PresetError(
                f"{source}: {where}.parameters must be a table of numbers, booleans or strings"
            )
        if "builtin" in entry:
            plugins.append(PluginSpec(None, dict(parameters), _builtin(source, where, entry)))
            continue
        if not isinstance(entry.get("path"), str):
            raise PresetError(f"{source}: {where}.path must be the plugin file's path (a string)")
        path = Path(entry["path"]).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if not path.exists():
            raise PresetError(f"{source}: {where}.path: plugin file {path} does not exist")
        plugins.append(PluginSpec(str(path.resolve()), dict(parameters)))
    return tuple(plugins)


def _builtin(source: str, where: str, entry: dict) -> str:
    """The class name of a built-in pedalboard plugin, checked without importing pedalboard's
    plugins beyond the name lookup."""
    name = entry["builtin"]
    if "path" in entry:
        raise PresetError(f"{source}: {where}: give either path or builtin, not both")
    import pedalboard

    plugin_class = getattr(pedalboard, str(name), None) if isinstance(name, str) else None
    if not (isinstance(plugin_class, type) and issubclass(plugin_class, pedalboard.Plugin)) or (
        name in ("Plugin", "Pedalboard", "Chain", "Mix", "ExternalPlugin", "VST3Plugin")
    ):
        raise PresetError(
            f"{source}: {where}.builtin = {name!r} is not a pedalboard plugin class "
            "(e.g. PitchShift, Chorus, Delay; VST3/AU files go in path)"
        )
    return name


def _bundled() -> dict[str, object]:
    folder = resources.files(__name__)
    return {
        entry.name[: -len(".toml")]: entry
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    }


def list_presets() -> list[tuple[str, str]]:
    """The bundled presets as (name, one-line description), sorted by name."""
    return [(name, load_preset(name).description) for name in sorted(_bundled())]


def load_preset(name_or_path: str | PathLike) -> Preset:
    """Load a bundled preset by name (`"stadium"`) or any preset file by path (`"my.toml"`)."""
    bundled = _bundled()
    text_name = str(name_or_path)
    if not isinstance(name_or_path, PathLike) and text_name in bundled:
        entry = bundled[text_name]
        return Preset.from_toml(entry.read_text(encoding="utf-8"), source=entry.name)
    path = Path(name_or_path).expanduser()
    if path.suffix.lower() != ".toml" and not path.exists():
        raise PresetError(
            f"unknown preset {text_name!r}; bundled presets: {', '.join(sorted(bundled))}, "
            "or give the path of a .toml preset file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetError(f"{path}: preset file does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PresetError(f"{path}: cannot read preset file ({error})") from None
    preset = Preset.from_toml(text, source=str(path), base_dir=path.resolve().parent)
    return dataclasses.replace(preset, file=str(path.resolve()))
