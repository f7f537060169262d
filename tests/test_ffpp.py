"""FF++ layout: paths, splits validation, the video index, the missing-file report and the typed config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from committed import raw as default_params
from ffpp_server import make_splits, write_splits, write_tree

from add.core.params import ParamsError
from add.data import ffpp
from add.data.ffpp import ORIGINAL, FFPPConfig, MissingVideosError, SplitsError


def test_layout_paths():
    assert ffpp.dataset_path(ORIGINAL) == "original_sequences/youtube"
    assert [ffpp.dataset_path(m) for m in ffpp.METHODS] == [f"manipulated_sequences/{m}" for m in ffpp.METHODS]
    assert ffpp.video_path("/r", "Face2Face", "c40", "000_003") == Path(
        "/r/manipulated_sequences/Face2Face/c40/videos/000_003.mp4")
    assert ffpp.video_path("/r", ORIGINAL, "raw", "007") == Path("/r/original_sequences/youtube/raw/videos/007.mp4")
    assert ffpp.pair_videos("000", "003") == (("000", "003"), ("000_003", "003_000"))
    assert ffpp.video_target("003_000") == "003" and ffpp.video_target("003") == "003"


@pytest.mark.parametrize("method, quality, name", [
    (ORIGINAL, "c23", "000_001"),      # an original has one id
    ("Deepfakes", "c23", "000"),       # a fake has two
    ("Deepfakes", "c23", "../../x"),
    (ORIGINAL, "c23", "../000"),
    (ORIGINAL, "c99", "000"),
    ("Deepfake", "c23", "000_001"),
])
def test_video_path_rejects_bad_names(method, quality, name):
    with pytest.raises(ValueError):
        ffpp.video_path("/r", method, quality, name)


def test_load_splits_reads_pairs(tmp_path):
    splits = make_splits((2, 1, 1))
    write_splits(tmp_path, splits)
    loaded = ffpp.load_splits(tmp_path)
    assert loaded == {s: [tuple(p) for p in pairs] for s, pairs in splits.items()}
    assert loaded["train"][1] == ("002", "003")


@pytest.mark.parametrize("content, problem", [
    ("[[\"000\", \"001\"]", "not valid JSON"),
    ("{\"000\": \"001\"}", "expected a JSON list"),
    ("[[\"000\", \"001\", \"002\"]]", "entry 0"),
    ("[[\"000\", \"001\"], \"002\"]", "entry 1"),
    ("[[0, 1]]", "bad id"),
    ("[[\"../../x\", \"001\"]]", "bad id"),
    ("[[\"000_1\", \"001\"]]", "bad id"),
    ("[[\"000\", \"000\"]]", "with itself"),
])
def test_load_splits_rejects_bad_files(tmp_path, content, problem):
    write_splits(tmp_path, make_splits((1, 1, 1)))
    (tmp_path / "val.json").write_text(content)
    with pytest.raises(SplitsError) as e:
        ffpp.load_splits(tmp_path)
    assert str(tmp_path / "val.json") in str(e.value) and problem in str(e.value)


def test_load_splits_rejects_repeated_ids(tmp_path):
    splits = make_splits((2, 1, 1))
    splits["test"] = [["001", "099"]]  # "001" is already in train
    write_splits(tmp_path, splits)
    with pytest.raises(SplitsError, match="'001' appears twice") as e:
        ffpp.load_splits(tmp_path)
    assert str(tmp_path / "train.json") in str(e.value) and str(tmp_path / "test.json") in str(e.value)


def test_load_splits_missing_file(tmp_path):
    write_splits(tmp_path, make_splits((1, 1, 1)))
    (tmp_path / "test.json").unlink()
    with pytest.raises(SplitsError, match="test.json: split file not found"):
        ffpp.load_splits(tmp_path)


def test_list_videos_indexes_the_tree(tmp_path):
    methods, qualities = ["Deepfakes", "FaceSwap"], ["raw", "c23", "c40"]
    splits = make_splits((3, 1, 1))
    write_tree(tmp_path, splits, methods, qualities)
    frame = ffpp.list_videos(tmp_path, methods, qualities)

    assert list(frame.columns) == ["split", "method", "video", "label", "target", "raw", "c23", "c40"]
    # Per pair: 2 originals + 2 fakes per method.
    assert len(frame) == 5 * (2 + 2 * len(methods))
    counts = frame.groupby(["split", "method"]).size().to_dict()
    assert counts[("train", ORIGINAL)] == 6 and counts[("train", "Deepfakes")] == 6 and counts[("val", "FaceSwap")] == 2
    assert list(frame["split"].drop_duplicates()) == ["train", "val", "test"]
    assert frame.equals(frame.sort_values(["split", "method", "video"], key=lambda c: c.map(
        {"train": 0, "val": 1, "test": 2}) if c.name == "split" else c).reset_index(drop=True))
    fake = frame[(frame.method == "FaceSwap") & (frame.video == "003_002")].iloc[0]
    assert (fake.split, fake.label, fake.target) == ("train", 1, "003")
    assert fake.c40 == str(tmp_path / "manipulated_sequences/FaceSwap/c40/videos/003_002.mp4")
    orig = frame[(frame.method == ORIGINAL) & (frame.video == "008")].iloc[0]
    assert (orig.split, orig.label, orig.target) == ("test", 0, "008")
    assert all(Path(p).is_absolute() and Path(p).is_file() for q in qualities for p in frame[q])
    assert frame["label"].dtype == "int64"


def test_list_videos_only_requested_qualities(tmp_path):
    write_tree(tmp_path, make_splits((1, 1, 1)), ["Deepfakes"], ["c23"])
    frame = ffpp.list_videos(tmp_path, ["Deepfakes"], ["c23"])
    assert list(frame.columns) == ["split", "method", "video", "label", "target", "c23"]
    with pytest.raises(MissingVideosError):
        ffpp.list_videos(tmp_path, ["Deepfakes"], ["c23", "c40"])


def test_missing_videos_report(tmp_path):
    write_tree(tmp_path, make_splits((3, 1, 1)), ["Deepfakes"], ["c23", "c40"])
    gone = [ffpp.video_path(tmp_path, "Deepfakes", "c40", n) for n in ("000_001", "001_000", "002_003", "003_002")]
    gone.append(ffpp.video_path(tmp_path, ORIGINAL, "c23", "009"))
    for path in gone:
        path.unlink()
    with pytest.raises(MissingVideosError) as e:
        ffpp.list_videos(tmp_path, ["Deepfakes"], ["c23", "c40"])
    message = str(e.value)
    assert "5 of 40 video files" in message
    assert "Deepfakes/c40: 4 missing" in message and "original/c23: 1 missing" in message
    assert str(gone[0]) in message and str(gone[4]) in message and "(+1 more)" in message
    assert "data.download: true" in message
    assert e.value.missing[("Deepfakes", "c40")] == gone[:4]
    assert ("original", "c40") not in e.value.missing


def test_missing_method_reported(tmp_path):
    write_tree(tmp_path, make_splits((1, 1, 1)), ["Deepfakes"], ["c23"])
    with pytest.raises(MissingVideosError, match="Face2Face/c23: 6 missing"):
        ffpp.list_videos(tmp_path, ["Deepfakes", "Face2Face"], ["c23"])


@pytest.mark.parametrize("max_videos, originals, fakes", [
    (1, ["000"], []),
    (2, ["000", "001"], ["000_001", "001_000"]),
    (3, ["000", "001", "002"], ["000_001", "001_000"]),
    (4, ["000", "001", "002", "003"], ["000_001", "001_000", "002_003", "003_002"]),
    (100, ["000", "001", "002", "003", "004", "005"], None),
])
def test_max_videos(tmp_path, max_videos, originals, fakes):
    write_tree(tmp_path, make_splits((3, 1, 1)), ["Deepfakes"], ["c23"])
    # A limited index needs only the videos it names: remove one outside the limit.
    if max_videos <= 3:
        ffpp.video_path(tmp_path, "Deepfakes", "c23", "004_005").unlink()
    frame = ffpp.list_videos(tmp_path, ["Deepfakes"], ["c23"], max_videos=max_videos)
    train = frame[frame.split == "train"]
    assert sorted(train[train.method == ORIGINAL].video) == originals
    fakes = fakes if fakes is not None else ["000_001", "001_000", "002_003", "003_002", "004_005", "005_004"]
    assert sorted(train[train.method == "Deepfakes"].video) == fakes
    val = frame[frame.split == "val"]
    assert len(val[val.method == ORIGINAL]) == min(max_videos, 2)


def test_custom_splits_dir(tmp_path):
    write_tree(tmp_path / "tree", make_splits((1, 1, 1)), ["Deepfakes"], ["c23"])
    write_splits(tmp_path / "mine", {"train": [["002", "003"]], "val": [], "test": [["004", "005"]]})
    frame = ffpp.list_videos(tmp_path / "tree", ["Deepfakes"], ["c23"], splits_dir=tmp_path / "mine")
    assert sorted(frame.video) == ["002", "002_003", "003", "003_002", "004", "004_005", "005", "005_004"]
    assert set(frame.split) == {"train", "test"}


def repo_params() -> dict:
    return default_params()


def test_config_from_repo_params():
    cfg = FFPPConfig.from_params(repo_params())
    assert cfg.source in ffpp.SOURCES and cfg.server in ffpp.SERVERS
    assert set(cfg.methods) <= set(ffpp.METHODS) and set(cfg.qualities) <= set(ffpp.QUALITIES)
    assert cfg.splits_url.startswith("https://") and not cfg.splits_url.endswith("/")


def test_config_defaults_and_values():
    cfg = FFPPConfig.from_params({})
    assert (cfg.source, cfg.server, cfg.download, cfg.agree_tos, cfg.max_videos) == ("demo", "EU2", False, False, None)
    cfg = FFPPConfig.from_params({"data": {
        "source": "ffpp", "root": "/data/ff", "download": True, "agree_tos": True, "server": "CA",
        "splits_url": "http://mirror/splits/", "methods": ["FaceShifter", "Deepfakes"], "qualities": ["c40", "raw"],
        "max_videos": 10, "image_size": 128}})
    assert cfg == FFPPConfig("ffpp", Path("/data/ff"), True, True, "CA", "http://mirror/splits",
                             ("FaceShifter", "Deepfakes"), ("raw", "c40"), 10)
    assert cfg.splits_dir == Path("/data/ff/splits")


@pytest.mark.parametrize("key, value", [
    ("source", "youtube"),
    ("root", ""),
    ("root", 3),
    ("download", "yes"),
    ("agree_tos", 1),
    ("server", "US"),
    ("splits_url", "ftp://x/splits"),
    ("methods", ["Deepfakes", "DeepFakes"]),
    ("methods", []),
    ("methods", ["Deepfakes", "Deepfakes"]),
    ("qualities", ["c30"]),
    ("qualities", "c23 c40"),
    ("max_videos", 0),
    ("max_videos", 2.5),
    ("max_videos", True),
])
def test_config_rejects_nonsense(key, value):
    params = repo_params()
    params["data"][key] = value
    with pytest.raises(ParamsError, match=f"data.{key}"):
        FFPPConfig.from_params(params)


def test_ffpp_tree_on_disk_with_deepfakes_only(tmp_path):
    """data.source: ffpp, data.root: PATH, data.download: false, data.methods: [Deepfakes] on a tree on disk."""
    root = tmp_path / "FaceForensics++"
    write_tree(root, make_splits((2, 1, 1)), ["Deepfakes"], ["raw", "c23", "c40"])
    params = repo_params()
    params["data"].update(source="ffpp", root=str(root), download=False, methods=["Deepfakes"])
    cfg = FFPPConfig.from_params(params)
    frame = cfg.list_videos()
    assert set(frame.method) == {ORIGINAL, "Deepfakes"}
    assert len(frame) == 4 * 2 + 4 * 2
    assert json.loads((root / "splits" / "train.json").read_text()) == [["000", "001"], ["002", "003"]]
    for quality in cfg.qualities:
        assert all(Path(p).read_bytes() for p in frame[quality])
