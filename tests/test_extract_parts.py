"""add extract --part i/N: N parts at once into one folder, then the whole stage, equal a single run byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from ffpp_server import make_splits, write_tree

from add import cli
from add.data import ffpp
from add.data import videos as sources
from add.data.demo.build import build_demo
from add.data.extract import stage as extract_stage
from add.data.extract.config import ExtractError
from add.data.extract.parts import MARKER, claim, parse_part, release, select_part
from add.data.extract.stage import _jobs, read_videos

QUALITIES = ["raw", "c40"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parts")
    tree = build_demo(tmp / "tree", seed=3, pairs=(1, 1, 1), frames=6, width=320, height=240, fps=25,
                      methods=("Deepfakes",), qualities=QUALITIES, jobs=1, progress=False)
    params = {"seed": 0, "data": {"source": "ffpp", "root": str(tree), "methods": ["Deepfakes"],
                                  "qualities": QUALITIES, "frames_per_video": 3, "image_size": 32, "jobs": 1}}
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    sources.run(params, tmp / "videos.parquet", tmp / "demo", tmp / "twins")
    return tmp, params


def test_parts_share_the_videos_by_footage():
    assert parse_part("0/3") == (0, 3) and parse_part("2/3") == (2, 3)
    for bad, problem in [("3/3", "part 3 is out of range; parts of 3 are 0 to 2"), ("1/0", "N must be at least 1"),
                         ("-1/3", "expected i/N"), ("a/b", "expected i/N")]:
        with pytest.raises(ExtractError, match=problem):
            parse_part(bad)


def test_three_parts_at_once_then_the_stage_equal_a_single_run(indexed):
    tmp, params = indexed
    cfg_jobs = _jobs(read_videos(tmp / "videos.parquet", QUALITIES), tmp / "x", QUALITIES)
    shares = [select_part(cfg_jobs, i, 3) for i in range(3)]
    assert all(shares) and sorted(j.index for s in shares for j in s) == [j.index for j in cfg_jobs]
    for share in shares:  # a fake lands with the original whose boxes it reuses
        assert {j.footage for j in share}.isdisjoint({j.footage for s in shares if s is not share for j in s})

    single = extract_stage.run(params, tmp / "videos.parquet", tmp / "single", tmp / "single.parquet",
                               tmp / "single.json", progress=False)
    parts_dir = tmp / "parts"
    runs = [subprocess.Popen([sys.executable, "-m", "add.cli", "extract", "--params", str(tmp / "params.yaml"),
                              "--videos", str(tmp / "videos.parquet"), "--out-dir", str(parts_dir),
                              "--manifest", str(tmp / "parts.parquet"), "--metrics", str(tmp / "parts.json"),
                              "--part", f"{i}/3"], cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for i in range(3)]
    for run in runs:
        out, _ = run.communicate(timeout=300)
        assert run.returncode == 0, out
    assert not (tmp / "parts.parquet").exists() and not (tmp / "parts.json").exists()  # parts write no manifest
    assert (parts_dir / MARKER).is_file()
    whole = extract_stage.run(params, tmp / "videos.parquet", parts_dir, tmp / "parts.parquet", tmp / "parts.json",
                              progress=False)
    assert whole["videos_resumed"] == whole["videos"] == single["videos"] == 12  # the stage only wrote the manifest
    assert not (parts_dir / MARKER).exists()
    assert snapshot(parts_dir) == snapshot(tmp / "single")
    assert (tmp / "parts.parquet").read_bytes() == (tmp / "single.parquet").read_bytes()


def test_parts_of_another_n_are_refused(indexed, tmp_path, capsys):
    claim(tmp_path, 3)
    claim(tmp_path, 3)  # every part of the same N may start
    with pytest.raises(ExtractError, match=rf"{MARKER}: parts of 3 are extracting into .*; a part of 4 would"):
        claim(tmp_path, 4)
    release(tmp_path)
    claim(tmp_path, 4)
    tmp, _ = indexed
    args = ["extract", "--params", str(tmp / "params.yaml"), "--videos", str(tmp / "videos.parquet"),
            "--out-dir", str(tmp_path)]
    assert cli.main([*args, "--part", "0/3"]) == 1
    assert "a part of 3 would overlap them" in capsys.readouterr().err
    assert cli.main([*args, "--part", "4/4"]) == 1
    assert "part 4 is out of range" in capsys.readouterr().err


def test_ffpp_missing_skip_keeps_the_row_with_its_reason(tmp_path):
    root = tmp_path / "ffpp"
    write_tree(root, make_splits((1, 1, 1)), ["Deepfakes"], QUALITIES)
    gone = ffpp.video_path(root, "Deepfakes", "c40", "002_003")
    gone.unlink()
    with pytest.raises(ffpp.MissingVideosError):
        ffpp.list_videos(root, ["Deepfakes"], QUALITIES)
    table = ffpp.list_videos(root, ["Deepfakes"], QUALITIES, missing_policy="skip")
    assert len(table) == 12
    left_out = table[table["missing"] != ""]
    assert left_out[["method", "video"]].values.tolist() == [["Deepfakes", "002_003"]]
    assert str(gone) in left_out.iloc[0]["missing"]
    stamped = ffpp.stamp_videos(table, QUALITIES, content=False, base=tmp_path)
    assert stamped.loc[left_out.index[0], "c40_stamp"] == "missing"
    assert set(pd.unique(stamped["split"])) == {"train", "val", "test"}
