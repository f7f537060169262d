"""data.source: list — a CSV of labelled videos as ADD triplets (twins re-encoded as FF++ did), data.missing."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from video_factory import make_video

from add import cli
from add.core.layout import LIST_METHOD, ORIGINAL
from add.core.params import ParamsError
from add.data.demo.build import build_demo
from add.data.ffpp import FFPPConfig, video_path
from add.data.list_source import ListError, read_list
from add.data.twins import TwinError, check_aligned, make_twin, twin_path
from add.data.video_io import probe
from add.training.checkpoints import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def write_csv(folder: Path, lines: list[str], header: str = "path,label,split,group", touch: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if touch:
        for line in lines:
            rel = line.split(",")[0]
            if rel and not os.path.isabs(rel) and ".." not in rel:
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                (folder / rel).write_bytes(b"video")
    path = folder / "list.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


# ---------------------------------------------------------------------------------------------- the CSV
def test_a_good_list(tmp_path):
    elsewhere = tmp_path / "elsewhere.mp4"
    elsewhere.write_bytes(b"video")
    path = write_csv(tmp_path / "set", ["a/1.mp4,real,train,alice,", "a/2.mp4,fake,train,alice,a/1.mp4",
                                        f"{elsewhere},fake,test,bob,", "b/1.mp4,real,val,carol,"],
                     header="path,label,split,group,original")
    entries = read_list(path)
    assert [(e.line, e.label, e.split, e.video) for e in entries] == [
        (2, 0, "train", "000002"), (3, 1, "train", "000002_000003"), (4, 1, "test", "000004_000004"),
        (5, 0, "val", "000005")]
    assert entries[0].path == (tmp_path / "set" / "a" / "1.mp4").resolve() and entries[2].path == elsewhere


@pytest.mark.parametrize("lines,header,problem", [
    (["a.mp4,real,train,alice", "b.mp4,fake,test,alice"], None,
     r"line 3: group 'alice' is in test here but in train on line 2: the videos of one group never go to two splits"),
    (["a.mp4,real,train,x", "b.mp4,genuine,train,y"], None, r"line 3: label 'genuine' is not real or fake"),
    (["a.mp4,real,training,x"], None, r"line 2: split 'training' is not one of train, val, test"),
    (["../up.mp4,real,train,x"], None, r"line 2: path '../up.mp4' climbs out of the list's folder"),
    (["a.mp4,real,train,x", "a.mp4,fake,train,x"], None, r"line 3: .*a.mp4 is already listed on line 2"),
    (["a.mp4,real,train"], None, r"line 2: 3 column\(s\), expected 4"),
    (["a.mp4,real,train,"], None, r"line 2: empty group"),
    (["a.mp4,real"], "path,label", r"line 1: expected the header path,label,split"),
    (["a.mp4,real,train,x,", "b.mp4,fake,val,y,a.mp4"], "path,label,split,group,original",
     r"line 3: the fake is in val but its original \(line 2\) in train"),
    (["b.mp4,fake,val,y,c.mp4"], "path,label,split,group,original", r"line 2: original 'c.mp4' .* is not listed"),
])
def test_every_bad_line_is_one_clear_error_naming_it(tmp_path, lines, header, problem):
    path = write_csv(tmp_path, lines, **({"header": header} if header else {}))
    with pytest.raises(ListError, match=rf"{path}: {problem}"):
        read_list(path)


def test_labels_are_read_in_any_case_by_data_list_and_the_cross_list_alike(tmp_path):
    """DFDC spells its labels REAL/FAKE: data.list and a cross ``list`` entry share one label rule."""
    from add.data.datasets.read import read_dataset

    path = write_csv(tmp_path, ["a.mp4,REAL,train,x", "b.mp4,Fake,train,x", "c.mp4, fake ,test,y"])
    assert [e.label for e in read_list(path)] == [0, 1, 1]
    cross = write_csv(tmp_path / "cross", ["a.mp4,REAL", "b.mp4,FAKE"], header="path,label")
    assert [r.label for r in read_dataset("list", cross)[0]] == [0, 1]
    bad = write_csv(tmp_path / "bad", ["a.mp4,REALLY,train,x"])
    with pytest.raises(ListError, match=r"line 2: label 'REALLY' is not real or fake"):
        read_list(bad)


def test_a_missing_file_is_an_error_or_left_out_with_its_reason(tmp_path):
    path = write_csv(tmp_path, ["a.mp4,real,train,x", "b.mp4,fake,train,x"])
    (tmp_path / "b.mp4").unlink()
    with pytest.raises(ListError, match=rf"{path}: line 3: .*b.mp4: file not found \(data.missing: skip"):
        read_list(path)
    entries = read_list(path, missing="skip")
    assert [bool(e.missing) for e in entries] == [False, True] and "line 3" in entries[1].missing


def test_list_params():
    base = {"data": {"source": "list", "list": "my.csv", "methods": [LIST_METHOD], "missing": "skip"}}
    cfg = FFPPConfig.from_params(base)
    assert (cfg.source, cfg.list, cfg.missing) == ("list", Path("my.csv"), "skip")
    with pytest.raises(ParamsError, match=r"data.methods' must be \[list\] exactly when data.source is list"):
        FFPPConfig.from_params({"data": {**base["data"], "methods": ["Deepfakes"]}})
    with pytest.raises(ParamsError, match="data.list' must name the CSV"):
        FFPPConfig.from_params({"data": {"source": "list", "methods": [LIST_METHOD]}})
    with pytest.raises(ParamsError, match="data.missing"):
        FFPPConfig.from_params({"data": {"missing": "ignore"}})


# ---------------------------------------------------------------------------------------------- the twins
def test_twins_are_frame_aligned_and_rebuilt_only_when_their_input_changes(tmp_path):
    src = Path(make_video(tmp_path / "in", "clip", 7, width=160, height=120, qualities=["raw"])["raw"])
    dst = twin_path(tmp_path / "twins", "c40", "000002")
    assert make_twin(src, dst, "c40") is True
    assert probe(dst).frames == probe(src).frames == 7
    first = dst.stat().st_mtime_ns
    assert make_twin(src, dst, "c40") is False and dst.stat().st_mtime_ns == first  # cached
    src.write_bytes(src.read_bytes())  # same bytes, new mtime: the input changed as far as the cache can tell
    assert make_twin(src, dst, "c40") is True
    short = make_video(tmp_path / "short", "clip", 5, width=160, height=120, qualities=["raw"])["raw"]
    with pytest.raises(TwinError, match="5 frames, its input .* 7: the twin is not frame-aligned"):
        check_aligned(src, short)


# ------------------------------------------------------------------------- a list source, videos to students
@pytest.fixture(scope="module")
def listed(tmp_path_factory):
    """A CSV over a raw demo tree: its originals real, its fakes fake (one with its original named), grouped by
    the id whose footage they show, plus a line whose file is gone (data.missing: skip)."""
    tmp = tmp_path_factory.mktemp("list")
    tree = build_demo(tmp / "tree", seed=3, pairs=(1, 1, 1), frames=6, width=320, height=240, fps=25,
                      methods=("Deepfakes",), qualities=("raw",), jobs=1, progress=False)
    splits = {s: json.loads((tree / "splits" / f"{s}.json").read_text()) for s in ("train", "val", "test")}
    lines = []
    for split, pairs in splits.items():
        for a, b in pairs:
            for real in (a, b):
                lines.append(f"{video_path(tree, ORIGINAL, 'raw', real)},real,{split},{real},")
            for target, source in ((a, b), (b, a)):
                fake = video_path(tree, "Deepfakes", "raw", f"{target}_{source}")
                original = video_path(tree, ORIGINAL, "raw", target) if target == a else ""
                lines.append(f"{fake},fake,{split},{target},{original}")
    lines.append(f"{tmp / 'gone.mp4'},fake,train,gone,")
    csv = tmp / "list.csv"
    csv.write_text("\n".join(["path,label,split,group,original", *lines]) + "\n")
    params = {
        "seed": 0, "beta": 16,
        "data": {"source": "list", "list": str(csv), "missing": "skip", "methods": [LIST_METHOD],
                 "qualities": ["raw", "c23", "c40"], "frames_per_video": 3, "image_size": 32, "jobs": 1},
        "model": {"name": "resnet18", "pretrained": False, "weights": None},
        "train": {"epochs": 1, "batch_size": 8, "lr": 1e-3, "val_per_epoch": 1, "patience": 10, "num_workers": 0},
        "distill": {"method": "add", "quality": "c40", "directions": 4},
    }
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    p = ["--params", str(path)]
    sh = ["--shards", str(tmp / "shards")]
    out = ["--models", str(tmp / "models"), "--dvclive", str(tmp / "dvclive")]
    assert cli.main(["videos", *p, "--out", str(tmp / "videos.parquet"), "--demo-root", str(tmp / "demo"),
                     "--twins", str(tmp / "twins")]) == 0
    assert cli.main(["extract", *p, "--videos", str(tmp / "videos.parquet"), "--out-dir", str(tmp / "faces"),
                     "--manifest", str(tmp / "manifest.parquet"), "--metrics", str(tmp / "extract.json")]) == 0
    assert cli.main(["shards", *p, "--faces", str(tmp / "faces"), "--manifest", str(tmp / "manifest.parquet"),
                     "--out", str(tmp / "shards")]) == 0
    assert cli.main(["teacher", *p, *sh, *out, "--method", LIST_METHOD]) == 0
    assert cli.main(["student", *p, *sh, *out, "--method", LIST_METHOD, "--quality", "c40", "--distill", "add"]) == 0
    return tmp, csv


def test_a_list_source_trains_a_teacher_and_a_student(listed):
    tmp, csv = listed
    videos = pd.read_parquet(tmp / "videos.parquet")
    present = videos[videos["missing"] == ""]
    assert len(present) == 12 and set(videos["method"]) == {ORIGINAL, LIST_METHOD}
    for _, row in present.iterrows():  # every c40 twin decodes to the frames of its input
        assert probe(row["c40"]).frames == probe(row["raw"]).frames == 6
    metrics = json.loads((tmp / "extract.json").read_text())
    assert metrics["videos_kept"] == 12 and metrics["status_missing"] == 1
    assert metrics["videos_boxes_reused"] == 3  # the fakes whose original the list names
    with tarfile.open(next((tmp / "faces" / LIST_METHOD).glob("*.tar"))) as tar:
        assert {n.split(".")[-2] for n in tar.getnames() if n.endswith(".png")} == {"raw", "c23", "c40"}
    index = json.loads((tmp / "shards" / "index.json").read_text())
    assert index  # a dataset per split of the list
    assert load_checkpoint(tmp / "models" / "teacher" / LIST_METHOD / "best.pt")["meta"]["quality"] == "raw"
    assert (tmp / "models" / "student" / LIST_METHOD / "c40" / "add" / "best.pt").is_file()


def test_skip_lists_what_it_left_out_in_the_manifest(listed):
    tmp, _ = listed
    manifest = pd.read_parquet(tmp / "manifest.parquet")
    gone = manifest[manifest["status"] == "missing"]
    assert len(gone) == 1 and "gone.mp4: file not found" in gone.iloc[0]["reason"]
    assert "list.csv: line 14" in gone.iloc[0]["reason"]
    # the splits stay disjoint: every group's videos sit in one split
    videos = pd.read_parquet(tmp / "videos.parquet")
    assert (videos.groupby("target")["split"].nunique() == 1).all()


def test_twins_are_cached_between_runs(listed):
    tmp, _ = listed
    before = {p: p.stat().st_mtime_ns for p in (tmp / "twins").rglob("*.mp4")}
    assert len(before) == 24
    assert cli.main(["videos", "--params", str(tmp / "params.yaml"), "--out", str(tmp / "videos2.parquet"),
                     "--demo-root", str(tmp / "demo"), "--twins", str(tmp / "twins")]) == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp / "twins").rglob("*.mp4")} == before


def test_a_twin_whose_timestamps_drift_is_refused(tmp_path, monkeypatch):
    """Where the reader gives presentation times, the twin's must be its input's (a VFR input resampled to CFR
    keeps the count when it drops and duplicates as many frames, not the times)."""
    from types import SimpleNamespace

    from add.data import twins

    infos = {"in.mp4": SimpleNamespace(frames=3, width=64, height=48, times=(0.0, 0.04, 0.10)),
             "twin.mp4": SimpleNamespace(frames=3, width=64, height=48, times=(0.0, 0.04, 0.08))}
    monkeypatch.setattr(twins, "probe", lambda path: infos[str(path)])
    with pytest.raises(TwinError, match=r"twin.mp4: frame 2 at 0.0800 s, in its input in.mp4 at 0.1000 s"):
        check_aligned("in.mp4", "twin.mp4")
    infos["twin.mp4"] = SimpleNamespace(frames=3, width=64, height=48, times=(1.0, 1.04, 1.1004))  # same, shifted
    check_aligned("in.mp4", "twin.mp4")


# ------------------------------------------------- unreadable files, the listed path, the quality of the list
@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A real clip and a fake of it (raw and c23 encodings), 4 frames of 160x120."""
    tmp = tmp_path_factory.mktemp("clips")
    real = make_video(tmp, "real", 4, width=160, height=120, qualities=["raw", "c23"])
    fake = make_video(tmp, "fake", 4, width=160, height=120, qualities=["raw", "c23"], swap=1)
    return {"real": real, "fake": fake}


def list_params(csv: Path, **data) -> dict:
    teacher = data.pop("teacher", "raw")
    return {"seed": 0, "teacher": {"quality": teacher},
            "evaluate": {"teacher_qualities": [teacher, "c40"]},
            "data": {"source": "list", "list": str(csv), "methods": [LIST_METHOD], "qualities": ["raw", "c23", "c40"],
                     "frames_per_video": 2, "image_size": 32, "jobs": 1, **data}}


def run_videos(tmp: Path, params: dict) -> pd.DataFrame:
    from add.data import videos as sources

    sources.run(params, tmp / "videos.parquet", tmp / "demo", tmp / "twins")
    return pd.read_parquet(tmp / "videos.parquet")


def test_an_unreadable_listed_video_stops_the_stage_at_its_line_or_is_a_dropped_video_row(tmp_path, clips):
    from add.data.extract.stage import run as extract

    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "ok.mp4").write_bytes(Path(clips["real"]["raw"]).read_bytes())
    (tmp_path / "set" / "zero.mp4").write_bytes(b"")
    (tmp_path / "set" / "junk.mp4").write_bytes(b"not a video at all")
    csv = write_csv(tmp_path / "set", ["ok.mp4,real,train,a", "zero.mp4,fake,train,a", "junk.mp4,fake,train,a"],
                    touch=False)
    with pytest.raises(ListError, match=rf"{csv}: line 3: .*zero.mp4: empty file \(0 bytes\); 1 more listed video"):
        run_videos(tmp_path, list_params(csv))
    assert not (tmp_path / "videos.parquet").exists()
    videos = run_videos(tmp_path, list_params(csv, missing="skip")).set_index("path")
    assert videos.loc["ok.mp4", "unreadable"] == ""
    assert videos.loc["zero.mp4", "unreadable"].endswith(f"zero.mp4: empty file (0 bytes) ({csv}: line 3)")
    assert "junk.mp4" in videos.loc["junk.mp4", "unreadable"] and "line 4" in videos.loc["junk.mp4", "unreadable"]
    totals = extract(list_params(csv, missing="skip"), tmp_path / "videos.parquet", tmp_path / "faces",
                     tmp_path / "manifest.parquet", tmp_path / "extract.json", progress=False)
    manifest = pd.read_parquet(tmp_path / "manifest.parquet").set_index("path")
    assert manifest.loc["zero.mp4", "status"] == "dropped_video" and "empty file (0 bytes)" in manifest.loc[
        "zero.mp4", "reason"]
    assert manifest.loc["junk.mp4", "status"] == "dropped_video"
    assert totals["videos"] == 3 and totals["videos_dropped"] >= 2


def test_the_listed_path_stays_beside_the_id_in_videos_and_manifest(tmp_path, clips):
    from add.core.layout import MANIFEST_COLUMNS
    from add.data.extract.stage import _manifest
    from add.data.extract.stage import run as extract

    (tmp_path / "set" / "my clips").mkdir(parents=True)
    for name in ("real", "fake"):
        (tmp_path / "set" / "my clips" / f"{name}.mp4").write_bytes(Path(clips[name]["raw"]).read_bytes())
    csv = write_csv(tmp_path / "set", ["my clips/real.mp4,real,train,a,", "my clips/fake.mp4,fake,train,a,"
                                       "my clips/real.mp4"], header="path,label,split,group,original", touch=False)
    videos = run_videos(tmp_path, list_params(csv))
    assert dict(zip(videos["video"], videos["path"], strict=True)) == {"000002": "my clips/real.mp4",
                                                                       "000002_000003": "my clips/fake.mp4"}
    extract(list_params(csv), tmp_path / "videos.parquet", tmp_path / "faces", tmp_path / "manifest.parquet",
            tmp_path / "extract.json", progress=False)
    manifest = pd.read_parquet(tmp_path / "manifest.parquet")
    assert list(manifest.columns[:4]) == ["split", "method", "video", "path"]
    assert set(zip(manifest["video"], manifest["path"], strict=True)) == {("000002", "my clips/real.mp4"),
                                                             ("000002_000003", "my clips/fake.mp4")}
    assert tuple(_manifest([], {}).columns) == MANIFEST_COLUMNS  # the demo's and FF++'s manifest: no new column


def test_a_c23_list_is_used_as_is_and_only_c40_is_made_from_it(tmp_path, clips):
    (tmp_path / "set").mkdir()
    listed = tmp_path / "set" / "real_c23.mp4"
    listed.write_bytes(Path(clips["real"]["c23"]).read_bytes())
    csv = write_csv(tmp_path / "set", ["real_c23.mp4,real,train,a"], touch=False)
    with pytest.raises(ParamsError, match=r"data.list_quality' is c23, so the list has no raw video .* set "
                       r"teacher.quality: c23"):
        run_videos(tmp_path, list_params(csv, list_quality="c23"))
    videos = run_videos(tmp_path, list_params(csv, list_quality="c23", teacher="c23"))
    row = videos.iloc[0]
    assert "raw" not in videos.columns and Path(row["c23"]).resolve() == listed.resolve()
    assert row["c23_stamp"] == f"mtime_ns:{listed.stat().st_mtime_ns}"
    assert [p.relative_to(tmp_path / "twins").as_posix() for p in (tmp_path / "twins").rglob("*.mp4")] == [
        "c40/000002.mp4"]
    assert probe(row["c40"]).frames == 4
    # the default stays raw: a raw list under a c23 teacher is re-encoded to c23 (the README says which file)
    videos = run_videos(tmp_path, list_params(csv, teacher="c23"))
    assert Path(videos.iloc[0]["c23"]).parent == (tmp_path / "twins" / "c23").resolve()
