"""The videos stage (add.data.sources): it deletes only its own output folder, after every check, and the index it
writes changes when a video changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ffpp_server import make_splits, write_tree

from add.data import sources
from add.data.ffpp import SplitsError
from add.errors import AddError

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
