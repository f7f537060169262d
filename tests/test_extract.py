"""The extract stage (the add.data.extract package) on small synthetic videos with planted failures."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from video_factory import damage_inside, make_video, truncate, write_videos_parquet

from add import cli
from add.core import layout
from add.core.params import ParamsError
from add.data.extract import stage as extract_stage
from add.data.extract.config import STATUSES, ExtractConfig, ExtractError, video_seed
from add.data.extract.jobs import Alignment, Reference, VideoJob
from add.data.extract.per_video import extract_video, write_tar
from add.data.extract.scheduler import reference_map
from add.data.extract.sidecar import fingerprint
from add.data.faces import FaceDetector, crop
from add.data.sampling import sample_indices
from add.data.video_io import read_frames

N_FRAMES = 16
PER_VIDEO = 6
PARAMS = {"seed": 0, "data": {"frames_per_video": PER_VIDEO, "jobs": 1, "image_size": 128}}


@functools.cache
def detector() -> FaceDetector:
    return FaceDetector(threshold=0.0)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Six 320x240 clips of 16 frames: two good ones (one with faceless frames) and four planted failures."""
    root = tmp_path_factory.mktemp("extract")
    src = root / "ffpp"
    rows = [
        dict(split="train", method="original", video="000", label=0,
             **make_video(src / "original", "000", N_FRAMES, face="astronaut", seed=1)),
        dict(split="train", method="original", video="001", label=0,  # no face in frames 0-2: frame 1 falls back
             **make_video(src / "original", "001", N_FRAMES, face=5, seed=2, no_face={0, 1, 2})),
        dict(split="test", method="original", video="002", label=0,  # no face at all
             **make_video(src / "original", "002", N_FRAMES, face=None, seed=3)),
        dict(split="train", method="Deepfakes", video="000_001", label=1,  # c40 has 14 frames, raw/c23 16
             **make_video(src / "Deepfakes", "000_001", N_FRAMES, face=42, seed=4, lengths={"c40": 14})),
        dict(split="train", method="Deepfakes", video="001_000", label=1,  # c23 cut in half, like a broken copy
             **make_video(src / "Deepfakes", "001_000", N_FRAMES, face=7, seed=5)),
        dict(split="val", method="Deepfakes", video="002_003", label=1,  # raw cut inside its header
             **make_video(src / "Deepfakes", "002_003", N_FRAMES, face=9, seed=6)),
    ]
    truncate(rows[4]["c23"], 0.5)
    truncate(rows[5]["raw"], 0.0005)
    videos = write_videos_parquet(root / "videos.parquet", rows)
    out = root / "run1"
    metrics = extract_stage.run(PARAMS, videos, out / "faces", out / "manifest.parquet", out / "extract.json",
                          progress=False)
    return {"root": root, "videos": videos, "rows": {r["video"]: r for r in rows}, "out": out, "metrics": metrics,
            "manifest": pd.read_parquet(out / "manifest.parquet")}


def tar_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def png(blob: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def rows_of(manifest: pd.DataFrame, video: str) -> pd.DataFrame:
    return manifest[manifest["video"] == video]


# ------------------------------------------------------------------------------------------------------ manifest
def test_manifest_schema_and_order(planted):
    m = planted["manifest"]
    assert list(m.columns) == list(layout.MANIFEST_COLUMNS)
    assert m["frame"].dtype == np.int64 and m["label"].dtype == np.int64 and m["x0"].dtype == np.float64
    key = m[["split", "method", "video", "frame"]].values.tolist()
    assert key == sorted(key)
    assert set(m["status"]) <= set(STATUSES)
    assert (m.loc[m["status"] != "ok", "reason"] != "").all() and (m.loc[m["status"] == "ok", "reason"] == "").all()


def test_kept_videos_have_the_sampled_frames(planted):
    m = planted["manifest"]
    expected = sample_indices(N_FRAMES, PER_VIDEO)
    assert expected == [1, 4, 6, 9, 12, 14]
    for video in ("000", "001"):
        rows = rows_of(m, video)
        assert rows["frame"].tolist() == expected
        names = sorted(tar_members(planted["out"] / "faces" / "original" / f"{video}.tar"))
        assert names == sorted(f"{f:04d}.{s}" for f in expected for s in ("raw.png", "c23.png", "c40.png", "json"))
    assert (rows_of(m, "000")["status"] == "ok").all()


def test_frame_without_a_face_falls_back_to_the_nearest_box(planted):
    rows = rows_of(planted["manifest"], "001").set_index("frame")
    assert rows.loc[1, "status"] == "fallback"
    assert "no face detected" in rows.loc[1, "reason"] and "box of frame 4" in rows.loc[1, "reason"]
    box = ["x0", "y0", "x1", "y1"]
    assert rows.loc[1, box].tolist() == rows.loc[4, box].tolist()
    assert (rows.drop(index=1)["status"] == "ok").all()
    meta = json.loads(tar_members(planted["out"] / "faces" / "original" / "001.tar")["0001.json"])
    assert meta["status"] == "fallback" and meta["box"] == [int(v) for v in rows.loc[4, box]]


@pytest.mark.parametrize("video,words", [
    ("002", ["no face in any of the 6 sampled frames"]),
    ("000_001", ["frame counts differ", "raw=16", "c23=16", "c40=14"]),
    # a file cut mid-stream: ffmpeg either counts fewer frames or reports the damage, depending on where it is cut
    ("001_000", ["frame counts differ|c23: ", "c23=|truncated or corrupt"]),
    ("002_003", ["raw:", "ffmpeg cannot read it"]),
])
def test_planted_failures_drop_the_video_with_a_reason(planted, video, words):
    rows = rows_of(planted["manifest"], video)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["status"] == "dropped_video" and row["frame"] == -1
    assert np.isnan(row[["x0", "y0", "x1", "y1", "score"]].astype(float)).all()
    for word in words:
        assert any(w in row["reason"] for w in word.split("|")), (word, row["reason"])
    assert " @ 0x" not in row["reason"]  # ffmpeg's pointers would make the manifest differ from run to run
    assert not (planted["out"] / "faces" / row["method"] / f"{video}.tar").exists()


def test_a_decoder_error_inside_a_readable_video_drops_it_with_the_reason(planted, tmp_path):
    row = dict(planted["rows"]["000"])
    for q in ("raw", "c23", "c40"):
        shutil.copy(row[q], tmp_path / f"{q}.mp4")
        row[q] = str(tmp_path / f"{q}.mp4")
    damage_inside(row["raw"], 4096)  # 4 KB of noise inside a P frame: ffmpeg conceals it and exits 0
    videos = write_videos_parquet(tmp_path / "videos.parquet", [row])
    metrics = extract_stage.run(PARAMS, videos, tmp_path / "faces", tmp_path / "m.parquet", tmp_path / "x.json",
                          progress=False)
    manifest = pd.read_parquet(tmp_path / "m.parquet")
    assert manifest["status"].tolist() == ["dropped_video"] and metrics["videos_kept"] == 0
    reason = manifest.loc[0, "reason"]
    assert reason.startswith(f"raw: {row['raw']}: decoder errors") and "error while decoding MB" in reason, reason
    assert " @ 0x" not in reason
    assert not (tmp_path / "faces" / "original" / "000.tar").exists()


def test_metrics_are_flat_totals_of_the_manifest(planted):
    metrics = json.loads((planted["out"] / "extract.json").read_text())
    history = {"seconds_per_video", "seconds_total", "videos_resumed"}  # returned, never written: tracked in git
    assert history.isdisjoint(metrics) and metrics == {k: v for k, v in planted["metrics"].items() if k not in history}
    assert all(isinstance(v, int | float) for v in metrics.values())
    assert metrics["videos"] == 6 and metrics["videos_kept"] == 2 and metrics["videos_dropped"] == 4
    assert metrics["frames_kept"] == 12 and metrics["frames_fallback"] == 1 and metrics["status_ok"] == 11
    assert metrics["status_dropped_video"] == 4 and metrics["status_dropped_frame"] == 0
    assert planted["metrics"]["videos_resumed"] == 0 and planted["metrics"]["seconds_per_video"] > 0


def test_a_rerun_that_resumes_every_video_writes_the_same_metrics_file(planted, tmp_path):
    again = extract_stage.run(PARAMS, planted["videos"], planted["out"] / "faces", tmp_path / "manifest.parquet",
                              tmp_path / "extract.json", progress=False)
    assert again["videos_resumed"] == again["videos"] == 6  # dropped videos are resumed too (their sidecars)
    assert (tmp_path / "extract.json").read_bytes() == (planted["out"] / "extract.json").read_bytes()


# --------------------------------------------------------------------------------------------------------- crops
def test_crops_contain_a_face(planted):
    m = planted["manifest"]
    for video in ("000", "001"):
        members = tar_members(planted["out"] / "faces" / "original" / f"{video}.tar")
        for frame in rows_of(m, video).query("status == 'ok'")["frame"]:
            for quality in ("raw", "c23"):
                img = png(members[f"{frame:04d}.{quality}.png"])
                assert img.shape == (128, 128, 3)
                up = cv2.resize(img, (256, 256), interpolation=cv2.INTER_LINEAR)
                assert detector()(up), f"no face in {video} frame {frame} {quality} crop"


def test_crops_are_the_manifest_box_of_each_decoded_quality(planted):
    """Re-crop independently: every PNG is exactly the manifest's box of that quality's frame (pixel-aligned)."""
    rows = rows_of(planted["manifest"], "001").set_index("frame")
    members = tar_members(planted["out"] / "faces" / "original" / "001.tar")
    for quality in ("raw", "c23", "c40"):
        for frame, image in read_frames(planted["rows"]["001"][quality], list(rows.index)):
            box = tuple(int(v) for v in rows.loc[frame, ["x0", "y0", "x1", "y1"]])
            assert np.array_equal(png(members[f"{frame:04d}.{quality}.png"]), crop(image, box, 128))


def test_compressed_crops_agree_with_raw_and_c40_is_further(planted):
    members = tar_members(planted["out"] / "faces" / "original" / "000.tar")
    frames = sample_indices(N_FRAMES, PER_VIDEO)
    c23 = [psnr(png(members[f"{f:04d}.raw.png"]), png(members[f"{f:04d}.c23.png"])) for f in frames]
    c40 = [psnr(png(members[f"{f:04d}.raw.png"]), png(members[f"{f:04d}.c40.png"])) for f in frames]
    assert min(c23) > 30, c23
    assert all(a > b + 3 for a, b in zip(c23, c40, strict=True)), (c23, c40)
    # Alignment matters: the raw crop against a c23 crop 3 px off is much further than the aligned one.
    raw_frame = next(read_frames(planted["rows"]["000"]["c23"], [frames[0]]))[1]
    box = json.loads(members[f"{frames[0]:04d}.json"])["box"]
    shifted = crop(raw_frame, (box[0] + 3, box[1], box[2] + 3, box[3]), 128)
    assert psnr(png(members[f"{frames[0]:04d}.raw.png"]), shifted) < c23[0] - 5


# ---------------------------------------------------------------------------------------- reruns and resumption
def test_forced_rerun_in_parallel_is_byte_identical(planted):
    out = planted["root"] / "run2"
    params = {**PARAMS, "data": {**PARAMS["data"], "jobs": 2}}
    extract_stage.run(params, planted["videos"], out / "faces", out / "manifest.parquet", out / "extract.json",
                force=True, progress=False)
    first, second = planted["out"] / "faces", out / "faces"
    names = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert [n for n in names if n.suffix == ".tar"] == [Path("original/000.tar"), Path("original/001.tar")]
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_parquet(out / "manifest.parquet"), planted["manifest"])
    with tarfile.open(second / "original" / "000.tar") as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == sorted(i.name for i in infos)
    assert {(i.mtime, i.uid, i.gid, i.uname, i.gname) for i in infos} == {(0, 0, 0, "", "")}


def test_rerun_resumes_only_what_is_missing_and_cleans_up(planted):
    out = planted["root"] / "run3"
    shutil.copytree(planted["out"], out)
    faces = out / "faces"
    before = (faces / "original" / "001.tar").read_bytes()
    (faces / "original" / "001.tar").unlink()  # as if the stage was killed while writing it
    (faces / "original" / ".001.tar.abc123.tmp").write_bytes(b"half a tar")  # a killed run's temp file
    (faces / "original" / "999.tar").write_bytes(b"a video no longer listed")
    (faces / "original" / "999.decisions.json").write_text("{}")
    metrics = extract_stage.run(PARAMS, planted["videos"], faces, out / "manifest.parquet", out / "extract.json",
                          progress=False)
    assert metrics["videos_resumed"] == 5
    assert (faces / "original" / "001.tar").read_bytes() == before
    assert sorted(p.name for p in (faces / "original").iterdir()) == [
        "000.decisions.json", "000.tar", "001.decisions.json", "001.tar", "002.decisions.json"]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "manifest.parquet"), planted["manifest"])


def test_a_damaged_tar_is_extracted_again_not_resumed(planted):
    out = planted["root"] / "run-damaged"
    shutil.copytree(planted["out"], out)
    faces = out / "faces"
    good = {name: (faces / "original" / name).read_bytes() for name in ("000.tar", "001.tar")}
    truncate(faces / "original" / "000.tar", 0.5)  # an interrupted copy
    flipped = bytearray(good["001.tar"])
    flipped[len(flipped) // 2] ^= 0xFF  # same size, one byte off
    (faces / "original" / "001.tar").write_bytes(bytes(flipped))
    side = json.loads((faces / "original" / "000.decisions.json").read_text())
    assert side["tar"] == {"size": len(good["000.tar"]), "sha256": hashlib.sha256(good["000.tar"]).hexdigest()}
    metrics = extract_stage.run(PARAMS, planted["videos"], faces, out / "manifest.parquet", out / "extract.json",
                          progress=False)
    assert metrics["videos_resumed"] == 4  # of 6: both damaged tars were extracted again
    for name, blob in good.items():
        assert (faces / "original" / name).read_bytes() == blob, name
    pd.testing.assert_frame_equal(pd.read_parquet(out / "manifest.parquet"), planted["manifest"])


def test_changed_settings_or_inputs_are_not_resumed(planted, tmp_path):
    row = dict(planted["rows"]["000"])
    for q in ("raw", "c23", "c40"):
        shutil.copy(row[q], tmp_path / f"{q}.mp4")
        row[q] = str(tmp_path / f"{q}.mp4")
    videos = write_videos_parquet(tmp_path / "videos.parquet", [row])
    paths = (tmp_path / "faces", tmp_path / "manifest.parquet", tmp_path / "extract.json")
    first = extract_stage.run(PARAMS, videos, *paths, progress=False)
    assert first["videos_resumed"] == 0
    again = extract_stage.run(PARAMS, videos, *paths, progress=False)
    assert again["videos_resumed"] == 1
    smaller = {**PARAMS, "data": {**PARAMS["data"], "image_size": 64}}
    changed = extract_stage.run(smaller, videos, *paths, progress=False)
    assert changed["videos_resumed"] == 0
    assert png(tar_members(tmp_path / "faces" / "original" / "000.tar")["0001.raw.png"]).shape == (64, 64, 3)
    shutil.copy(planted["rows"]["001"]["c40"], row["c40"])  # different content under the same name
    replaced = extract_stage.run(smaller, videos, *paths, progress=False)
    assert replaced["videos_resumed"] == 0 and replaced["videos_dropped"] == 0


def test_relative_paths_in_the_index_resolve_against_the_working_directory(planted, tmp_path, monkeypatch):
    row = dict(planted["rows"]["000"])
    (tmp_path / "repo" / "videos").mkdir(parents=True)
    for q in ("raw", "c23", "c40"):
        shutil.copy(row[q], tmp_path / "repo" / "videos" / f"{q}.mp4")
        row[q] = f"videos/{q}.mp4"  # as the videos stage writes a path inside the repository
    videos = write_videos_parquet(tmp_path / "videos.parquet", [row])
    monkeypatch.chdir(tmp_path / "repo")
    metrics = extract_stage.run(PARAMS, videos, tmp_path / "faces", tmp_path / "m.parquet", tmp_path / "x.json",
                          progress=False)
    assert metrics["videos_kept"] == 1
    assert (tmp_path / "faces" / "original" / "000.tar").read_bytes() == \
        (planted["out"] / "faces" / "original" / "000.tar").read_bytes()


# ------------------------------------------------------------------------------------------------------ sampling
def test_even_sampling():
    assert sample_indices(10, 5) == [1, 3, 5, 7, 9]
    assert sample_indices(250, 64) == sorted(set(sample_indices(250, 64)))
    assert len(sample_indices(250, 64)) == 64
    assert sample_indices(5, 8) == [0, 1, 2, 3, 4]  # fewer frames than wanted: all of them
    assert sample_indices(8, 8, "random", 3) == list(range(8))


def test_random_sampling_is_seeded_per_video():
    a = sample_indices(300, 16, "random", video_seed(0, "original", "000"))
    assert a == sorted(set(a)) and len(a) == 16 and 0 <= a[0] and a[-1] < 300
    assert a == sample_indices(300, 16, "random", video_seed(0, "original", "000"))
    assert a != sample_indices(300, 16, "random", video_seed(1, "original", "000"))
    assert a != sample_indices(300, 16, "random", video_seed(0, "original", "001"))
    assert a != sample_indices(300, 16, "even")


def test_random_sampling_does_not_depend_on_the_process():
    code = ("from add.data.extract.config import video_seed; from add.data.sampling import sample_indices; "
            "print(sample_indices(300, 16, 'random', video_seed(7, 'Deepfakes', '000_003')))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(outs) == 1
    assert json.loads(outs.pop()) == sample_indices(300, 16, "random", video_seed(7, "Deepfakes", "000_003"))


def test_random_sampling_in_the_stage(planted, tmp_path):
    videos = write_videos_parquet(tmp_path / "videos.parquet", [planted["rows"]["000"]])

    def frames(seed: int, name: str) -> list[int]:
        params = {"seed": seed, "data": {**PARAMS["data"], "sampling": "random"}}
        out = tmp_path / name
        extract_stage.run(params, videos, out / "faces", out / "m.parquet", out / "x.json", progress=False)
        return pd.read_parquet(out / "m.parquet")["frame"].tolist()

    first = frames(3, "a")
    assert first == sample_indices(N_FRAMES, PER_VIDEO, "random", video_seed(3, "original", "000"))
    assert frames(3, "b") == first
    assert frames(4, "c") != first


# ------------------------------------------------------------------------------------------------- CLI and input
def test_cli_takes_all_frames_of_a_short_video(planted, tmp_path):
    videos = write_videos_parquet(tmp_path / "videos.parquet", [planted["rows"]["000"]])
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"seed": 0, "data": {"frames_per_video": 64, "jobs": 1, "image_size": 96}}))
    rc = cli.main(["extract", "--params", str(params), "--videos", str(videos), "--out-dir", str(tmp_path / "faces"),
                   "--manifest", str(tmp_path / "m.parquet"), "--metrics", str(tmp_path / "x.json")])
    assert rc == 0
    manifest = pd.read_parquet(tmp_path / "m.parquet")
    assert manifest["frame"].tolist() == list(range(N_FRAMES))
    members = tar_members(tmp_path / "faces" / "original" / "000.tar")
    assert len(members) == 4 * N_FRAMES and png(members["0015.c40.png"]).shape == (96, 96, 3)


@pytest.mark.parametrize("change,match", [
    ({"data": {"frames_per_video": 0}}, "data.frames_per_video"),
    ({"data": {"sampling": "uniform"}}, "data.sampling"),
    ({"data": {"image_size": "large"}}, "data.image_size"),  # "128" is a number (one rule for every key)
    ({"data": {"jobs": -1}}, "data.jobs"),
    ({"data": {"qualities": ["raw", "c50"]}}, "data.qualities"),
    ({"data": {"detect_threshold": float("nan")}}, "data.detect_threshold"),
    ({"data": {"detect_max_side": 10}}, "data.detect_max_side"),
    ({"data": {"box_scale": 0.5}}, "data.box_scale"),
    ({"data": {"detect_size_tolerance": 0.9}}, "data.detect_size_tolerance"),
    ({"seed": -3}, "seed"),
])
def test_nonsense_params_are_refused(change, match):
    with pytest.raises(ParamsError, match=match):
        ExtractConfig.from_params(change)


def test_config_defaults_and_detection_quality():
    cfg = ExtractConfig.from_params({"data": {"qualities": ["c40", "c23"]}})
    assert cfg.frames_per_video == 64 and cfg.sampling == "even" and cfg.image_size == 128
    assert cfg.faces.box_scale == 1.3
    assert cfg.detect_quality == "c23"
    assert ExtractConfig.from_params({}).detect_quality == "raw"
    assert ExtractConfig.from_params({"data": {"jobs": 3}}).workers(2) == 2


@pytest.mark.parametrize("table,match", [
    ("missing", "not found"),
    ({"video": ["000"], "split": ["train"], "method": ["original"], "label": [0], "raw": ["a"], "c23": ["b"]},
     r"missing column\(s\) \['c40'\]"),
    ({"video": ["../x"], "split": ["train"], "method": ["original"], "label": [0], "raw": ["a"], "c23": ["b"],
      "c40": ["c"]}, "cannot be file names"),
    ({"video": ["000", "000"], "split": ["train", "val"], "method": ["original"] * 2, "label": [0, 0],
      "raw": ["a", "b"], "c23": ["b", "c"], "c40": ["c", "d"]}, "listed twice"),
    ({"video": ["000"], "split": ["train"], "method": ["original"], "label": [2], "raw": ["a"], "c23": ["b"],
      "c40": ["c"]}, "label"),
])
def test_bad_videos_table_is_refused_naming_the_file(tmp_path, table, match):
    path = tmp_path / "videos.parquet"
    if table != "missing":
        pd.DataFrame(table).to_parquet(path)
    with pytest.raises(ExtractError, match=match) as err:
        extract_stage.run(PARAMS, path, tmp_path / "faces", tmp_path / "m.parquet", tmp_path / "x.json", progress=False)
    assert str(path) in str(err.value)
    assert not (tmp_path / "m.parquet").exists()


def test_write_tar_is_reproducible(tmp_path):
    members = {"b.txt": b"2", "a.txt": b"1"}
    write_tar(tmp_path / "x.tar", members)
    write_tar(tmp_path / "y.tar", dict(reversed(members.items())))
    assert (tmp_path / "x.tar").read_bytes() == (tmp_path / "y.tar").read_bytes()
    with tarfile.open(fileobj=io.BytesIO((tmp_path / "x.tar").read_bytes())) as tar:
        assert tar.getnames() == ["a.txt", "b.txt"]


# --------------------------------------------------------------------------------------- fakes reuse the boxes
@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    """Original 000 and three fakes of target 000: the same footage with another face inside (aligned), other
    footage (not aligned: its background differs), and the same footage two frames longer."""
    root = tmp_path_factory.mktemp("reuse")
    src = root / "ffpp"
    rows = [
        dict(split="train", method="original", video="000", label=0,
             **make_video(src / "original", "000", N_FRAMES, face="astronaut", seed=1)),
        dict(split="train", method="Deepfakes", video="000_001", label=1,
             **make_video(src / "Deepfakes", "000_001", N_FRAMES, face="astronaut", seed=1, swap=5)),
        dict(split="train", method="Face2Face", video="000_001", label=1,
             **make_video(src / "Face2Face", "000_001", N_FRAMES, face="astronaut", seed=2)),
        dict(split="train", method="FaceSwap", video="000_001", label=1,
             **make_video(src / "FaceSwap", "000_001", N_FRAMES + 2, face="astronaut", seed=1, swap=5)),
    ]
    videos = write_videos_parquet(root / "videos.parquet", rows)
    out = root / "run1"
    metrics = extract_stage.run(PARAMS, videos, out / "faces", out / "manifest.parquet", out / "extract.json",
                          progress=False)
    return {"root": root, "videos": videos, "rows": {f"{r['method']}/{r['video']}": r for r in rows}, "out": out,
            "metrics": metrics, "manifest": pd.read_parquet(out / "manifest.parquet")}


def sidecar(out: Path, key: str) -> dict:
    return json.loads((out / "faces" / f"{key}.decisions.json").read_text())


def boxes_of(manifest: pd.DataFrame, method: str) -> pd.DataFrame:
    rows = manifest[(manifest["method"] == method)]
    return rows[["frame", "x0", "y0", "x1", "y1", "score", "status"]].reset_index(drop=True)


def test_an_aligned_fake_takes_the_boxes_of_its_original(fakes):
    m, out = fakes["manifest"], fakes["out"]
    assert fakes["metrics"]["videos_boxes_reused"] == 1 and fakes["metrics"]["videos_kept"] == 4
    pd.testing.assert_frame_equal(boxes_of(m, "Deepfakes"), boxes_of(m, "original"))
    side = sidecar(out, "Deepfakes/000_001")
    assert side["boxes_from"] == "original/000" and side["note"] == "" and side["alignment"] is None
    assert sidecar(out, "original/000")["boxes_from"] == "detected"
    # its crops are its own frames (not the original's) cut with those boxes, in every quality
    members = tar_members(out / "faces" / "Deepfakes" / "000_001.tar")
    original = tar_members(out / "faces" / "original" / "000.tar")
    rows = rows_of(m[m["method"] == "Deepfakes"], "000_001").set_index("frame")
    for quality in ("raw", "c23", "c40"):
        for frame, image in read_frames(fakes["rows"]["Deepfakes/000_001"][quality], list(rows.index)):
            box = tuple(int(v) for v in rows.loc[frame, ["x0", "y0", "x1", "y1"]])
            assert np.array_equal(png(members[f"{frame:04d}.{quality}.png"]), crop(image, box, 128))
    assert members["0001.raw.png"] != original["0001.raw.png"]  # the face inside differs


def test_a_fake_that_does_not_align_is_detected_on_its_own(fakes):
    other, longer = sidecar(fakes["out"], "Face2Face/000_001"), sidecar(fakes["out"], "FaceSwap/000_001")
    assert other["boxes_from"] == "detected" and longer["boxes_from"] == "detected"
    assert "boxes of original/000 not reused" in other["note"] and "outside the face box" in other["note"]
    assert "16 frames" in longer["note"] and "18 frames" in longer["note"]
    m = fakes["manifest"]
    assert rows_of(m[m["method"] == "FaceSwap"], "000_001")["frame"].tolist() == sample_indices(N_FRAMES + 2,
                                                                                               PER_VIDEO)


def test_box_reuse_can_be_switched_off(fakes, tmp_path):
    videos = write_videos_parquet(tmp_path / "videos.parquet",
                                  [fakes["rows"]["original/000"], fakes["rows"]["Deepfakes/000_001"]])
    params = {**PARAMS, "data": {**PARAMS["data"], "reuse_boxes": False}}
    metrics = extract_stage.run(params, videos, tmp_path / "faces", tmp_path / "m.parquet", tmp_path / "x.json",
                          progress=False)
    assert metrics["videos_boxes_reused"] == 0 and metrics["videos_kept"] == 2
    side = json.loads((tmp_path / "faces" / "Deepfakes" / "000_001.decisions.json").read_text())
    assert side["boxes_from"] == "detected" and side["note"] == ""
    assert json.loads((tmp_path / "faces" / "original" / "000.decisions.json").read_text())["alignment"] is None


def test_box_reuse_in_parallel_and_after_a_resume_is_byte_identical(fakes):
    first = fakes["out"] / "faces"
    out = fakes["root"] / "parallel"
    params = {**PARAMS, "data": {**PARAMS["data"], "jobs": 2}}
    extract_stage.run(params, fakes["videos"], out / "faces", out / "manifest.parquet", out / "extract.json",
                progress=False)
    names = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert len(names) == 8
    for name in names:
        assert (first / name).read_bytes() == (out / "faces" / name).read_bytes(), name
    # the fake extracted again while its original is resumed: its boxes come from the original's sidecar
    (out / "faces" / "Deepfakes" / "000_001.tar").unlink()
    metrics = extract_stage.run(params, fakes["videos"], out / "faces", out / "manifest.parquet", out / "extract.json",
                          progress=False)
    assert metrics["videos_resumed"] == 3 and metrics["videos_boxes_reused"] == 1
    assert (out / "faces" / "Deepfakes" / "000_001.tar").read_bytes() == (
        first / "Deepfakes" / "000_001.tar").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "manifest.parquet"), fakes["manifest"])


def test_a_changed_original_is_not_resumed_for_its_fakes(fakes):
    job = extract_stage._jobs(pd.read_parquet(fakes["videos"]), fakes["out"] / "faces", ("raw", "c23", "c40"))[0]
    cfg = ExtractConfig.from_params(PARAMS)
    assert job.key == "Deepfakes/000_001" and job.footage == "000"
    assert reference_map([job]) == {}
    a, b = fingerprint(job, cfg, ("original/000", "x")), fingerprint(job, cfg, ("original/000", "y"))
    assert a != b and a != fingerprint(job, cfg)


def test_fakes_sample_the_frames_of_their_target(fakes, tmp_path):
    videos = write_videos_parquet(tmp_path / "videos.parquet",
                                  [fakes["rows"]["original/000"], fakes["rows"]["Deepfakes/000_001"]])
    params = {"seed": 5, "data": {**PARAMS["data"], "sampling": "random"}}
    metrics = extract_stage.run(params, videos, tmp_path / "faces", tmp_path / "m.parquet", tmp_path / "x.json",
                          progress=False)
    m = pd.read_parquet(tmp_path / "m.parquet")
    drawn = sample_indices(N_FRAMES, PER_VIDEO, "random", video_seed(5, "original", "000"))
    assert drawn != sample_indices(N_FRAMES, PER_VIDEO)
    assert m[m["method"] == "original"]["frame"].tolist() == drawn
    assert m[m["method"] == "Deepfakes"]["frame"].tolist() == drawn
    assert metrics["videos_boxes_reused"] == 1


def test_alignment_survives_the_sidecar_and_damage_is_refused():
    thumbs = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    a = Alignment(10, 320, 240, (2, 7), thumbs)
    b = Alignment.from_json(json.loads(json.dumps(a.to_json())))
    assert (b.frames, b.width, b.height, b.indices) == (10, 320, 240, (2, 7)) and np.array_equal(b.thumbs, thumbs)
    assert Alignment.from_json({**a.to_json(), "thumbs": "not base64!"}) is None
    assert Alignment.from_json({**a.to_json(), "indices": [2]}) is None
    assert Alignment.from_json(None) is None


def test_original_constant_matches_ffpp():
    from add.data import ffpp

    assert layout.ORIGINAL == ffpp.ORIGINAL


def test_a_fake_of_a_dropped_original_is_detected_on_its_own(fakes, tmp_path):
    row = fakes["rows"]["Deepfakes/000_001"]
    job = VideoJob(0, "train", "Deepfakes", "000_001", 1, {q: row[q] for q in ("raw", "c23", "c40")},
                           str(tmp_path / "f.tar"), str(tmp_path / "f.decisions.json"), "000")
    result = extract_video(job, ExtractConfig.from_params(PARAMS),
                                   reference=Reference("original/000", None, (), None))
    assert result.boxes_from == "detected" and "original/000 was dropped" in result.note
    assert [d["status"] for d in result.decisions] == ["ok"] * PER_VIDEO
    assert json.loads((tmp_path / "f.decisions.json").read_text())["note"] == result.note


def test_a_container_that_lists_more_frames_than_decode_is_extracted_from_what_decodes(tmp_path, monkeypatch):
    """The packet count is trusted first; when decoding runs out early (ShortVideo) the video is probed again by
    decoding, and sampled among the frames that really decode."""
    from add.data.extract import per_video

    paths = make_video(tmp_path / "src", "000", N_FRAMES, qualities=("raw",), seed=1)
    real = per_video.probe
    decoded = []

    def overcounting(path, decode=False):
        info = real(path, decode)
        decoded.append(decode)
        return info if decode else dataclasses.replace(info, frames=info.frames + 9, times=())

    monkeypatch.setattr(per_video, "probe", overcounting)
    videos = write_videos_parquet(tmp_path / "videos.parquet", [
        {"split": "test", "method": "original", "video": "000", "label": 0, "raw": paths["raw"]}])
    params = {"seed": 0, "data": {"qualities": ["raw"], "frames_per_video": PER_VIDEO, "jobs": 1, "image_size": 32}}
    extract_stage.run(params, videos, tmp_path / "faces", tmp_path / "m.parquet", tmp_path / "m.json",
                      progress=False)
    manifest = pd.read_parquet(tmp_path / "m.parquet")
    assert decoded == [False, True]
    assert manifest["frame"].tolist() == sample_indices(N_FRAMES, PER_VIDEO)
    assert set(manifest["status"]) <= {"ok", "fallback"}


@pytest.mark.parametrize("option", ["--out-dir", "--manifest", "--metrics", "--part"])
def test_an_unwritable_output_is_one_line_before_any_video_is_read(planted, tmp_path, option, capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("videos were extracted before the outputs were checked")

    monkeypatch.setattr(extract_stage, "extract_videos", never)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(PARAMS))
    blocker = tmp_path / "file.txt"  # a path under a file cannot be created, even by root (chmod would not stop it)
    blocker.write_text("x")
    paths = {"--out-dir": tmp_path / "faces", "--manifest": tmp_path / "m.parquet", "--metrics": tmp_path / "x.json"}
    bad = "--out-dir" if option == "--part" else option
    paths[bad] = blocker / "sub"
    argv = ["extract", "--params", str(params), "--videos", str(planted["videos"])]
    argv += [str(v) for kv in paths.items() for v in kv]
    if option == "--part":
        argv += ["--part", "0/2"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and bad in err and str(blocker / "sub") in err and "Traceback" not in err
    assert not (tmp_path / "m.parquet").exists() and not (tmp_path / "x.json").exists()
