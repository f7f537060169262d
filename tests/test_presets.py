"""`add preset` after `dvc exp run -S`: DVC rewrites params.yaml through Hydra (block-style lists) and leaves the
experiment's values there; a preset writes valid YAML whatever the file's layout, and is the setup it names (the
committed params.yaml + the preset), not a merge with the last experiment."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import committed
import pytest
import yaml
from dvc.utils.hydra import apply_overrides

from add import cli
from add.core.params import load_params, parse_params
from add.tools.presets import PRESETS, PresetError, names, resolved

EXPERIMENT = ["beta=20", "train.max_steps=3"]  # what `dvc exp run -S beta=20 -S train.max_steps=3` writes


def comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


@pytest.fixture
def repo(tmp_path) -> Path:
    """A git repository whose committed params.yaml is the default; returns the params path."""
    if shutil.which("git") is None:
        pytest.fail("git is needed: add preset starts from the committed params.yaml")
    path = committed.params_file(tmp_path)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    for cmd in (["git", "init", "-q"], ["git", "add", "params.yaml"], ["git", "commit", "-qm", "default"]):
        subprocess.run(cmd, cwd=tmp_path, env=env, check=True, capture_output=True)
    return path


def test_every_preset_is_tested():
    assert names() == sorted(p.stem for p in PRESETS.glob("*.yaml")) and len(names()) == 6


@pytest.mark.parametrize("name", names())
def test_a_preset_after_dvc_exp_run_is_the_preset_not_the_experiment(name, repo, capsys):
    apply_overrides(str(repo), EXPERIMENT)
    assert "  - " in repo.read_text() or "\n- " in repo.read_text()  # DVC's layout: block-style lists
    assert cli.main(["preset", name, "--params", str(repo)]) == 0
    text = repo.read_text()
    yaml.safe_load(text)  # valid YAML
    got = load_params(repo)
    assert got == parse_params(resolved(name, committed.raw()))  # every key: the default's or the preset's
    assert (got.beta, got.train.max_steps) == (16.0, None)
    assert comments(text) == comments(committed.TEXT)
    out = capsys.readouterr().out
    assert "dropped" in out and "beta (20)" in out and "train.max_steps (3)" in out


@pytest.mark.parametrize("name", names())
def test_a_preset_writes_valid_yaml_over_a_block_style_file_outside_git(name, tmp_path):
    path = committed.params_file(tmp_path)  # not in a repository: the file itself is the base
    apply_overrides(str(path), EXPERIMENT)
    base = yaml.safe_load(path.read_text())
    assert cli.main(["preset", name, "--params", str(path)]) == 0
    assert yaml.safe_load(path.read_text()) == resolved(name, base)
    assert comments(path.read_text()) == comments(committed.TEXT)


def test_a_preset_that_would_not_read_back_is_refused_leaving_the_file(tmp_path, monkeypatch):
    from ruamel.yaml.comments import CommentedSeq

    from add.tools import presets

    def inline(old, value):  # the old writer: an inline list in place of a block one (invalid YAML from ruamel)
        if not isinstance(value, list):
            return value
        seq = CommentedSeq(value)
        seq.fa.set_flow_style()
        return seq

    path = committed.params_file(tmp_path)
    apply_overrides(str(path), EXPERIMENT)
    before = path.read_text()
    monkeypatch.setattr(presets, "_list_like", inline)
    with pytest.raises(PresetError, match=r"params.yaml: preset ffpp-paper could not be written.*nothing written"):
        presets.apply("ffpp-paper", path)
    assert path.read_text() == before
