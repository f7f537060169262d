"""`add cross` end to end on a tiny Celeb-DF tree: the metrics files per (dataset, compression, model) with their
fields, videos without a face counted apart, the comparison plot, and a rerun served from the face cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from video_factory import make_video

from add import cli
from add.evaluation.cross_scoring import METRIC_KEYS
from add.models.card import build_card
from add.models.detector import create_detector
from add.training.checkpoints import CHECKPOINT_FORMAT

SIZE = 32
pytestmark = pytest.mark.usefixtures("one_thread")


def save_model(path: Path, card: dict) -> None:
    torch.manual_seed(0)
    model = create_detector("resnet18")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"kind": "teacher", "method": "Deepfakes", "quality": "raw", "model": "resnet18", "card": card}
    torch.save({"format": CHECKPOINT_FORMAT, "meta": meta, "model": model.state_dict()}, path)


def test_cross_stage_writes_metrics_per_dataset_compression_and_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "celebdf"
    for folder, name, face, seed in (("Celeb-real", "id0_0000", "astronaut", 1), ("YouTube-real", "00000", 3, 2),
                                     ("Celeb-synthesis", "id0_id1_0000", "astronaut", 4),
                                     ("Celeb-synthesis", "id1_id0_0000", None, 5)):
        paths = make_video(tmp_path / "tmp" / folder, name, 8, qualities=("c23",), face=face, seed=seed)
        (root / folder).mkdir(parents=True, exist_ok=True)
        Path(paths["c23"]).rename(root / folder / f"{name}.mp4")
    (root / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0000.mp4\n1 YouTube-real/00000.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n"
        "0 Celeb-synthesis/id1_id0_0000.mp4\n")
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "index.json").write_text(json.dumps({"image_size": SIZE, "datasets": {}}))
    params = {"seed": 0, "data": {"methods": ["Deepfakes"], "image_size": SIZE},
              "students": {"qualities": ["c40"], "distill": ["add"]}, "train": {"deterministic": False},
              "cross": [{"name": "tiny", "format": "celebdf", "root": "celebdf", "compress": ["as_is", "c40"],
                         "frames_per_video": 4}]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    card = build_card(params, tmp_path / "shards", "resnet18", {"kind": "teacher", "method": "Deepfakes"})
    save_model(tmp_path / "models/teacher/Deepfakes/best.pt", card)
    save_model(tmp_path / "models/student/Deepfakes/c40/none/best.pt", card)
    save_model(tmp_path / "models/student/Deepfakes/c40/add/best.pt", card)

    assert cli.main(["cross", "--jobs", "1", "--device", "cpu"]) == 0
    for compression in ("as_is", "c40"):
        for model in ("teacher/Deepfakes", "student/Deepfakes/c40/none", "student/Deepfakes/c40/add"):
            metrics = json.loads((tmp_path / "metrics/cross/tiny" / compression / f"{model}.json").read_text())
            assert set(METRIC_KEYS) <= set(metrics)
            assert (metrics["videos_real"], metrics["videos_fake"], metrics["videos_no_face"]) == (2, 1, 1)
            assert metrics["frames"] == 12 and metrics["real_frames"] == 8
            assert all(metrics[k] is None or 0 <= metrics[k] <= 1 for k in ("acc", "auc", "eer", "ap", "video_acc"))
            assert metrics["auc"] is not None and metrics["video_auc"] is not None
    assert (tmp_path / "plots/cross/tiny.png").stat().st_size > 1000
    before = (tmp_path / "metrics/cross/tiny/c40/teacher/Deepfakes.json").read_bytes()
    cache_files = sorted(p for p in (tmp_path / "data/cross/tiny").rglob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in cache_files]
    assert cli.main(["cross", "--jobs", "1", "--device", "cpu"]) == 0  # from the cache, same numbers
    assert [p.stat().st_mtime_ns for p in cache_files] == stamps
    assert (tmp_path / "metrics/cross/tiny/c40/teacher/Deepfakes.json").read_bytes() == before


DEMO_ENTRY = {"name": "demo_celebdf", "format": "celebdf", "root": "data/demo_cross", "compress": ["as_is", "c40"],
              "frames_per_video": 8}  # params.yaml's default entry


@pytest.mark.parametrize("data", [{"source": "ffpp"},
                                  {"source": "list", "list": "videos.csv", "methods": ["list"]}])
def test_the_demos_cross_entry_is_skipped_with_another_source(data, tmp_path, monkeypatch, capsys):
    from add.core.params import parse_params
    from add.evaluation import cross

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "demo_cross").mkdir(parents=True)  # what cross_demo leaves with a source other than demo
    other = {"name": "mine", "format": "celebdf", "root": "/datasets/celebdf"}
    entries, paths, skipped = cross.settings(parse_params({"data": data, "cross": [DEMO_ENTRY, other]}))
    assert [e.name for e in entries] == ["mine"] and paths and [e.name for e in skipped] == ["demo_celebdf"]
    assert cross.settings(parse_params({"cross": [DEMO_ENTRY]}))[0][0].name == "demo_celebdf"  # the demo scores it
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"data": data, "cross": [DEMO_ENTRY]}))
    # no model was trained here either: the stage must not look for them (it stopped at the end of a run before)
    assert cli.main(["cross", "--jobs", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert (f"params 'cross' entry 'demo_celebdf' skipped: data/demo_cross is the demo's cross set, built only with "
            f"data.source: demo (here {data['source']!r})") in out
    assert (tmp_path / "metrics" / "cross").is_dir() and not any((tmp_path / "metrics" / "cross").iterdir())
