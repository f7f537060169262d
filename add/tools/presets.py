"""``add preset NAME``: write ``params.yaml`` for one of the shipped experiments (``presets/NAME.yaml``).

A preset holds only the keys that differ from ``params.yaml`` (the demo), nested like it; ``extends: OTHER`` starts
from another preset. The command sets those keys in ``params.yaml`` in place — its comments and every other key
stay, so ``git diff params.yaml`` shows exactly what the experiment changes — after checking the result as the
stages will (:func:`add.core.params.parse_params`).

    uv run add preset ffpp-paper            # then: git diff params.yaml; uv run dvc repro
    uv run add preset --list
"""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from add.core.errors import AddError
from add.core.io import atomic_write_text
from add.core.params import DEFAULT_PARAMS, parse_params

PRESETS = Path(__file__).resolve().parents[2] / "presets"
EXTENDS = "extends"


class PresetError(AddError):
    """An unknown preset, a preset that is not a mapping, or a key params.yaml does not have."""


def names(folder: str | os.PathLike = PRESETS) -> list[str]:
    return sorted(p.stem for p in Path(folder).glob("*.yaml"))


def changes(name: str, folder: str | os.PathLike = PRESETS, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The keys preset ``name`` sets (its ``extends`` chain applied first), nested."""
    path = Path(folder) / f"{name}.yaml"
    if not path.is_file():
        raise PresetError(f"{path}: no such preset; choose from {names(folder)}")
    if name in _seen:
        raise PresetError(f"{path}: 'extends' loops back to {name!r}")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise PresetError(f"{path}: expected a mapping of params keys")
    raw = dict(raw)
    base = raw.pop(EXTENDS, None)
    return _merge(changes(base, folder, (*_seen, name)) if base else {}, raw)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def resolved(name: str, params: str | os.PathLike = DEFAULT_PARAMS, folder: str | os.PathLike = PRESETS) -> dict:
    """``params`` with preset ``name`` applied, as a plain mapping (what ``add preset`` writes)."""
    base = yaml.safe_load(Path(params).read_text(encoding="utf-8")) or {}
    return _merge(base, changes(name, folder))


def _set(doc: Any, values: Mapping[str, Any], where: str, path: Path) -> None:
    for key, value in values.items():
        full = f"{where}.{key}" if where else key
        if key not in doc:
            raise PresetError(f"{path}: has no key {full!r} to set (a preset only changes keys params.yaml has)")
        if isinstance(value, dict) and isinstance(doc[key], dict):
            _set(doc[key], value, full, path)
        else:
            doc[key] = _flow(value)


def _flow(value: Any) -> Any:
    """Lists written inline ([a, b]), as params.yaml writes them."""
    from ruamel.yaml.comments import CommentedSeq

    if isinstance(value, list):
        seq = CommentedSeq(value)
        seq.fa.set_flow_style()
        return seq
    return value


def apply(name: str, params: str | os.PathLike = DEFAULT_PARAMS, folder: str | os.PathLike = PRESETS) -> Path:
    """Set preset ``name``'s keys in ``params`` in place (comments kept); the result is checked before writing."""
    from ruamel.yaml import YAML

    path = Path(params)
    parse_params(resolved(name, path, folder))  # refuse before writing anything
    rt = YAML()
    rt.width = 120
    rt.preserve_quotes = True
    rt.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    doc = rt.load(path.read_text(encoding="utf-8"))
    _set(doc, changes(name, folder), "", path)
    buffer = io.StringIO()
    rt.dump(doc, buffer)
    atomic_write_text(path, buffer.getvalue())
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="add preset", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", help="preset (presets/NAME.yaml)")
    parser.add_argument("--params", default=DEFAULT_PARAMS, help="params file to change (default: %(default)s)")
    parser.add_argument("--list", action="store_true", help="list the presets")
    args = parser.parse_args(argv)
    if args.list or not args.name:
        print("\n".join(names()))
        return 0
    apply(args.name, args.params)
    print(f"{args.params}: preset {args.name} applied (git diff {args.params} shows the changes)")
    return 0
