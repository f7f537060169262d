"""`dvc exp run -S beta=20 -S distill.mv_vectors=cdf` on the real dvc.yaml, in a temporary copy of the project,
records the new values.

The whole pipeline runs (demo → extract → shards → teacher → students → evaluate) on a tiny configuration, so this
also checks that dvc.yaml, params.yaml and the stage scripts fit together.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import committed
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "demo.pairs=[2,1,1]", "demo.frames=6", "demo.width=320", "demo.height=240",
    "data.frames_per_video=2", "data.image_size=32", "data.jobs=2",
    "train.epochs=1", "train.batch_size=4", "train.val_per_epoch=1",
]


def _dvc(args, cwd, env):
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.fail("git is needed for DVC experiments")
    dst = tmp_path_factory.mktemp("project")
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if name.startswith(("tests/", "bench/")) or name == "dvc.lock":
            continue
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dst / name)
    committed.params_file(dst)  # the default, not the experiment the workspace holds
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org", "OMP_NUM_THREADS": "2"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "project"]):
        subprocess.run(cmd, cwd=dst, env=env, check=True)
    return dst, env


def test_exp_run_records_beta(project):
    cwd, env = project
    _dvc(["exp", "run", "-S", "beta=20", "-S", "distill.mv_vectors=cdf", *[a for kv in TINY for a in ("-S", kv)]],
         cwd, env)
    shown = json.loads(_dvc(["exp", "show", "--json"], cwd, env))
    exps = [e for commit in shown for e in (commit.get("experiments") or [])]
    params = [run["data"]["params"]["params.yaml"]["data"] for e in exps for run in e["revs"]]
    assert any(p["beta"] == 20 and p["distill"]["mv_vectors"] == "cdf" for p in params), params
    metrics = [run["data"]["metrics"] for e in exps for run in e["revs"]]
    student = [m for ms in metrics for path, m in ms.items() if path.endswith("student/Deepfakes/c40/add.json")]
    assert student and 0.0 <= student[0]["data"]["acc"] <= 1.0
