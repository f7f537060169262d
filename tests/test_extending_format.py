"""docs/extending.md, "A new dataset format", is true: its toy module, saved as one new file in a copy of the package,
is a choice of `add lists` (its --help), a valid cross entry format in params, and read by `add lists`."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def toy_module() -> str:
    section = (ROOT / "docs" / "extending.md").read_text(encoding="utf-8").split("## A new dataset format", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S)[1]


def test_a_toy_format_in_its_own_file_is_listed_accepted_and_read(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "add", repo / "add", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "add" / "data" / "datasets" / "formats" / "toy.py").write_text(toy_module(), encoding="utf-8")
    tree = tmp_path / "set"
    tree.mkdir()
    for i in range(4):
        (tree / f"v{i}.mp4").write_bytes(b"0")
    (tree / "labels.txt").write_text("v0.mp4 real\nv1.mp4 real\nv2.mp4 fake\nv3.mp4 fake\n")
    out = tmp_path / "list.csv"
    script = f"""
import sys
import add
assert add.__file__.startswith({str(repo)!r}), add.__file__
from add.cli import main
from add.core.params import parse_params
entry, = parse_params({{"cross": [{{"name": "t", "format": "toy", "root": {str(tree)!r}}}]}}).cross
print("params format:", entry.format)
try:
    main(["lists", "--help"])
except SystemExit:
    pass
sys.exit(main(["lists", "--format", "toy", "--root", {str(tree)!r}, "--out", {str(out)!r}, "--val", "0.25",
               "--test", "0.25"]))
"""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    run = subprocess.run([sys.executable, "-c", script], cwd=repo, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "params format: toy" in run.stdout
    assert re.search(r"--format \{[^}]*\btoy\b[^}]*\}", run.stdout), run.stdout
    rows = list(csv.DictReader(out.open()))
    assert sorted((r["path"], r["label"]) for r in rows) == [("set/v0.mp4", "real"), ("set/v1.mp4", "real"),
                                                          ("set/v2.mp4", "fake"), ("set/v3.mp4", "fake")]
