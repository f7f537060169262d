"""The command line: a bad value of an enumerated stage option is a usage error (exit 2, naming the valid values)
before any work; old command names say where they went; only the chosen command's module is imported."""

from __future__ import annotations

from pathlib import Path

import committed
import pytest

from add import cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("argv,valid", [
    (["teacher", "--method", "Magic"], "Deepfakes"),
    (["student", "--method", "Deepfakes", "--quality", "raw"], "c40"),
    (["student", "--method", "Deepfakes", "--distill", "crd"], "mv_nocontrast"),
    (["train", "--method", "Magic"], "Deepfakes"),  # the old names still work
    (["evaluate", "--kind", "critic"], "student"),
    (["evaluate", "--test-quality", "c99"], "c23"),
    (["gallery", "--quality", "c99"], "c23"),
    (["spectrum", "--method", "Magic"], "NeuralTextures"),
])
def test_bad_choice_is_a_usage_error(argv, valid, capsys, tmp_path, monkeypatch):
    committed.params_file(tmp_path)  # read before parsing by the torch commands (add.core.determinism)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and valid in err
    assert [p.name for p in tmp_path.iterdir()] == ["params.yaml"]  # argparse stopped before any work


@pytest.mark.parametrize("old,new", [("train", "teacher"), ("distill", "student")])
def test_old_names_say_where_they_went(old, new, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main([old, "--help"])
    assert stop.value.code == 0
    captured = capsys.readouterr()
    assert f"add {old}: renamed to `add {new}`" in captured.err and f"usage: add {new}" in captured.out


def test_usage_lists_stages_in_pipeline_order_and_the_tools(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    stages = ["videos", "extract", "shards", "teacher", "student", "evaluate", "gallery", "spectrum"]
    positions = [out.index(f"\n  {name} ") for name in stages]
    assert positions == sorted(positions)
    assert all(f"\n  {tool} " in out for tool in ("predict", "download", "export", "params"))


def test_the_cli_imports_only_the_chosen_command():
    import subprocess
    import sys

    probe = ("import sys\nfrom add import cli\ntry:\n    cli.main(['params', '--help'])\nexcept SystemExit:\n    pass\n"
             "heavy = sorted(m for m in ('torch', 'timm', 'dlib', 'cv2', 'pandas') if m in sys.modules)\n"
             "stages = sorted(m for m in sys.modules if m in {s for s, _ in cli.STAGES.values()})\n"
             "print(heavy, stages)")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("[] []"), run.stdout
