"""Loading and validating ``params.yaml``.

Every stage reads the same file; each module turns its own section into a typed config with the checkers below,
so a nonsense value fails at start-up with the key and the reason, not deep inside a run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from add.errors import AddError

DEFAULT_PARAMS = "params.yaml"


class ParamsError(AddError, ValueError):
    """A parameter is missing or has a value that makes no sense."""


def load_params(path: str | os.PathLike = DEFAULT_PARAMS) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    try:
        params = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level, got {type(params).__name__}")
    return params


def section(params: dict[str, Any], name: str) -> dict[str, Any]:
    """``params[name]`` as a dict (empty when absent)."""
    value = params.get(name, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParamsError(f"params '{name}' must be a mapping, got {value!r}")
    return value


def get_seed(params: dict[str, Any]) -> int:
    """The top-level ``seed`` (default 0): every random choice of every stage derives from it."""
    seed = params.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParamsError(f"params 'seed' must be an integer >= 0, got {seed!r}")
    return seed


def get_int(cfg: dict, key: str, default: Any, *, where: str, min: int | None = None, max: int | None = None,
            allow_none: bool = False) -> int | None:
    value = cfg.get(key, default)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(f"params '{where}.{key}' must be an integer, got {value!r}")
    if min is not None and value < min:
        raise ParamsError(f"params '{where}.{key}' must be >= {min}, got {value}")
    if max is not None and value > max:
        raise ParamsError(f"params '{where}.{key}' must be <= {max}, got {value}")
    return value


def get_float(cfg: dict, key: str, default: Any, *, where: str, min: float | None = None,
              max: float | None = None, allow_none: bool = False) -> float | None:
    value = cfg.get(key, default)
    if value is None and allow_none:
        return None
    if isinstance(value, str):
        # YAML 1.1 reads 2e-4 (no dot) as a string; `dvc exp run -S train.lr=2e-4` must still work.
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParamsError(f"params '{where}.{key}' must be a number, got {value!r}")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ParamsError(f"params '{where}.{key}' must be finite, got {value}")
    if min is not None and value < min:
        raise ParamsError(f"params '{where}.{key}' must be >= {min}, got {value}")
    if max is not None and value > max:
        raise ParamsError(f"params '{where}.{key}' must be <= {max}, got {value}")
    return value


def get_bool(cfg: dict, key: str, default: Any, *, where: str) -> bool:
    value = cfg.get(key, default)
    if not isinstance(value, bool):
        raise ParamsError(f"params '{where}.{key}' must be true or false, got {value!r}")
    return value


def get_str(cfg: dict, key: str, default: Any, *, where: str, allow_none: bool = False) -> str | None:
    value = cfg.get(key, default)
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not value:
        raise ParamsError(f"params '{where}.{key}' must be a non-empty string, got {value!r}")
    return value


def get_choice(cfg: dict, key: str, default: Any, choices: Iterable[str], *, where: str) -> str:
    choices = list(choices)
    value = cfg.get(key, default)
    if value not in choices:
        raise ParamsError(f"params '{where}.{key}' must be one of {choices}, got {value!r}")
    return value


def get_list(cfg: dict, key: str, default: Any, *, where: str, choices: Iterable[str] | None = None,
             nonempty: bool = True) -> list:
    value = cfg.get(key, default)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ParamsError(f"params '{where}.{key}' must be a list, got {value!r}")
    if nonempty and not value:
        raise ParamsError(f"params '{where}.{key}' must not be empty")
    if choices is not None:
        choices = list(choices)
        bad = [v for v in value if v not in choices]
        if bad:
            raise ParamsError(f"params '{where}.{key}': unknown value(s) {bad}; choose from {choices}")
    if len(set(map(str, value))) != len(value):
        raise ParamsError(f"params '{where}.{key}' has duplicates: {value}")
    return value
