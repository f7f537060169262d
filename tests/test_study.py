"""bench/study.py: the commands it runs (data once, students differing only in train.seed), the pilot's plan,
and results/README from the work folder — with a fake runner in place of the `add` stages."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest
import yaml

from add.core.layout import evaluation_paths
from add.core.params import load_params

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("study", REPO / "bench" / "study.py")
study = importlib.util.module_from_spec(spec)
spec.loader.exec_module(study)

ADD_GAIN = {0: 0.02, 1: 0.08, 2: -0.03, 3: 0.05}  # the fake add - none ACC difference per seed (pilot seeds)
PAIRS = 6


def option(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


class FakeAdd:
    """Stands in for the `add` stages: records the commands; an evaluation writes metrics (and predictions)."""

    def __init__(self):
        self.commands: list[list[str]] = []

    def __call__(self, cmd: list[str]) -> None:
        self.commands.append(cmd)
        stage = cmd[3]
        if stage == "teacher":
            path = Path(option(cmd, "--models")) / "teacher" / option(cmd, "--method") / "best.pt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"teacher")
        if stage == "student" and "select-" in option(cmd, "--dvclive"):  # a selection run logs its best val ACC
            params = load_params(option(cmd, "--params"))
            live = Path(option(cmd, "--dvclive")) / "student" / option(cmd, "--method") / "c40" / "add"
            live.mkdir(parents=True, exist_ok=True)
            val_acc = 0.6 + 0.1 * params.distill.alpha + 0.001 * params.beta
            (live / "metrics.json").write_text(json.dumps({"best": {"val_acc": val_acc, "step": 30}}))
        if stage != "evaluate":
            return
        params = load_params(option(cmd, "--params"))
        kind = option(cmd, "--kind")
        quality = option(cmd, "--quality") if kind == "student" else None
        distill = option(cmd, "--distill") if kind == "student" else None
        test_quality = option(cmd, "--test-quality") if kind == "teacher" else None
        _, metrics_path, _ = evaluation_paths(kind, option(cmd, "--method"), quality, distill, test_quality,
                                              metrics=option(cmd, "--metrics"))
        seed = params.train.seed or 0
        half = params.train.max_steps == 5  # the control (study params: max_steps 10)
        # students right on a share of frames that depends on distiller and seed
        acc = 0.7 + 0.005 * seed + (ADD_GAIN.get(seed, 0.03) if distill == "add" else 0.0) - (0.1 if half else 0.0)
        if kind == "teacher":
            acc = 0.97
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics_path.write_text(json.dumps({"acc": acc, "auc": acc + 0.05, "video_auc": acc + 0.1,
                                            "val_acc": acc - 0.01}))
        if "--predictions" in cmd:
            rng = np.random.default_rng([seed, len(distill), int(half)])
            out = Path(option(cmd, "--predictions"))
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["key", "video", "label", "prob"])
                for pair in range(PAIRS):
                    for video, label in ((f"original/{pair:03d}", 0), (f"Deepfakes/{pair:03d}_{pair + 100:03d}", 1)):
                        for frame in range(4):
                            right = rng.random() < acc
                            prob = 0.8 if right == bool(label) else 0.2
                            writer.writerow([f"{video}/{frame}", video, label, prob])


@pytest.fixture
def setup(tmp_path):
    params = tmp_path / "study_params.yaml"
    params.write_text(yaml.safe_dump({"seed": 0, "data": {"methods": ["Deepfakes"]},
                                      "train": {"epochs": 2, "max_steps": 10}}))
    fake = FakeAdd()
    return study.Study(params, tmp_path / "work", tmp_path / "out", runner=fake), fake


def test_the_data_and_teacher_are_built_once_and_students_differ_only_in_their_seed(setup):
    s, fake = setup
    s.build_data()
    assert [c[3] for c in fake.commands] == ["videos", "extract", "shards", "teacher", "evaluate", "evaluate",
                                             "teacher", "evaluate"]  # the study-only c40 teacher, evaluated on c40
    assert {option(fake.commands[0], k) for k in ("--demo-root", "--twins")} == {str(s.work / "demo"),
                                                                                  str(s.work / "twins")}
    c40_teacher = fake.commands[6]
    assert c40_teacher[2:4] == ["fit-c40", "teacher"] and option(c40_teacher, "--params") == str(s.params)
    assert option(fake.commands[7], "--test-quality") == "c40" and s.c40_teacher.is_file()
    fake.commands.clear()
    for seed in (0, 1):
        s.train("add", seed)
        s.train(study.CONTROL, seed)
    s.train("add", 0)  # finished: not trained again
    students = [c for c in fake.commands if c[3] == "student"]
    assert len(students) == 4 and not any(c[3] in ("videos", "shards", "teacher") for c in fake.commands)
    assert {option(c, "--teacher") for c in students} == {str(s.teacher)}
    assert {option(c, "--shards") for c in fake.commands} == {str(s.shards)}
    raws = [yaml.safe_load(Path(option(c, "--params")).read_text()) for c in students]
    base = yaml.safe_load(s.params.read_text())
    for raw in raws:
        seed = raw["train"].pop("seed")
        raw["train"]["max_steps"] = 10
        assert raw == base and seed in (0, 1)
    assert [option(c, "--distill") for c in students] == ["add", "none", "add", "none"]  # the control is a none
    assert sum(yaml.safe_load(Path(option(c, "--params")).read_text())["train"]["max_steps"] == 5
               for c in students) == 2
    fake.commands.clear()
    s.train(study.C40_CONTROL, 0)  # add, distilled from the c40 teacher, at the same seed's params
    train, evaluate = fake.commands
    assert train[2:4] == ["fit-c40", "student"] and option(train, "--teacher") == str(s.c40_teacher)
    assert yaml.safe_load(Path(option(train, "--params")).read_text())["train"]["seed"] == 0
    assert option(evaluate, "--distill") == "add" and s.metrics_path(study.C40_CONTROL, 0).is_file()
    assert s.metrics_path(study.C40_CONTROL, 0) != s.metrics_path("add", 0)


def test_selection_trains_one_add_student_per_setting_on_validation_only(setup):
    s, fake = setup
    with pytest.raises(study.StudyError, match="no teacher"):
        s.select([{"distill.alpha": 1.0, "beta": 16.0}], 1000)
    s.build_data()
    fake.commands.clear()
    grid = [{"distill.alpha": a, "beta": b} for a in (1.0, 0.1) for b in (16.0, 4.0)]
    results = s.select(grid, 1000)
    assert [c[3] for c in fake.commands] == ["student"] * 4  # no evaluation: the test split is not looked at
    assert [(r["alpha"], r["beta"]) for r in results] == [(1.0, 16.0), (1.0, 4.0), (0.1, 16.0), (0.1, 4.0)]
    assert [r["val_acc"] for r in results] == pytest.approx([0.716, 0.704, 0.626, 0.614])
    raw = yaml.safe_load(Path(option(fake.commands[2], "--params")).read_text())
    assert raw["distill"]["alpha"] == 0.1 and raw["beta"] == 16.0 and raw["train"]["seed"] == 1000
    assert json.loads((s.out / "selection.json").read_text()) == results
    fake.commands.clear()
    assert s.select(grid, 1000) == results and fake.commands == []  # finished runs are read, not retrained


def test_the_pilot_writes_k_before_the_run(setup):
    s, fake = setup
    s.build_data()
    with pytest.raises(study.StudyError, match="no plan"):
        s.schedule(list(study.MAIN), [], 0)
    with pytest.raises(study.StudyError, match="at least 4"):
        s.pilot([0, 1, 2])
    plan = s.pilot([0, 1, 2, 3])
    sd = statistics.stdev(ADD_GAIN.values())
    assert plan["sd_acc"] == pytest.approx(sd)
    from add.evaluation.study_stats import t_quantile

    k = plan["K"]  # the smallest K >= 8 whose t interval is within +-3 points at the pilot's sd
    assert k >= 8 and t_quantile(0.95, k - 1) * sd / math.sqrt(k) <= 0.03 and plan["seeds"] == list(range(k))
    assert k == 8 or t_quantile(0.95, k - 2) * sd / math.sqrt(k - 1) > 0.03
    assert json.loads((s.out / "plan.json").read_text())["K"] == plan["K"]
    schedule = s.schedule(["none", "add"], ["kd"], 3)
    assert schedule == {"none": plan["seeds"], "add": plan["seeds"], study.CONTROL: plan["seeds"],
                        study.C40_CONTROL: plan["seeds"], "kd": [0, 1, 2]}


def test_collect_writes_paired_intervals_and_the_control(setup):
    s, fake = setup
    s.build_data()
    plan = s.pilot([0, 1, 2, 3])
    schedule = s.schedule(["none", "add"], ["kd"], 3)
    s.run(schedule)
    meta = {"commit": "abc1234", "commands": ["uv run python bench/study.py run"], "wall": "1 min"}
    s.out.mkdir(parents=True, exist_ok=True)
    (s.out / study.FINDINGS).write_text("What it shows: the control is 10 points down.\n")
    summary = study.collect(s, schedule, meta, resamples=100)
    with (s.out / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert tuple(table[0]) == study.COLUMNS
    assert [(r["distill"], r["test_quality"], r["seed"]) for r in table[:3]] == [
        ("teacher", "raw", ""), ("teacher", "c40", ""), (study.C40_TEACHER, "c40", "")]
    assert len(table) == 3 + 4 * plan["K"] + 3
    assert {r["seed"] for r in table if r["distill"] == study.C40_CONTROL} == {str(k) for k in plan["seeds"]}
    add = next(e for e in summary if e["distill"] == "add")["acc"]
    gains = [ADD_GAIN.get(seed, 0.03) for seed in plan["seeds"]]
    assert add["mean_diff"] == pytest.approx(statistics.fmean(gains))
    assert add["t_low"] < add["mean_diff"] < add["t_high"] and add["boot_low"] <= add["boot_high"]
    assert (add["better"], add["worse"], add["seeds"]) == (sum(g > 0 for g in gains), sum(g < 0 for g in gains),
                                                           plan["K"])
    control = next(e for e in summary if e["distill"] == study.CONTROL)["acc"]
    assert control["mean_diff"] == pytest.approx(-0.1) and control["t_high"] < 0  # the control shows up
    assert next(e for e in summary if e["distill"] == "kd")["acc"]["seeds"] == 3
    text = (s.out / "README.md").read_text()
    assert f"t_(0.975, K−1) · σ_d / √K ≤ 3 points = {plan['K']} seeds" in text
    assert "What it shows: the control is 10 points down." in text
    assert f"| {study.CONTROL} | {plan['K']} | -10.0 |" in text
    assert (s.out / "c40_acc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (s.out / "study_params.yaml").read_text() == s.params.read_text()  # the params beside the results


def test_a_missing_params_file_says_how_to_start(tmp_path):
    with pytest.raises(study.StudyError, match="cp params.yaml"):
        study.Study(tmp_path / "nowhere.yaml", tmp_path / "work", tmp_path / "out")
