"""docs/study/study.py: the DVC commands it queues, and results/summary/plot/README from `dvc exp show --json`
output."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("study", REPO / "docs" / "study" / "study.py")
study = importlib.util.module_from_spec(spec)
spec.loader.exec_module(study)


def fake_experiment(seed: int, none_acc: float, add_acc: float) -> dict:
    def m(acc):
        return {"data": {"acc": acc, "auc": acc + 0.05, "video_auc": acc + 0.1, "val_acc": acc - 0.02}}

    metrics = {"metrics/teacher/Deepfakes/raw.json": m(0.99), "metrics/teacher/Deepfakes/c40.json": m(0.7)}
    for distill in study.DISTILLERS:
        acc = {"none": none_acc, "add": add_acc}.get(distill, none_acc - 0.01)
        metrics[f"metrics/student/Deepfakes/c40/{distill}.json"] = m(acc)
    return {"rev": f"{seed:040d}", "name": f"study-seed{seed}",
            "data": {"params": {"params.yaml": {"data": {"seed": seed}}}, "metrics": metrics}}


# the nesting of `dvc exp show --json` (DVC 3): workspace, then the baseline commit with its experiments
EXP_SHOW = [
    {"rev": "workspace", "name": None, "data": {"metrics": {}}, "experiments": None},
    {"rev": "abc", "name": "main", "data": {"metrics": {}}, "experiments": [
        {"revs": [fake_experiment(0, 0.80, 0.84)], "name": "study-seed0"},
        {"revs": [fake_experiment(1, 0.78, 0.77)], "name": "study-seed1"},
        {"revs": [fake_experiment(2, 0.82, 0.86)], "name": "study-seed2"},
        {"revs": [{"rev": "x", "name": "other-seed0", "data": {}}]},
    ]},
]


def test_queue_commands():
    cmds = study.queue_commands([0, 3], "study", ["beta=20"])
    assert len(cmds) == 2
    assert cmds[1][:6] == ["dvc", "exp", "run", "--queue", "--name", "study-seed3"]
    flat = " ".join(cmds[0])
    assert "-S seed=0" in flat and "-S beta=20" in flat
    assert "-S students.distill=[add,fr,mv,mv_nocontrast,fitnet,at,nl,kd]" in flat  # none: stage student_none
    assert "-S evaluate.teacher_qualities=[raw,c40]" in flat


def test_results_summary_plot_and_readme(tmp_path, monkeypatch):
    experiments = study.find_experiments(EXP_SHOW, "study-seed")
    assert sorted(experiments) == ["study-seed0", "study-seed1", "study-seed2"]
    monkeypatch.setattr(study.subprocess, "run", lambda *a, **k: type("R", (), {
        "returncode": 0, "stdout": json.dumps(EXP_SHOW), "stderr": ""})())
    rows = study.collect("study")
    assert len(rows) == 3 * (2 + len(study.DISTILLERS))
    assert rows[0]["distill"] == "teacher" and rows[0]["test_quality"] == "raw"
    meta = {"name": "study", "commit": "abc1234", "command": "uv run python docs/study/study.py", "set": [],
            "wall": "61.0 min for 3 seeds"}
    summary = study.write_outputs(rows, meta, tmp_path)
    with (tmp_path / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert tuple(table[0]) == study.COLUMNS and len(table) == len(rows)
    add = next(p for p in summary["paired"] if p["distill"] == "add")
    assert add["per_seed"] == pytest.approx({0: 0.04, 1: -0.01, 2: 0.04})
    assert add["mean_diff"] == pytest.approx(0.07 / 3) and (add["better"], add["worse"]) == (2, 1)
    none = next(e for e in summary["table"] if e["distill"] == "none")
    assert none["acc"] == pytest.approx(0.8) and none["acc_std"] == pytest.approx(0.02)
    text = (tmp_path / "README.md").read_text()
    assert "| add | +0.023 ± 0.029 | 2 / 1 | 0: +0.040, 1: -0.010, 2: +0.040 |" in text
    assert "| none | c40 | 0.800 ± 0.020 |" in text and "uv run python docs/study/study.py" in text
    assert (tmp_path / "c40_acc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_metrics_name_the_seed():
    data = fake_experiment(4, 0.8, 0.8)["data"]
    del data["metrics"]["metrics/student/Deepfakes/c40/kd.json"]
    with pytest.raises(study.StudyError, match="seed 4 has no metrics/student/Deepfakes/c40/kd.json"):
        study.experiment_rows(data, 4)
