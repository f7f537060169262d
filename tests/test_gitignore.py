"""What the README's commands leave in the workspace is either committed or ignored (issue 29, item 15: `dvc plots
show` wrote `dvc_plots/` and left it untracked)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ignored(path: str) -> bool:
    # --no-index: the answer depends on .gitignore alone, not on whether the path exists or is tracked here.
    done = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT, capture_output=True)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 0


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_dvc_plots_show_output_is_ignored_and_the_committed_results_are_not():
    assert ignored("dvc_plots/index.html")
    committed = subprocess.run(["git", "ls-files", "metrics", "plots", "dvclive"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.split()
    assert committed and not [path for path in committed if ignored(path)]
