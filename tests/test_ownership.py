"""Issue 27's bounds, kept: a README read in five minutes, a dvc.yaml that shares what its stages share, a params
module that only reads params and names no model family, and `add/core/` run whole by every stage."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from add.core.registry import BACKBONES

ROOT = Path(__file__).resolve().parent.parent


def test_readme_is_short_and_has_a_table_of_contents():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    sections = re.findall(r"^## (.+)$", text, flags=re.M)
    for section in ("Quickstart", "The pipeline", "Parameters", "Your own data", "Cross-dataset", "Detect deepfakes"):
        assert any(s.startswith(section) for s in sections), section
    assert "Contents" in text.split("\n## ")[0]


def test_dvc_yaml_is_at_most_400_lines():
    assert len((ROOT / "dvc.yaml").read_text(encoding="utf-8").splitlines()) <= 400


def test_params_module_only_parses_and_names_no_model_family():
    source = (ROOT / "add" / "core" / "params.py").read_text(encoding="utf-8")
    assert len(source.splitlines()) <= 350
    for family in BACKBONES.names():
        assert not re.search(rf"\b{family}\b", source, flags=re.I), family
    assert "def get_int" not in source and "def get_float" not in source


def test_every_stage_runs_the_whole_core_package():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    for name, stage in stages.items():
        assert "add/core" in stage["deps"], name
