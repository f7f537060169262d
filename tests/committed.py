"""The project's default params.yaml as committed, for the tests: never the workspace's file, which holds whatever
experiment ran last (`dvc exp run -S beta=20` rewrites it, `dvc exp apply` too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from add.tools.presets import committed_text

ROOT = Path(__file__).resolve().parents[1]
# git's index (the committed file unless one was staged); outside a git checkout no experiment can have run
TEXT = committed_text(ROOT / "params.yaml") or (ROOT / "params.yaml").read_text(encoding="utf-8")


def raw() -> dict[str, Any]:
    """The default params as the raw mapping DVC interpolates (a fresh copy)."""
    return yaml.safe_load(TEXT)


def params_file(folder: str | Path) -> Path:
    """A copy of the default params.yaml (comments and layout kept) in ``folder``."""
    path = Path(folder) / "params.yaml"
    path.write_text(TEXT, encoding="utf-8")
    return path
