"""A bad value of an enumerated stage option is a usage error (exit 2, naming the valid values) before any work."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from add import cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("argv,valid", [
    (["train", "--method", "Magic"], "Deepfakes"),
    (["distill", "--method", "Deepfakes", "--quality", "raw"], "c40"),
    (["distill", "--method", "Deepfakes", "--distill", "crd"], "mv_nocontrast"),
    (["evaluate", "--kind", "critic"], "student"),
    (["evaluate", "--test-quality", "c99"], "c23"),
    (["gallery", "--quality", "c99"], "c23"),
    (["spectrum", "--method", "Magic"], "NeuralTextures"),
])
def test_bad_choice_is_a_usage_error(argv, valid, capsys, tmp_path, monkeypatch):
    shutil.copy(ROOT / "params.yaml", tmp_path)  # read before parsing by the torch commands (add.determinism)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and valid in err
    assert [p.name for p in tmp_path.iterdir()] == ["params.yaml"]  # argparse stopped before any work
