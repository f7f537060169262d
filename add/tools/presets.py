"""``add preset NAME``: write ``params.yaml`` for one of the shipped experiments (``presets/NAME.yaml``).

A preset holds only the keys that differ from ``params.yaml`` (the demo), nested like it; ``extends: OTHER`` starts
from another preset. A preset is a setup, not a merge with the last experiment: the command starts from the
committed ``params.yaml`` (git's index, what ``git diff params.yaml`` compares with; the file itself outside git),
so values left in the workspace by ``dvc exp run -S`` or ``dvc exp apply`` are dropped (and listed). It sets the
preset's keys there, keeping the comments and every other key, so ``git diff params.yaml`` shows exactly what the
experiment changes; the result is checked as the stages will (:func:`add.core.params.parse_params`) and read back before
it replaces the file, whatever the file's layout (DVC rewrites it with block-style lists).

    uv run add preset ffpp-paper            # then: git diff params.yaml; uv run dvc repro
    uv run add preset --list
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
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


def resolved(name: str, params: str | os.PathLike | Mapping[str, Any] = DEFAULT_PARAMS,
             folder: str | os.PathLike = PRESETS) -> dict:
    """``params`` (a file, or its mapping) with preset ``name`` applied, as a plain mapping."""
    base = params if isinstance(params, Mapping) else yaml.safe_load(Path(params).read_text(encoding="utf-8")) or {}
    return _merge(base, changes(name, folder))


def committed_text(path: str | os.PathLike) -> str | None:
    """``path`` as git's index holds it (the committed file unless one was staged); None outside git or untracked."""
    path = Path(path)
    try:
        run = subprocess.run(["git", "show", f":./{path.name}"], cwd=path.parent, capture_output=True, check=False)
    except OSError:  # no git, or no such folder
        return None
    return run.stdout.decode("utf-8") if run.returncode == 0 else None


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, Mapping) else {f"{prefix}{key}": value})
    return out


def _set(doc: Any, values: Mapping[str, Any], where: str, path: Path) -> None:
    for key, value in values.items():
        full = f"{where}.{key}" if where else key
        if key not in doc:
            raise PresetError(f"{path}: has no key {full!r} to set (a preset only changes keys params.yaml has)")
        if isinstance(value, dict) and isinstance(doc[key], dict):
            _set(doc[key], value, full, path)
        else:
            doc[key] = _list_like(doc[key], value)


def _list_like(old: Any, value: Any) -> Any:
    """A list written in the style of the list it replaces: a block list (as DVC writes them) keeps its items'
    layout, anything else is written inline ([a, b]) as params.yaml writes them. (ruamel.yaml turns an inline list
    put in place of a block list into invalid YAML: ``evaluate: teacher_qualities: [raw, c23, c40]``.)"""
    from ruamel.yaml.comments import CommentedSeq

    if not isinstance(value, list):
        return value
    if isinstance(old, CommentedSeq) and not old.fa.flow_style():
        old[:] = value
        return old
    seq = CommentedSeq(value)
    seq.fa.set_flow_style()
    return seq


def apply(name: str, params: str | os.PathLike = DEFAULT_PARAMS, folder: str | os.PathLike = PRESETS
          ) -> tuple[Path, dict[str, Any]]:
    """Write preset ``name`` over the committed version of ``params`` (comments kept); the result is checked and
    read back before it replaces the file. Returns the path and the workspace values it dropped (flat key ->
    value), those an experiment had left that the preset does not set."""
    from ruamel.yaml import YAML

    path = Path(params)
    try:
        current = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetError(f"{path}: params file not found") from None
    text = committed_text(path)
    text = current if text is None else text
    try:
        base = yaml.safe_load(text) or {}
        now = yaml.safe_load(current) or {}
    except yaml.YAMLError as e:
        raise PresetError(f"{path}: not valid YAML, nothing written: {e}") from None
    preset = changes(name, folder)
    want = _merge(base, preset)
    parse_params(want)  # refuse before writing anything
    rt = YAML()
    rt.width = 120
    rt.preserve_quotes = True
    rt.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    doc = rt.load(text)
    _set(doc, preset, "", path)
    buffer = io.StringIO()
    rt.dump(doc, buffer)
    try:
        written = yaml.safe_load(buffer.getvalue())
    except yaml.YAMLError as e:
        written = e
    if written != want:
        raise PresetError(f"{path}: preset {name} could not be written in this file's layout (it would not read "
                          f"back as the preset's values); nothing written. Restore the file (git checkout "
                          f"{path.name}) and rerun")
    atomic_write_text(path, buffer.getvalue())
    old, new, set_here = _flat(now), _flat(want), _flat(preset)
    return path, {key: old[key] for key in old if key in new and old[key] != new[key] and key not in set_here}


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
    _, dropped = apply(args.name, args.params)
    print(f"{args.params}: preset {args.name} applied (git diff {args.params} shows the changes)")
    if dropped:
        shown = ", ".join(f"{key} ({value!r})" for key, value in dropped.items())
        print(f"{args.params}: dropped the workspace's own values (an experiment's?), back to the committed ones: "
              f"{shown}")
    return 0
