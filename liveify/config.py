"""Settings dataclasses: the dict round trip they share, and fields that declare themselves once.

Configs travel as plain dicts through checkpoints, ONNX metadata and cache keys; reading one back
with a key this version does not know is an error that names the key, not a silent drop.

A field made with `setting(default, help=..., range=...)` states its default, its valid range and
its help text in one place: `DictConfig.check_settings()` validates instances against it, and
`click_params()` turns the same fields into command-line options (`liveify train`).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from liveify.errors import ParameterError


@dataclass(frozen=True)
class Range:
    """Allowed values of a number: `Range(0, 1, max_open=True)` is 0 <= x < 1."""

    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False

    def __contains__(self, value) -> bool:
        if self.min is not None and (value <= self.min if self.min_open else value < self.min):
            return False
        return self.max is None or (value < self.max if self.max_open else value <= self.max)

    def __str__(self) -> str:
        low = None if self.min is None else f"{'>' if self.min_open else '>='} {self.min:g}"
        high = None if self.max is None else f"{'<' if self.max_open else '<='} {self.max:g}"
        return " and ".join(part for part in (low, high) if part)


def setting(  # noqa: PLR0913  each keyword is one part of a field's metadata, as in dataclasses.field
    default: Any = dataclasses.MISSING,
    *,
    help: str = "",
    range: Range | None = None,
    choices: tuple | None = None,
    type: type | None = None,
    option: str | None = None,
    path: str | None = None,
    show_default: str | None = None,
    cli: bool = True,
) -> Any:
    """A dataclass field whose default, range and help are written once, here.

    Parameters
    ----------
    default : the default value.
    help : the command-line help (what the value does to the result).
    range : valid numbers; checked by `check_settings` and by the generated option.
    choices : the valid values of a string setting.
    type : the value type where the default does not say it (a default of None).
    option : the option's name without dashes, when it differs from the field's
        (`use-augmentation/no-augmentation` for a boolean pair).
    path : "file" or "dir": the option takes a path (not checked for existence).
    show_default : text shown as the default where the default is computed at run time.
    cli : False keeps the field off the command line.
    """
    metadata = {
        "help": help,
        "range": range,
        "choices": tuple(choices) if choices else None,
        "type": type,
        "option": option,
        "path": path,
        "show_default": show_default,
        "cli": cli,
    }
    return dataclasses.field(default=default, metadata=metadata)


def _value_type(field: dataclasses.Field) -> type | None:
    declared = field.metadata.get("type")
    if declared is not None:
        return declared
    if field.default is not dataclasses.MISSING and field.default is not None:
        return type(field.default)
    return None


_KINDS = {int: "an integer", float: "a number", bool: "True or False", str: "a string"}


def check_value(owner: str, field: dataclasses.Field, value: Any) -> None:
    """ParameterError naming `owner.field` unless `value` has the field's type, range and choice."""
    name = f"{owner}.{field.name}"
    if value is None and field.default is None:
        return
    expected = _value_type(field)
    if expected is not None:
        if expected in (int, float):  # an int is a float too; a bool is neither here
            allowed = (int, float) if expected is float else int
            valid = isinstance(value, allowed) and not isinstance(value, bool)
        else:
            valid = isinstance(value, expected)
        if not valid:
            kind = _KINDS.get(expected, f"a {expected.__name__}")
            raise ParameterError(f"{name} = {value!r} must be {kind}")
    limits = field.metadata.get("range")
    if limits is not None and value not in limits:
        raise ParameterError(f"{name} = {value!r} is out of range (must be {limits})")
    choices = field.metadata.get("choices")
    if choices and value not in choices:
        raise ParameterError(f"{name} = {value!r} is not one of {', '.join(map(str, choices))}")


class DictConfig:
    """Mixin for settings dataclasses: `to_dict()`, a strict `from_dict()` and field checks."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
        return cls(**values)

    def check_settings(self, *, skip: tuple[str, ...] = ()) -> None:
        """Check every `setting()` field of this instance but `skip` (from `__post_init__`)."""
        for field in dataclasses.fields(self):
            if "range" in field.metadata and field.name not in skip:
                check_value(type(self).__name__, field, getattr(self, field.name))


# --- command-line options from settings ----------------------------------------------------------


def option_names(field: dataclasses.Field) -> list[str]:
    """`--batch-size` for field batch_size, plus the underscore spelling `--batch_size`."""
    base = field.metadata.get("option") or field.name.replace("_", "-")
    names = [f"--{part}" for part in base.split("/")]
    declarations = ["/".join(names)]
    underscored = "/".join(name.replace("-", "_").replace("__", "--", 1) for name in names)
    if underscored != declarations[0]:
        declarations.append(underscored)
    return declarations


def click_params(config_class, *, help: dict[str, str] | None = None) -> list:
    """One click option per `setting()` field of `config_class`.

    Types, ranges, choices, defaults and help come from the fields; every option also accepts
    its underscore spelling (hidden from --help). The command receives each value under the
    field's name. For a dataclass whose fields are not `setting()`s, `help` names the fields to
    offer and their help (type and default then come from the field's default).
    """
    import click

    params = []
    for field in dataclasses.fields(config_class):
        if help is not None:
            if field.name in help:
                params.append(_click_option(click, field, help[field.name]))
        elif field.metadata.get("cli", False):
            params.append(_click_option(click, field, field.metadata.get("help")))
    return params


def _click_type(click, field: dataclasses.Field):
    meta = field.metadata
    if meta.get("choices"):
        return click.Choice([str(choice) for choice in meta["choices"]])
    if meta.get("path"):
        return click.Path(file_okay=meta["path"] == "file", dir_okay=meta["path"] == "dir")
    value_type = _value_type(field)
    limits = meta.get("range")
    if value_type in (int, float) and limits is not None:
        kind = click.IntRange if value_type is int else click.FloatRange
        return kind(limits.min, limits.max, min_open=limits.min_open, max_open=limits.max_open)
    return value_type


def _click_option(click, field: dataclasses.Field, help_text: str | None):
    meta = field.metadata
    if field.default is not dataclasses.MISSING:
        default = field.default
    elif field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    else:
        default = None
    keywords = {"default": default, "help": help_text or None}
    if isinstance(default, bool) and "/" not in (meta.get("option") or ""):
        keywords["is_flag"] = True
    else:
        if not isinstance(default, bool):
            keywords["type"] = _click_type(click, field)
        keywords["show_default"] = meta.get("show_default") or default is not None
    return spec_spelling_option_class()([*option_names(field), field.name], **keywords)


@functools.cache
def spec_spelling_option_class():
    import click

    class SpecSpellingOption(click.Option):
        """A click option whose underscore spellings work but are left out of --help."""

        def get_help_record(self, ctx):
            shown = self.opts, self.secondary_opts
            self.opts = [name for name in shown[0] if "_" not in name]
            self.secondary_opts = [name for name in shown[1] if "_" not in name]
            try:
                return super().get_help_record(ctx)
            finally:
                self.opts, self.secondary_opts = shown

    return SpecSpellingOption
