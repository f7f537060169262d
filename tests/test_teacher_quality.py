"""teacher.quality: c23 — ADD without raw videos, from an FF++ tree that has none to the evaluation."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from add import cli
from add.core.params import ParamsError, parse_params
from add.core.qualities import check_student_quality, check_test_quality, qualities_in_use, student_qualities
from add.data.demo.build import build_demo
from add.data.extract.config import ExtractConfig
from add.data.ffpp import FFPPConfig
from add.training.checkpoints import load_checkpoint, load_detector
from add.training.spec import TrainingSpec, fit

METHOD = "Deepfakes"
pytestmark = pytest.mark.usefixtures("one_thread")


def test_students_see_a_lower_quality_than_their_teacher():
    assert student_qualities("raw") == ("c23", "c40")
    assert student_qualities("c23") == ("c40",)
    assert check_student_quality("c23", "c40") == "c40"
    with pytest.raises(ParamsError, match=r"student quality 'c23' is not lower than teacher.quality 'c23'.*\['c40'\]"):
        check_student_quality("c23", "c23")
    with pytest.raises(ParamsError, match="teacher.quality"):
        student_qualities("c40")  # a c40 teacher would leave nothing below it
    with pytest.raises(ParamsError, match="no raw video is ever read"):
        check_test_quality("c23", "raw")


C23 = {"data": {"qualities": ["c23", "c40"]}, "teacher": {"quality": "c23"}, "students": {"qualities": ["c40"]},
       "evaluate": {"teacher_qualities": ["c23", "c40"]}}


@pytest.mark.parametrize("change,message", [
    # the default evaluate.teacher_qualities [raw, c40] under a c23 teacher: evaluate_teacher@...-raw would fail
    # after every model trained
    ({"evaluate": {"teacher_qualities": ["raw", "c40"]}},
     "params 'evaluate.teacher_qualities' lists ['raw'], better than teacher.quality 'c23': no such video is ever "
     "read with a c23 teacher; set evaluate.teacher_qualities: [c40]"),
    ({"evaluate": {"teacher_qualities": ["raw"]}}, "set evaluate.teacher_qualities: [c23, c40]"),
    ({"students": {"qualities": ["c23"]}},
     "params 'students.qualities' lists ['c23'], not lower than teacher.quality 'c23': a student must see a lower "
     "quality than its teacher (allowed: ['c40'])"),
    ({"students": {"qualities": ["c23", "c40"]}}, "params 'students.qualities' lists ['c23']"),
])
def test_a_c23_teacher_with_a_quality_it_cannot_serve_is_refused_at_start_up(change, message, tmp_path, capsys):
    parse_params(C23)
    raw = {**C23, **change}
    with pytest.raises(ParamsError, match=re.escape(message)):
        parse_params(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert cli.main(["params", "--params", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    # the first stage of dvc.yaml stops before reading any video
    out = tmp_path / "videos.parquet"
    assert cli.main(["videos", "--params", str(path), "--out", str(out), "--demo-root", str(tmp_path / "demo")]) == 1
    assert message in capsys.readouterr().err and not out.exists() and not (tmp_path / "demo").exists()


def test_the_default_teacher_qualities_need_a_raw_teacher():
    assert parse_params({}).evaluate.teacher_qualities == ("raw", "c40")
    assert parse_params({"teacher": {"quality": "c23"}, "evaluate": {"teacher_qualities": ["c40"]}})
    with pytest.raises(ParamsError, match="evaluate.teacher_qualities"):
        parse_params({"teacher": {"quality": "c23"}})


def test_qualities_better_than_the_teacher_are_never_used():
    assert qualities_in_use("raw", ["c40", "raw", "c23"]) == ("raw", "c23", "c40")
    assert qualities_in_use("c23", ["raw", "c23", "c40"]) == ("c23", "c40")
    assert qualities_in_use("c23", ["raw", "c40"]) == ("c40",)
    params = {"data": {"qualities": ["raw", "c23", "c40"]}, "teacher": {"quality": "c23"},
              "evaluate": {"teacher_qualities": ["c23", "c40"]}}
    # what the videos stage indexes (and data.download fetches) and what extraction opens
    assert FFPPConfig.from_params(params).qualities == ("c23", "c40")
    assert ExtractConfig.from_params(params).qualities == ("c23", "c40")
    assert FFPPConfig.from_params({"data": {"qualities": ["raw", "c40"]}}).qualities == ("raw", "c40")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """videos -> extract -> shards -> teacher (c23) -> students (c40: none, add) -> evaluation, on an FF++ tree that
    holds no raw video, through the CLI as dvc.yaml runs it."""
    tmp = tmp_path_factory.mktemp("c23")
    tree = build_demo(tmp / "ffpp", seed=3, pairs=(1, 1, 1), frames=6, width=320, height=240, fps=25,
                      methods=(METHOD,), qualities=("c23", "c40"), jobs=1, progress=False)
    assert not [p for p in tree.rglob("*") if "raw" in p.parts]
    params = {
        "seed": 0, "beta": 16,
        "data": {"source": "ffpp", "root": str(tree), "methods": [METHOD], "qualities": ["raw", "c23", "c40"],
                 "frames_per_video": 3, "image_size": 32, "jobs": 1},
        "teacher": {"quality": "c23"},
        "model": {"name": "resnet18", "pretrained": False, "weights": None},
        "train": {"epochs": 1, "batch_size": 8, "lr": 1e-3, "val_per_epoch": 1, "patience": 10, "num_workers": 0},
        "distill": {"method": "add", "quality": "c40", "directions": 4},
        "students": {"qualities": ["c40"], "distill": ["add"]},
        "evaluate": {"teacher_qualities": ["c23", "c40"]},
    }
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    p = ["--params", str(path)]
    sh = ["--shards", str(tmp / "shards")]
    out = ["--models", str(tmp / "models")]
    live = ["--dvclive", str(tmp / "dvclive")]
    ev = ["--metrics", str(tmp / "metrics"), "--plots", str(tmp / "plots")]
    extract = ["--videos", str(tmp / "videos.parquet"), "--out-dir", str(tmp / "faces"),
               "--manifest", str(tmp / "manifest.parquet"), "--metrics", str(tmp / "extract.json")]
    assert cli.main(["videos", *p, "--out", str(tmp / "videos.parquet"), "--demo-root", str(tmp / "demo")]) == 0
    assert cli.main(["extract", *p, *extract]) == 0
    assert cli.main(["shards", *p, "--faces", str(tmp / "faces"), "--manifest", str(tmp / "manifest.parquet"),
                     "--out", str(tmp / "shards")]) == 0
    assert cli.main(["teacher", *p, *sh, *out, *live]) == 0
    for distill in ("none", "add"):
        assert cli.main(["student", *p, *sh, *out, *live, "--quality", "c40", "--distill", distill]) == 0
    assert cli.main(["evaluate", *p, *sh, *out, *ev, "--kind", "teacher"]) == 0
    assert cli.main(["evaluate", *p, *sh, *out, *ev, "--kind", "teacher", "--test-quality", "c40"]) == 0
    for distill in ("none", "add"):
        assert cli.main(["evaluate", *p, *sh, *out, *ev, "--kind", "student", "--quality", "c40",
                         "--distill", distill]) == 0
    return tmp, params, tree


def test_a_c23_teacher_runs_from_videos_to_evaluation_without_raw(pipeline):
    tmp, _, tree = pipeline
    assert not [p for p in tree.rglob("*") if "raw" in p.parts]  # nothing was downloaded or written there
    videos = pd.read_parquet(tmp / "videos.parquet")
    assert not [c for c in videos.columns if c.startswith("raw")] and {"c23", "c40"} <= set(videos.columns)
    assert json.loads((tmp / "extract.json").read_text())["videos_kept"] == len(videos) == 12
    for tar in [*(tmp / "faces").rglob("*.tar"), *(tmp / "shards").rglob("*.tar")]:
        with tarfile.open(tar) as f:
            qualities = {name.split(".")[-2] for name in f.getnames() if name.endswith(".png")}
        assert qualities == {"c23", "c40"}, tar
    meta = load_checkpoint(tmp / "models" / "teacher" / METHOD / "best.pt")["meta"]
    assert meta["quality"] == "c23"
    for name in ("c23", "c40"):
        assert 0 <= json.loads((tmp / "metrics" / "teacher" / METHOD / f"{name}.json").read_text())["acc"] <= 1
    for distill in ("none", "add"):
        assert (tmp / "metrics" / "student" / METHOD / "c40" / f"{distill}.json").is_file()
    assert not (tmp / "metrics" / "teacher" / METHOD / "raw.json").exists()


def test_a_c23_student_under_a_c23_teacher_is_refused(pipeline, capsys):
    tmp, params, _ = pipeline
    with pytest.raises(ParamsError, match="not lower than teacher.quality 'c23'"):
        TrainingSpec.student(METHOD, "c23", "add", teacher_quality="c23")
    path = tmp / "params.yaml"
    student = ["student", "--params", str(path), "--shards", str(tmp / "shards"), "--models", str(tmp / "models")]
    assert cli.main([*student, "--quality", "c23", "--distill", "add"]) == 1
    assert "student quality 'c23' is not lower than teacher.quality 'c23'" in capsys.readouterr().err
    assert cli.main(["evaluate", "--params", str(path), "--kind", "teacher", "--test-quality", "raw"]) == 1
    assert "no raw video is ever read" in capsys.readouterr().err
    assert cli.main(["gallery", "--params", str(path), "--quality", "c23"]) == 1


def test_a_student_refuses_a_teacher_trained_on_another_quality(pipeline):
    tmp, params, _ = pipeline
    with pytest.raises(ParamsError, match="trained on c23 crops but teacher.quality is 'raw'"):
        fit(parse_params({**params, "teacher": {"quality": "raw"}}), TrainingSpec.student(METHOD, "c40", "add"),
            shards=tmp / "shards", models=tmp / "models", live=None)


def test_the_studys_c40_teacher_control_trains_what_the_pipeline_refuses(pipeline):
    """bench/study.py's add_c40teacher: a teacher trained on c40 crops and an add student distilled from it, the
    two seeing the same crop; `add student` itself still refuses a teacher at the students' quality."""
    import importlib.util

    tmp, _, _ = pipeline
    spec = importlib.util.spec_from_file_location("study", Path(__file__).resolve().parents[1] / "bench" / "study.py")
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    common = ["--params", str(tmp / "params.yaml"), "--method", METHOD, "--shards", str(tmp / "shards")]
    live = ["--dvclive", str(tmp / "c40l")]
    assert study.main(["fit-c40", "teacher", *common, "--models", str(tmp / "c40t"), *live]) == 0
    teacher = tmp / "c40t" / "teacher" / METHOD / "best.pt"
    assert load_detector(teacher)[1]["quality"] == "c40"
    with pytest.raises(SystemExit):  # a student needs its teacher
        study.main(["fit-c40", "student", *common, "--models", str(tmp / "c40s"), *live])
    assert study.main(["fit-c40", "student", *common, "--models", str(tmp / "c40s"), *live,
                       "--teacher", str(teacher)]) == 0
    meta = load_detector(tmp / "c40s" / "student" / METHOD / "c40" / "add" / "best.pt")[1]
    assert (meta["kind"], meta["quality"], meta["distill"]) == ("student", "c40", "add")
    assert (tmp / "c40l" / "student" / METHOD / "c40" / "add").is_dir()
    with pytest.raises(ParamsError, match="teacher.quality"):
        TrainingSpec.student(METHOD, "c40", "add", teacher_quality="c40")


def test_data_download_fetches_no_raw_video_for_a_c23_teacher(tmp_path):
    from ffpp_server import FFPPServer, make_splits, server_tree

    from add.data import download

    splits = make_splits((1, 1, 1))
    root = tmp_path / "ffpp"
    with FFPPServer(server_tree(splits, [METHOD], ["raw", "c23", "c40"])) as server:
        params = {"data": {"source": "ffpp", "root": str(root), "download": True, "agree_tos": True,
                           "splits_url": server.url + "splits", "methods": [METHOD],
                           "qualities": ["raw", "c23", "c40"]}, "teacher": {"quality": "c23"},
                  "evaluate": {"teacher_qualities": ["c23", "c40"]}}
        download.download(FFPPConfig.from_params(params), server.url + "v3/", progress=False)
        assert not [path for _, path, _ in server.requests if "/raw/" in path]  # never even asked for
    videos = [p.relative_to(root).as_posix() for p in root.rglob("*.mp4")]
    assert len(videos) == 2 * 3 * 4 and not [v for v in videos if "/raw/" in v]
