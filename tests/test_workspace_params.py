"""The tests never read the workspace's params.yaml: it holds whatever experiment ran last (`dvc exp run -S beta=20`
rewrites it through Hydra, with block-style lists), and the suite must pass whatever that is. They read the
committed default through tests/committed.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# a path to the repository's params.yaml built from the repository root (ROOT / "params.yaml", REPO / ...,
# Path(__file__).resolve().parents[1] / ...), or a copy of it
WORKSPACE_READ = re.compile(r"""(\b[A-Z]+\b|parents\[1\]\)?|parent\.parent\)?)\s*/\s*["']params\.yaml["']""")


def test_no_test_builds_a_path_to_the_workspace_params_yaml():
    offenders = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        if path.name in ("committed.py", Path(__file__).name):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if WORKSPACE_READ.search(line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, "read the default through tests/committed.py instead:\n" + "\n".join(offenders)


def test_the_check_sees_a_read_of_the_workspace_params_yaml():
    for line in ('yaml.safe_load((ROOT / "params.yaml").read_text())', "shutil.copy(REPO / 'params.yaml', tmp)",
                 'load_params(Path(__file__).resolve().parents[1] / "params.yaml")'):
        assert WORKSPACE_READ.search(line), line
    assert not WORKSPACE_READ.search('path = tmp_path / "params.yaml"')


def test_the_params_tests_pass_after_dvc_exp_run_set(tmp_path):
    """The README's `dvc exp run -S beta=20` (its params.yaml rewrite, without training) in a copy of the project,
    then the tests that check the shipped params and presets, run there."""
    from dvc.utils.hydra import apply_overrides

    if shutil.which("git") is None:
        pytest.fail("git is needed: the tests read the committed params.yaml")
    # the project as committed (git's index: the workspace's params.yaml may hold an experiment already), plus files
    # not yet added
    subprocess.run(["git", "checkout-index", "--all", f"--prefix={tmp_path}/"], cwd=ROOT, check=True,
                   capture_output=True)
    others = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    for name in others.splitlines():
        if (ROOT / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tmp_path / name)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "project"]):
        subprocess.run(cmd, cwd=tmp_path, env=env, check=True, capture_output=True)
    apply_overrides(str(tmp_path / "params.yaml"), ["beta=20", "train.max_steps=3"])
    assert re.search(r"^beta: 20\b", (tmp_path / "params.yaml").read_text(), re.M)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_params.py",
                          "tests/test_dvc_params.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
