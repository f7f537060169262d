"""End to end on generated tiny shards: add train -> add distill (none, add) -> add evaluate, through the CLI."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from faces_factory import write_faces
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn import metrics as sk

from add import cli
from add.data import shards
from add.data.loader import make_loader
from add.models.metrics import accuracy, recall_at_1, video_level
from add.training.checkpoints import load_checkpoint, load_detector
from add.training.predictions import iter_outputs, predict
from add.training.runtime import setup_runtime

REPO = Path(__file__).resolve().parents[1]
SIZE = 64
METHOD = "Deepfakes"
PARAMS = {
    "seed": 0,
    "beta": 16,
    "data": {"methods": [METHOD]},
    "model": {"name": "resnet18", "pretrained": False, "weights": None},
    "train": {"epochs": 2, "batch_size": 8, "lr": 1e-3, "val_per_epoch": 2, "patience": 10, "num_workers": 0},
    "distill": {"method": "add", "quality": "c40", "directions": 4},
}


pytestmark = pytest.mark.usefixtures("one_thread")


def build_shards(root, **faces_kwargs):
    faces, manifest = write_faces(root, frames=4, size=SIZE, **faces_kwargs)
    shards.run({"seed": 0, "shards": {"max_samples_per_shard": 1000}}, faces, manifest, root / "shards")
    return root / "shards"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run the demo's stages once: teacher, students none/add on c40, three evaluations."""
    root = tmp_path_factory.mktemp("e2e")
    shard_dir = build_shards(root)
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump(PARAMS))
    common = ["--params", str(params), "--shards", str(shard_dir)]
    out = ["--models", str(root / "models")]
    live = ["--dvclive", str(root / "dvclive")]
    evaluated = ["--metrics", str(root / "metrics"), "--plots", str(root / "plots")]
    assert cli.main(["teacher", *common, *out, *live]) == 0
    for distill in ("none", "add"):
        assert cli.main(["student", *common, *out, *live, "--quality", "c40", "--distill", distill]) == 0
    assert cli.main(["evaluate", *common, *out, *evaluated, "--kind", "teacher"]) == 0
    for distill in ("none", "add"):
        assert cli.main(["evaluate", *common, *out, *evaluated, "--kind", "student", "--quality", "c40",
                         "--distill", distill]) == 0
    return root, shard_dir


def test_outputs(run):
    root, _ = run
    for model_dir in ("teacher/Deepfakes", "student/Deepfakes/c40/none", "student/Deepfakes/c40/add"):
        for name in ("best.pt", "last.pt"):
            assert (root / "models" / model_dir / name).is_file()
        assert (root / "dvclive" / model_dir / "metrics.json").is_file()
        assert (root / "dvclive" / model_dir / "plots" / "metrics" / "val" / "acc.tsv").is_file()
    assert (root / "dvclive/student/Deepfakes/c40/add/plots/metrics/train/mv.tsv").is_file()  # distiller terms
    assert (root / "dvclive/student/Deepfakes/c40/add/plots/metrics/train/fr.tsv").is_file()
    assert not (root / "dvclive/student/Deepfakes/c40/none/plots/metrics/train/mv.tsv").exists()
    last = load_checkpoint(root / "models/student/Deepfakes/c40/add/last.pt")
    assert last["state"]["step"] == 8 and last["state"]["finished"]  # 32 samples / 8 per batch x 2 epochs
    assert last["distiller"] == {}  # the add distiller has no parameters of its own
    best = load_checkpoint(root / "models/student/Deepfakes/c40/add/best.pt")
    card = best["meta"]["card"]
    assert best["meta"] | {"val_acc": 0, "val_auc": 0, "step": 0, "epoch": 0, "config": "", "card": None} == {
        "kind": "student", "method": METHOD, "quality": "c40", "distill": "add", "model": "resnet18",
        "val_acc": 0, "val_auc": 0, "step": 0, "epoch": 0, "config": "", "card": None}
    assert (card["model"], card["image_size"], card["threshold"]) == ("resnet18", SIZE, 0.5)
    assert card["trained_on"] == {"kind": "student", "method": METHOD, "quality": "c40", "distill": "add", "seed": 0}
    assert card["faces"]["box_scale"] == 1.3 and card["faces"]["threshold"] == 0.2


def test_rerunning_training_writes_the_card_into_an_old_checkpoint(run, tmp_path, capsys):
    """Checkpoints from before model cards: rerunning their stages resumes the finished runs and adds the cards
    without training again (the re-export path add predict's error message gives); the students resume too, as
    they know their teacher by its weights, not by its file."""
    root, shard_dir = run
    models = tmp_path / "models"
    shutil.copytree(root / "models", models)
    folders = {"teacher": models / "teacher" / METHOD, "none": models / "student" / METHOD / "c40" / "none"}
    before = {}
    for kind, folder in folders.items():
        for name in ("best.pt", "last.pt"):
            payload = load_checkpoint(folder / name)
            payload["meta"].pop("card")
            if payload.get("best"):
                payload["best"]["meta"].pop("card")
            torch.save(payload, folder / name)
        before[kind] = load_checkpoint(folder / "best.pt")
    common = ["--params", str(root / "params.yaml"), "--shards", str(shard_dir), "--models", str(models),
              "--dvclive", str(tmp_path / "live")]
    capsys.readouterr()
    assert cli.main(["teacher", *common]) == 0
    assert cli.main(["student", *common, "--quality", "c40", "--distill", "none"]) == 0
    log = capsys.readouterr().err
    assert "teacher Deepfakes: resuming from" in log and "student Deepfakes/c40/none: resuming from" in log
    for kind, folder in folders.items():
        after = load_checkpoint(folder / "best.pt")
        assert after["meta"]["card"]["trained_on"]["kind"] == ("teacher" if kind == "teacher" else "student")
        assert after["meta"]["card"]["image_size"] == SIZE
        assert after["meta"]["step"] == before[kind]["meta"]["step"]
        assert all(torch.equal(after["model"][k], v) for k, v in before[kind]["model"].items())


@pytest.mark.parametrize("name", ["teacher/Deepfakes/raw", "student/Deepfakes/c40/none", "student/Deepfakes/c40/add"])
def test_metrics_files(run, name):
    root, _ = run
    metrics = json.loads((root / "metrics" / f"{name}.json").read_text())
    assert set(metrics) == {"acc", "auc", "eer", "ap", "r_at_1", "r_at_1_cosine", "video_acc", "video_auc",
                            "video_eer", "video_ap", "frames", "videos", "real_frames", "fake_frames", "val_acc",
                            "step"}
    assert metrics["frames"] == 16 and metrics["videos"] == 4 and metrics["real_frames"] == 8
    for key in ("acc", "auc", "eer", "ap", "r_at_1", "r_at_1_cosine", "video_acc", "video_auc", "video_eer",
                "video_ap", "val_acc"):
        assert 0.0 <= metrics[key] <= 1.0, key
    plots = root / "plots" / name
    with open(plots / "roc.csv") as f:
        roc = list(csv.DictReader(f))
    assert roc[0] == {"fpr": "0", "tpr": "0", "threshold": "inf"} and float(roc[-1]["fpr"]) == 1.0
    with open(plots / "confusion.csv") as f:
        confusion = list(csv.DictReader(f))
    assert len(confusion) == 16 and {row["actual"] for row in confusion} == {"real", "fake"}
    assert (plots / "roc.png").read_bytes()[:4] == b"\x89PNG" and (plots / "confusion.png").is_file()


def test_metrics_match_a_direct_computation(run):
    """ACC, EER, AP and R@1 in the JSON equal what the best checkpoint gives, recomputed here (brute force, sklearn)."""
    root, shard_dir = run
    runtime = setup_runtime("cpu")
    model, _ = load_detector(root / "models/student/Deepfakes/c40/add/best.pt")

    def loader(split):
        return make_loader(shard_dir, METHOD, split, ["c40"], 5, train=False, seed=0)

    test = predict(model, loader("test"), "c40", runtime, embeddings=True)
    train = [(embedding, batch["label"]) for _, embedding, batch in iter_outputs(model, loader("train"), "c40",
                                                                                 runtime)]
    references, reference_labels = torch.cat([e for e, _ in train]), torch.cat([y for _, y in train])
    distance = torch.cdist(test.embeddings.double(), references.double())  # every pair, in float64
    brute_r1 = (reference_labels[distance.argmin(1)].numpy() == test.labels).mean()
    similarity = torch.nn.functional.normalize(test.embeddings, dim=1) @ torch.nn.functional.normalize(
        references, dim=1).T
    brute_cosine = (reference_labels[similarity.argmax(1)].numpy() == test.labels).mean()
    metrics = json.loads((root / "metrics/student/Deepfakes/c40/add.json").read_text())
    assert metrics["r_at_1"] == pytest.approx(brute_r1, abs=1e-6)
    assert metrics["r_at_1"] == pytest.approx(recall_at_1(test.embeddings, test.labels, references,
                                                          reference_labels), abs=1e-6)
    assert metrics["r_at_1_cosine"] == pytest.approx(brute_cosine, abs=1e-6)
    assert metrics["acc"] == pytest.approx(accuracy(test.labels, test.probs), abs=1e-6)
    assert metrics["ap"] == pytest.approx(sk.average_precision_score(test.labels, test.probs), abs=1e-6)
    fpr, tpr, _ = sk.roc_curve(test.labels, test.probs)
    assert metrics["eer"] == pytest.approx(brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1), abs=1e-6)
    _, video_labels, video_scores = video_level(test.videos, test.labels, test.probs)
    assert metrics["video_ap"] == pytest.approx(sk.average_precision_score(video_labels, video_scores), abs=1e-6)
    assert len(set(test.keys)) == 16 and np.isin(test.labels, (0, 1)).all()


def test_one_class_test_split_gives_null_auc(run, tmp_path, capsys):
    root, _ = run
    dropped = (("Deepfakes", "006_007"), ("Deepfakes", "007_006"))  # the test fakes: only originals remain
    shard_dir = build_shards(tmp_path, dropped_videos=dropped)
    metrics_dir = tmp_path / "metrics"
    assert cli.main(["evaluate", "--params", str(root / "params.yaml"), "--shards", str(shard_dir),
                     "--models", str(root / "models"), "--metrics", str(metrics_dir),
                     "--plots", str(tmp_path / "plots"), "--kind", "teacher"]) == 0
    metrics = json.loads((metrics_dir / "teacher/Deepfakes/raw.json").read_text())
    assert metrics["auc"] is None and metrics["video_auc"] is None
    assert metrics["eer"] is None and metrics["ap"] is None and metrics["video_ap"] is None
    assert metrics["fake_frames"] == 0 and metrics["frames"] == 8 and 0 <= metrics["acc"] <= 1
    assert metrics["video_eer"] is None and "no fake video" in metrics["undefined"]
    assert "AUC is undefined" in capsys.readouterr().err


def test_clear_errors(run, tmp_path, capsys):
    root, shard_dir = run
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**PARAMS, "train": {**PARAMS["train"], "epochs": "many"}}))
    assert cli.main(["teacher", "--params", str(bad), "--shards", str(shard_dir), "--models", str(tmp_path)]) == 1
    assert "params 'train.epochs' must be an integer, got 'many'" in capsys.readouterr().err
    assert cli.main(["student", "--params", str(root / "params.yaml"), "--shards", str(shard_dir),
                     "--models", str(tmp_path / "empty"), "--distill", "add"]) == 1
    err = capsys.readouterr().err
    assert "teacher/Deepfakes/best.pt: checkpoint not found" in err
    assert cli.main(["evaluate", "--params", str(root / "params.yaml"), "--shards", str(tmp_path / "none"),
                     "--models", str(root / "models"), "--metrics", str(tmp_path / "m")]) == 1
    assert "index.json: shard index not found" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_truncated_shard_stops_training_and_evaluation_at_start_up(run, tmp_path, capsys):
    import shutil

    root, shard_dir = run
    copy = tmp_path / "shards"
    shutil.copytree(shard_dir, copy)
    victim = copy / "Deepfakes" / "test-00000.tar"
    victim.write_bytes(victim.read_bytes()[:3000])
    common = ["--params", str(root / "params.yaml"), "--shards", str(copy)]
    live = str(tmp_path / "live")
    assert cli.main(["teacher", *common, "--models", str(tmp_path / "models"), "--dvclive", live]) == 1
    assert f"{victim}: 3000 bytes" in capsys.readouterr().err
    assert not (tmp_path / "models" / "teacher" / METHOD / "last.pt").exists()  # stopped before the first step
    assert cli.main(["evaluate", *common, "--models", str(root / "models"), "--metrics", str(tmp_path / "m"),
                     "--plots", str(tmp_path / "p"), "--kind", "teacher"]) == 1
    err = capsys.readouterr().err
    assert f"{victim}: 3000 bytes" in err and "dvc repro -f shards" in err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("init", [True, False])
def test_student_can_start_from_the_teacher(run, tmp_path, init):
    root, shard_dir = run
    params = {**PARAMS, "train": {**PARAMS["train"], "epochs": 1, "lr": 1e-12, "max_steps": 1},
              "distill": {**PARAMS["distill"], "init_from_teacher": init}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    models = tmp_path / "models"
    (models / "teacher").mkdir(parents=True)
    (models / "teacher" / METHOD).symlink_to(root / "models" / "teacher" / METHOD)
    assert cli.main(["student", "--params", str(path), "--shards", str(shard_dir), "--models", str(models),
                     "--dvclive", str(tmp_path / "live"), "--quality", "c40", "--distill", "none"]) == 0
    teacher, _ = load_detector(models / "teacher" / METHOD / "best.pt")
    student, _ = load_detector(models / "student" / METHOD / "c40" / "none" / "best.pt")
    t, s = teacher.state_dict(), student.state_dict()
    convs = [k for k in t if k.endswith("conv1.weight")]
    assert convs
    same = all(torch.allclose(t[k], s[k], atol=1e-6) for k in convs)
    assert same is init


def test_predictions_csv_holds_every_test_frame(run, tmp_path):
    root, shard_dir = run
    params = root / "params.yaml"
    out = tmp_path / "predictions.csv"
    assert cli.main(["evaluate", "--params", str(params), "--shards", str(shard_dir), "--models", str(root / "models"),
                     "--metrics", str(tmp_path / "metrics"), "--plots", str(tmp_path / "plots"), "--kind", "student",
                     "--quality", "c40", "--distill", "add", "--predictions", str(out)]) == 0
    with out.open() as f:
        rows = list(csv.DictReader(f))
    metrics = json.loads((tmp_path / "metrics/student/Deepfakes/c40/add.json").read_text())
    assert len(rows) == metrics["frames"] and len({r["key"] for r in rows}) == len(rows)
    assert {r["video"].split("/")[0] for r in rows} == {"original", METHOD}
    labels, probs = np.array([int(r["label"]) for r in rows]), np.array([float(r["prob"]) for r in rows])
    assert metrics["acc"] == pytest.approx(accuracy(labels, probs), abs=1e-6)


def test_calibration_val_accuracy_is_the_validation_acc_of_training(run):
    import importlib.util

    from add.core.params import load_params

    root, shard_dir = run
    spec = importlib.util.spec_from_file_location("calibration", REPO / "bench" / "calibration.py")
    calibration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibration)
    params = load_params(root / "params.yaml")
    for checkpoint, quality in ((root / "models/teacher/Deepfakes/best.pt", "raw"),
                                (root / "models/student/Deepfakes/c40/none/best.pt", "c40")):
        meta = load_checkpoint(checkpoint)["meta"]
        assert calibration.val_accuracy(checkpoint, shard_dir, quality, params) == pytest.approx(meta["val_acc"])


def test_fr_exponent_bench_gives_the_gamma_of_each_target_exponent(run, tmp_path, capsys):
    import importlib.util

    root, shard_dir = run
    spec = importlib.util.spec_from_file_location("fr_exponent", REPO / "bench" / "fr_exponent.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "fr.json"
    assert bench.main(["--params", str(root / "params.yaml"), "--shards", str(shard_dir), "--teacher",
                       str(root / "models/teacher/Deepfakes/best.pt"), "--batches", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["model"] == "resnet18" and result["fr_weights"] == [1.0, 2.0, 0.25] and result["gamma_fr"] == 1.0
    assert len(result["stages"]) == 3 and all(0 <= s["mean"] <= s["p99"] <= s["max"] for s in result["stages"])
    largest = max(s["max"] for s in result["stages"])
    assert largest > 0
    for target, gamma in result["gamma_for_largest_exponent"].items():
        assert gamma * largest == pytest.approx(float(target))
    assert "gamma_fr for a largest exponent of 1: " in capsys.readouterr().out
