"""Loading and validating ``params.yaml``.

Every stage reads the same file through :func:`load_params`, which rejects any key that :data:`SCHEMA` does not
list (naming the closest valid one), so a misspelt key fails at start-up instead of silently running the default.
Each module then turns its own section into a typed config with the checkers below, so a nonsense value fails at
start-up with the key and the reason, not deep inside a run.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from add.errors import AddError

DEFAULT_PARAMS = "params.yaml"


class ParamsError(AddError, ValueError):
    """A parameter is missing or has a value that makes no sense."""


# Every key params.yaml may hold: section -> its keys; "" is the top level, whose other keys are the sections.
# Adding a key (or a section) is one line here.
SCHEMA: dict[str, tuple[str, ...]] = {
    "": ("seed", "beta", "cross"),  # cross: a list of datasets (add.cross.config)
    "data": ("source", "root", "download", "agree_tos", "server", "splits_url", "methods", "qualities", "max_videos",
             "frames_per_video", "sampling", "image_size", "jobs", "detect_threshold", "detect_upsample",
             "detect_max_side", "detect_size_tolerance", "box_scale", "reuse_boxes"),
    "demo": ("pairs", "frames", "width", "height", "fps", "jobs", "strength"),
    "shards": ("max_samples_per_shard",),
    "model": ("name", "pretrained", "weights"),
    "train": ("epochs", "batch_size", "lr", "val_per_epoch", "patience", "warmup_epochs", "num_workers", "max_steps",
              "pct_start", "deterministic", "threads"),
    "distill": ("method", "quality", "init_from_teacher"),  # + the loss keys of add.losses.config (below)
    "students": ("qualities", "distill"),
    "evaluate": ("teacher_qualities",),
    "gallery": ("faces_per_class",),
}
# Keys a section takes from the config class of another module, (module, attribute): the distiller's keys are the
# fields of add.losses.config.DistillConfig. Importing add.losses costs torch, which the data stages never load, so
# that section is checked in the processes that have the module loaded: the stages that read it (add distill).
SCHEMA_FROM: dict[str, tuple[str, str]] = {"distill": ("add.losses.config", "CONFIG_KEYS")}


def allowed_keys(name: str) -> tuple[str, ...] | None:
    """The keys of section ``name`` ("" = top level); None when they cannot be known in this process (yet)."""
    if name == "":
        return (*SCHEMA[""], *(s for s in SCHEMA if s))
    keys = SCHEMA[name]
    if name in SCHEMA_FROM:
        module, attribute = SCHEMA_FROM[name]
        if module not in sys.modules:
            return None
        keys = (*keys, *getattr(sys.modules[module], attribute))
    return keys


def _unknown_key(where: str, key: Any, allowed: tuple[str, ...]) -> ParamsError:
    full = f"{where}.{key}" if where else str(key)
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    if close:
        hint = f"did you mean '{where + '.' if where else ''}{close[0]}'?"
    else:
        hint = f"valid keys{' of ' + repr(where) if where else ''}: {', '.join(sorted(allowed))}"
    return ParamsError(f"params '{full}' is not a known key; {hint}")


def check_keys(params: dict[str, Any]) -> None:
    """Refuse a key that :data:`SCHEMA` does not list, at the top level or in a section, naming the closest one."""
    top = allowed_keys("")
    for key in params:
        if key not in top:
            raise _unknown_key("", key, top)
    for name in SCHEMA:
        if not name or params.get(name) is None:
            continue
        cfg = section(params, name)
        allowed = allowed_keys(name)
        if allowed is None:
            continue
        for key in cfg:
            if key not in allowed:
                raise _unknown_key(name, key, allowed)


def load_params(path: str | os.PathLike = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read and check ``params.yaml``: a mapping whose keys are all in :data:`SCHEMA`."""
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
    try:
        check_keys(params)
    except ParamsError as e:
        raise ParamsError(f"{path}: {e}") from None
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
