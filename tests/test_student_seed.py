"""``train.seed``, the students' seed: it changes a student and nothing upstream (shards, teacher), so a study can
train K students on one fixed dataset and teacher, paired by seed (issue 20)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from faces_factory import write_faces

from add.core.params import parse_params
from add.data import shards
from add.training.checkpoints import load_detector
from add.training.spec import TrainingSpec, fit, read_settings, weights_digest

pytestmark = pytest.mark.usefixtures("one_thread")

METHOD = "Deepfakes"


def params_with(student_seed: int | None):
    return parse_params({
        "seed": 0, "data": {"methods": [METHOD]},
        "model": {"name": "resnet18", "pretrained": False},
        "train": {"epochs": 1, "batch_size": 8, "lr": 1e-3, "val_per_epoch": 1, "max_steps": 2,
                  "seed": student_seed},
        "distill": {"directions": 4}})


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_the_student_seed_defaults_to_the_seed_and_only_students_read_it():
    default, same, other = params_with(None), params_with(0), params_with(5)
    student = TrainingSpec.student(METHOD, "c40", "add")
    teacher = TrainingSpec.teacher(METHOD)
    assert read_settings(default, student).train.seed == 0
    assert read_settings(default, student) == read_settings(same, student)
    assert read_settings(other, student).train.seed == 5
    assert read_settings(other, teacher).train.seed == 0  # the teacher keeps the top-level seed
    assert read_settings(other, teacher) == read_settings(default, teacher)


def test_the_student_seed_changes_the_student_and_nothing_upstream(tmp_path):
    faces, manifest = write_faces(tmp_path / "data", frames=4, size=32)
    runs = {}
    for student_seed in (1, 2):
        root = tmp_path / f"seed{student_seed}"
        params = params_with(student_seed)
        shards.run(params, faces, manifest, root / "shards")
        fit(params, TrainingSpec.teacher(METHOD), shards=root / "shards", models=root / "models", live=None)
        fit(params, TrainingSpec.student(METHOD, "c40", "none"), shards=root / "shards", models=root / "models",
            live=None)
        runs[student_seed] = root
    one, two = runs[1], runs[2]
    assert tree_digest(one / "shards") == tree_digest(two / "shards")
    teacher = Path("models/teacher") / METHOD / "best.pt"
    assert (one / teacher).read_bytes() == (two / teacher).read_bytes()
    assert weights_digest(load_detector(one / teacher)[0]) == weights_digest(load_detector(two / teacher)[0])
    student = Path("models/student") / METHOD / "c40" / "none" / "best.pt"
    assert weights_digest(load_detector(one / student)[0]) != weights_digest(load_detector(two / student)[0])
