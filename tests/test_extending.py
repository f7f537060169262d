"""docs/extending.md's walk-throughs are true: a toy distiller and a toy backbone, each written into its own file of a
copy of the package, are accepted by ``add params`` (distill.method, students.distill, model.name), by ``add student
--distill`` and by the student's settings and loss, and the dvc.yaml dependency rule counts their files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

TOY_DISTILLER = '''"""A toy distiller: the mean squared difference of the feature maps."""

from add.core.registry import DISTILLERS
from add.losses.distillers.base import Distiller


@DISTILLERS.register("toy")
class ToyDistiller(Distiller):
    def terms(self, student_feats, teacher_feats, student_logits, teacher_logits, labels, generator):
        return {"toy": sum(((s - t) ** 2).mean() for s, t in zip(student_feats, teacher_feats, strict=True))}
'''

TOY_BACKBONE = '''"""A toy backbone: timm's resnet10t, its own FR defaults."""

from add.core.registry import BACKBONES
from add.models.backbones.base import Backbone

BACKBONES.register("toy_net")(Backbone(
    models=("resnet10t",),
    feature_modules=None,
    fr_weights=(0.5, 0.5, 0.5),
    gamma_fr=0.1,
))
'''

CHECK = '''
import contextlib, io, json, sys
import torch
from add.cli import main
from add.core.params import load_params
from add.losses import build_distiller, distill_config
from add.training.student import settings
sys.path.insert(0, "tests")
import test_dvc_deps

shown = io.StringIO()
with contextlib.redirect_stdout(shown):
    code = main(["params", "--params", "params.yaml"])
usage = io.StringIO()
with contextlib.redirect_stdout(usage), contextlib.suppress(SystemExit):
    main(["student", "--help"])
params = load_params("params.yaml")
read = settings(params, distill="toy")
g = torch.Generator().manual_seed(0)
feats = [torch.randn(2, c, 4, 4, generator=g) for c in (4, 6, 8)]
distiller = build_distiller("toy", [4, 6, 8], [4, 6, 8], read.distill, beta=read.beta, model=read.model.name)
deps = {p.relative_to(test_dvc_deps.ROOT).as_posix() for p in test_dvc_deps.closure({"add.training.student"})}
print(json.dumps({"code": code, "params": shown.getvalue(), "usage": usage.getvalue(), "model": read.model.name,
                  "terms": sorted(distiller(feats, [f + 1 for f in feats])),
                  "fr": list(distill_config(read.distill, model=read.model.name).fr_weights),
                  "deps": sorted(d for d in deps if "toy" in d)}))
'''


def test_a_toy_distiller_and_backbone_in_their_own_files_are_accepted_everywhere(tmp_path):
    shutil.copytree(ROOT / "add", tmp_path / "add", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "test_dvc_deps.py", tmp_path / "tests")
    shutil.copy(ROOT / "dvc.yaml", tmp_path)
    (tmp_path / "add" / "losses" / "distillers" / "toy.py").write_text(TOY_DISTILLER)  # docs: A new distiller
    (tmp_path / "add" / "models" / "backbones" / "toy_net.py").write_text(TOY_BACKBONE)  # docs: A new backbone
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({
        "model": {"name": "resnet10t"}, "distill": {"method": "toy"}, "students": {"distill": ["add", "toy"]}}))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["code"] == 0
    shown = yaml.safe_load(out["params"])
    assert (shown["distill"]["method"], shown["students"]["distill"], shown["model"]["name"]) == \
        ("toy", ["add", "toy"], "resnet10t")
    assert "fr_weights: null  # null -> model default (toy_net): [0.5, 0.5, 0.5]" in out["params"]
    assert "toy" in out["usage"].split("--distill")[1].split("}")[0]  # a choice of add student --distill
    assert out["model"] == "resnet10t" and out["terms"] == ["toy"] and out["fr"] == [0.5, 0.5, 0.5]
    assert out["deps"] == ["add/losses/distillers/toy.py", "add/models/backbones/toy_net.py"]
