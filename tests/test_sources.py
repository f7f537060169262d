"""The videos stage (add.data.videos): it deletes only its own output folder, after every check, and the index it
writes changes when a video changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ffpp_server import make_splits, write_tree

from add.core import layout
from add.core.errors import AddError
from add.data import videos as sources
from add.data.ffpp import SplitsError

METHODS, QUALITIES = ["Deepfakes"], ["raw", "c23", "c40"]


def ffpp_params(root: Path) -> dict:
    return {"seed": 0, "data": {"source": "ffpp", "root": str(root), "download": False, "methods": METHODS,
                                "qualities": QUALITIES}}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def demo_tree(folder: Path) -> dict[str, bytes]:
    """A folder that looks like a previous demo tree (its marker and a video)."""
    (folder / "original_sequences/youtube/raw/videos").mkdir(parents=True)
    (folder / "demo.json").write_text(json.dumps({"version": 1}))
    (folder / "original_sequences/youtube/raw/videos/000.mp4").write_bytes(b"demo video")
    return snapshot(folder)


# ------------------------------------------------------------------------------------------- what may be deleted
@pytest.mark.parametrize("where,relation", [(".", "is"), ("ffpp", "lies inside"), ("..", "contains")])
def test_data_root_overlapping_the_demo_folder_is_refused_and_kept(tmp_path, where, relation):
    demo_root = tmp_path / "data" / "demo"
    root = (demo_root / where).resolve()
    write_tree(root, make_splits((1, 1, 1)), METHODS, QUALITIES)
    before = snapshot(tmp_path)
    with pytest.raises(AddError) as raised:
        sources.run(ffpp_params(root), tmp_path / "videos.parquet", demo_root)
    message = str(raised.value)
    assert f"data.root {root} {relation} the demo folder {demo_root}" in message
    assert "nothing was deleted" in message
    assert snapshot(tmp_path) == before


def test_a_failing_ffpp_check_deletes_nothing(tmp_path):
    demo_root = tmp_path / "demo"
    before = demo_tree(demo_root)
    root = tmp_path / "ffpp"
    write_tree(root, make_splits((1, 1, 1)), METHODS, QUALITIES)
    (root / "splits" / "val.json").unlink()
    with pytest.raises(SplitsError, match="val.json: split file not found"):
        sources.run(ffpp_params(root), tmp_path / "videos.parquet", demo_root)
    assert snapshot(demo_root) == before
    assert not (tmp_path / "videos.parquet").exists()


def test_a_demo_folder_that_is_not_a_demo_tree_is_never_deleted(tmp_path):
    users = tmp_path / "my-videos"
    (users / "keep").mkdir(parents=True)
    (users / "keep" / "clip.mp4").write_bytes(b"precious")
    root = tmp_path / "ffpp"
    write_tree(root, make_splits((1, 1, 1)), METHODS, QUALITIES)
    with pytest.raises(AddError, match=f"{users}: .* not a demo tree .* refusing to delete it"):
        sources.run(ffpp_params(root), tmp_path / "videos.parquet", users)
    assert (users / "keep" / "clip.mp4").read_bytes() == b"precious"


def test_ffpp_run_empties_a_previous_demo_tree_and_indexes(tmp_path):
    demo_root = tmp_path / "demo"
    demo_tree(demo_root)
    root = tmp_path / "ffpp"
    write_tree(root, make_splits((1, 1, 1)), METHODS, QUALITIES)
    sources.run(ffpp_params(root), tmp_path / "videos.parquet", demo_root)
    assert demo_root.is_dir() and not any(demo_root.iterdir())
    assert (tmp_path / "videos.parquet").is_file()


# ---------------------------------------------------------------------------------------------------- the index
def test_the_index_changes_when_a_video_changes(tmp_path, monkeypatch):
    import os

    import pandas as pd

    monkeypatch.chdir(tmp_path)  # the repository the stage runs in
    write_tree(tmp_path / "data" / "ffpp", make_splits((1, 1, 1)), METHODS, QUALITIES)
    params = ffpp_params(Path("data/ffpp"))
    index = Path("data/videos.parquet")
    sources.run(params, index, "data/demo")
    table = pd.read_parquet(index)
    first = index.read_bytes()
    assert table.loc[0, "raw"] == "data/ffpp/manipulated_sequences/Deepfakes/raw/videos/000_001.mp4"  # relative
    assert all(Path(p).is_file() for q in QUALITIES for p in table[q])
    assert {f"{q}_{c}" for q in QUALITIES for c in ("size", "stamp")} <= set(table.columns)
    sources.run(params, index, "data/demo")
    assert index.read_bytes() == first  # nothing changed: the same bytes, DVC reruns nothing

    video = Path(table.loc[2, "c40"])
    st = video.stat()
    video.write_bytes(b"x" * (st.st_size + 1))  # replaced by a different file
    sources.run(params, index, "data/demo")
    changed = pd.read_parquet(index)
    assert changed.loc[2, "c40_size"] == st.st_size + 1
    assert index.read_bytes() != first

    video.write_bytes(bytes(st.st_size))  # corrupted in place, same size, same mtime: only the content differs...
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # ...but writing it moved its mtime
    before = index.read_bytes()
    sources.run(params, index, "data/demo")
    assert pd.read_parquet(index).loc[2, "c40_stamp"] == f"mtime_ns:{st.st_mtime_ns + 1}"
    assert index.read_bytes() != before


def test_the_demo_index_does_not_depend_on_where_the_clone_is(tmp_path, monkeypatch):
    import pandas as pd

    from add.data.extract import stage as extract_stage

    params = {"seed": 3, "data": {"source": "demo", "methods": ["FaceSwap"], "qualities": ["c40"]},
              "demo": {"pairs": [1, 0, 0], "frames": 2, "width": 320, "height": 240, "jobs": 1}}
    indexes = []
    for clone in ("a", "clones/b"):
        (tmp_path / clone).mkdir(parents=True)
        monkeypatch.chdir(tmp_path / clone)
        sources.run(params)
        indexes.append(Path(layout.VIDEOS).read_bytes())
        table = pd.read_parquet(layout.VIDEOS)
        assert table["c40"].str.startswith("data/demo/").all()
        assert table["c40_stamp"].str.fullmatch(r"sha256:[0-9a-f]{64}").all()
        # read back, paths resolve against the working directory
        resolved = extract_stage.read_videos(layout.VIDEOS, ["c40"])
        assert all(Path(p).is_file() and p.startswith(str(tmp_path / clone)) for p in resolved["c40"])
    assert indexes[0] == indexes[1]
