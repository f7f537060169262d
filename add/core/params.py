"""``params.yaml`` as one typed, frozen object, read once per process: :class:`Params`.

The schema is :mod:`add.core.params_schema`: one frozen dataclass per section, whose fields are the keys (a key is
valid when it is a field; its type and bounds are the field's annotation and metadata). This module parses and
validates a file against it, and re-exports the sections for callers.

One rule for every number (:func:`number`): ``20``, ``20.0``, ``2e1``, ``1e-3`` (YAML 1.1 reads the last two as
strings, and so does ``dvc exp run -S beta=2e1``) are numbers; an integer key takes any of them that is whole.
Anything else is a :class:`ParamsError` naming the key, as is an unknown key (naming the closest valid one).

    params = load_params()          # the Params of params.yaml, parsed once per file version
    params.train.lr, params.beta    # typed, defaults filled in

``uv run add params`` (:mod:`add.tools.params`) prints the resolved params as YAML (every default filled in) or
the one-line error.
This module imports nothing heavy: the data stages and the extraction workers load it.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from add.core.errors import ParamsError
from add.core.params_schema import (
    CROSS_FORMATS,
    DEFAULT_BETA,
    FLOAT32_MAX_EXPONENT,
    CrossEntry,
    Data,
    Demo,
    Distill,
    Evaluate,
    Gallery,
    Model,
    Params,
    Section,
    Shards,
    Students,
    Teacher,
    Train,
    entries,
    items,
    num,
    read_whole,
    recording,
)

__all__ = ["CROSS_FORMATS", "DEFAULT_BETA", "DEFAULT_PARAMS", "FLOAT32_MAX_EXPONENT", "CrossEntry", "Data", "Demo",
           "Distill", "Evaluate", "Gallery", "Model", "Params", "ParamsError", "Section", "Shards", "Students",
           "Teacher", "Train", "as_params", "entries", "items", "load_params", "num", "number", "parse_params",
           "parse_section", "read_whole", "recording"]

DEFAULT_PARAMS = "params.yaml"


# --------------------------------------------------------------------------------------------------------- parse
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def number(value: Any, key: str, *, integer: bool = False) -> int | float:
    """The one number rule: an int, a float or a decimal string (``2e1``, ``1e-3``), finite; ``integer``: whole."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        text = value.strip()
        value = int(text) if text.lstrip("+-").isdigit() else float(text)
    if isinstance(value, bool) or not isinstance(value, int | float):
        example = "20 or 2e1" if integer else "20, 0.5, 1e-3 or 2e1"
        raise ParamsError(f"params '{key}' must be {kind}, got {value!r} (e.g. {example})")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParamsError(f"params '{key}' must be finite, got {value}")
        if integer:
            if not value.is_integer():
                raise ParamsError(f"params '{key}' must be {kind}, got {value!r}")
            value = int(value)
    return value if integer else float(value)


def _bounded(value: int | float, key: str, meta: Mapping[str, Any]) -> int | float:
    for name, ok, words in (("min", lambda v, b: v >= b, ">="), ("max", lambda v, b: v <= b, "<="),
                            ("gt", lambda v, b: v > b, ">"), ("lt", lambda v, b: v < b, "<")):
        if name in meta and not ok(value, meta[name]):
            raise ParamsError(f"params '{key}' must be {words} {meta[name]:g}, got {value:g}")
    return value


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Section)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(tp: Any, value: Any, key: str, meta: Mapping[str, Any]) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        return None if value is None else _convert(inner[0], value, key, meta)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ParamsError(f"params '{key}' must be one of {list(choices)}, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"params '{key}' must be true or false, got {value!r}")
        return value
    if tp in (int, float):
        return _bounded(number(value, key, integer=tp is int), key, meta)
    if tp is str:
        if not isinstance(value, str) or not value:
            raise ParamsError(f"params '{key}' must be a non-empty string, got {value!r}")
        return value
    if origin is tuple:
        item = get_args(tp)[0]
        if isinstance(value, str) and item is str:
            value = [value]
        if not isinstance(value, list | tuple):
            raise ParamsError(f"params '{key}' must be a list, got {value!r}")
        if meta.get("nonempty", True) and not value:
            raise ParamsError(f"params '{key}' must not be empty")
        if _is_section(item):
            return tuple(parse_section(item, v, f"{key}[{i}]", record_as=None) for i, v in enumerate(value))
        choices = meta.get("choices")
        if choices is not None:
            bad = [v for v in value if v not in choices]
            if bad:
                raise ParamsError(f"params '{key}': unknown value(s) {bad}; choose from {list(choices)}")
        out = tuple(_convert(item, v, f"{key}[{i}]", meta) for i, v in enumerate(value))
        if item is str and len(set(out)) != len(out):
            raise ParamsError(f"params '{key}' has duplicates: {list(out)}")
        return out
    if _is_section(tp):
        return parse_section(tp, value, key)
    raise TypeError(f"add.core.params: field {key} has an unsupported type {tp!r}")


def _unknown_key(where: str, key: Any, allowed: list[str]) -> ParamsError:
    full = f"{where}.{key}" if where else str(key)
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    if close:
        hint = f"did you mean '{where + '.' if where else ''}{close[0]}'?"
    else:
        hint = f"valid keys{' of ' + repr(where) if where else ''}: {', '.join(sorted(allowed))}"
    return ParamsError(f"params '{full}' is not a known key; {hint}")


def parse_section(cls: type[Section], raw: Any, where: str, *, record_as: str | None | bool = True) -> Any:
    """``raw`` (a mapping, or None for all defaults) as the dataclass ``cls``; ``where`` names it in errors.
    ``record_as``: the key its reads are recorded under (True: ``where``; None: not recorded)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ParamsError(f"params '{where}' must be a mapping, got {raw!r}")
    names = [f.name for f in fields(cls)]
    for key in raw:
        if key in cls.MOVED:
            raise ParamsError(f"params '{where}.{key}' is not a key of '{where}': {cls.MOVED[key]}")
        if key not in names:
            raise _unknown_key(where, key, names)
    hints = _hints(cls)
    values = {f.name: _convert(hints[f.name], raw[f.name], f"{where}.{f.name}" if where else f.name, f.metadata)
              for f in fields(cls) if f.name in raw}
    obj = cls(**values)
    _set_key(obj, where if record_as is True else record_as)
    obj.check()
    return obj


def _set_key(obj: Section, key: str | None) -> None:
    object.__setattr__(obj, "_key", key)
    for f in fields(obj):
        value = object.__getattribute__(obj, f.name)
        if isinstance(value, Section):
            _set_key(value, f.name if key == "" else None if key is None else f"{key}.{f.name}")


def parse_params(raw: Any) -> Params:
    """A params mapping (as read from YAML) as :class:`Params`; :class:`ParamsError` naming the key otherwise."""
    if not isinstance(raw, Mapping):
        raise ParamsError(f"expected a mapping at the top level, got {type(raw).__name__}")
    return parse_section(Params, raw, "")


def as_params(params: Params | Mapping[str, Any] | None) -> Params:
    """``params`` when it is a :class:`Params` already; a mapping is parsed (tests, scripts)."""
    if isinstance(params, Params):
        return params
    return parse_params({} if params is None else params)


_LOADED: dict[tuple, Params] = {}


def load_params(path: str | os.PathLike = DEFAULT_PARAMS) -> Params:
    """The :class:`Params` of ``path``, parsed once per process (per content of the file)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    key = (str(path.resolve()), text)
    if key not in _LOADED:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ParamsError(f"{path}: not valid YAML: {e}") from None
        try:
            _LOADED[key] = parse_params(raw)
        except ParamsError as e:
            raise ParamsError(f"{path}: {e}") from None
    return _LOADED[key]
