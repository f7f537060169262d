"""`add predict` end to end on a tiny model: real-face video and image, no-face video, truncated mp4, non-media file;
the model card (add.models.card) and `add export`."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import tarfile
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from skimage import data
from video_factory import face_centre, make_video, synth_frames, truncate, write_videos_parquet

from add import cli
from add.data.extract import stage as extract_stage
from add.data.faces import FaceSettings, crop, square_box
from add.data.images import read_image
from add.data.loader import to_tensor
from add.data.video_io import ffmpeg_exe, write_video
from add.models.card import PIXEL_MEAN, PIXEL_STD, Card, CardError, build_card, read_card
from add.models.detector import create_detector
from add.tools.predict import list_inputs
from add.training.checkpoints import CHECKPOINT_FORMAT, load_checkpoint, load_detector

SIZE = 48
N_FRAMES = 12
FRAMES = 6  # even sampling of 12 frames: 1, 3, 5, 7, 9, 11
PARAMS = {"seed": 0, "data": {"qualities": ["raw"], "frames_per_video": FRAMES, "image_size": SIZE, "jobs": 1}}

pytestmark = pytest.mark.usefixtures("one_thread")


def save_model(path: Path, card: dict | None) -> Path:
    torch.manual_seed(0)
    model = create_detector("resnet18")
    meta = {"kind": "teacher", "method": "Deepfakes", "quality": "raw", "model": "resnet18"}
    if card is not None:
        meta["card"] = card
    torch.save({"format": CHECKPOINT_FORMAT, "meta": meta, "model": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    (root / "shards").mkdir()
    (root / "shards" / "index.json").write_text(json.dumps({"image_size": SIZE, "datasets": {}}))
    card = build_card(PARAMS, root / "shards", "resnet18", {"kind": "teacher", "method": "Deepfakes"})
    model = save_model(root / "model.pt", card)
    # frame 1 (sampled) shows no face: it takes the box of frame 3, as in extraction
    face = make_video(root / "videos", "face", N_FRAMES, qualities=("raw",), no_face={1}, seed=1)["raw"]
    no_face = make_video(root / "videos", "empty", N_FRAMES, qualities=("raw",), face=None, seed=2)["raw"]
    cut = make_video(root / "videos", "cut", N_FRAMES, qualities=("raw",), seed=3)["raw"]
    truncate(cut, 0.5)
    image = root / "astronaut.png"
    cv2.imwrite(str(image), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    text = root / "notes.txt"
    text.write_text("not a video\n")
    return {"root": root, "model": model, "card": card, "face": face, "no_face": no_face, "cut": cut,
            "image": image, "text": text}


def predict(inputs: dict, *args: str) -> tuple[int, dict]:
    out = inputs["root"] / "out" / f"{abs(hash(args))}.json"
    code = cli.main(["predict", *args, "--model", str(inputs["model"]), "--frames", str(FRAMES), "--out", str(out),
                     "--quiet"])
    return code, json.loads(out.read_text())


@pytest.fixture(scope="module")
def batch(inputs):
    """One run over every kind of input."""
    paths = [inputs[k] for k in ("face", "image", "no_face", "cut", "text")]
    return predict(inputs, *map(str, paths), "--cam", str(inputs["root"] / "cam"))


def probabilities(model_path: Path, x: torch.Tensor) -> np.ndarray:
    model, _ = load_detector(model_path)
    with torch.no_grad():
        return torch.softmax(model(x), dim=1)[:, 1].double().numpy()


# ---------------------------------------------------------------------------------------------------- the batch
def test_statuses_and_exit_code(batch, inputs):
    code, report = batch
    assert code == 1  # the truncated mp4 and the text file are errors
    statuses = [(r["input"], r["status"]) for r in report["results"]]
    assert statuses == [(str(inputs["face"]), "ok"), (str(inputs["image"]), "ok"), (str(inputs["no_face"]), "no_face"),
                        (str(inputs["cut"]), "error"), (str(inputs["text"]), "error")]
    for r in report["results"]:
        assert set(r) == {"input", "status", "error", "note", "score", "label", "coverage", "frames"}
        if r["status"] == "ok":
            assert r["error"] is None and r["frames"] and r["label"] in ("fake", "real")
            assert r["score"] == pytest.approx(np.mean([f["score"] for f in r["frames"]]))
            assert r["label"] == ("fake" if r["score"] > 0.5 else "real")
        else:
            assert r["input"] in r["error"] and r["score"] is None and r["label"] is None and r["frames"] == []
    errors = {r["input"]: r["error"] for r in report["results"]}
    assert "truncated" in errors[str(inputs["cut"])] or "decod" in errors[str(inputs["cut"])]
    assert "no face" in errors[str(inputs["no_face"])]
    assert report["model"] == {**inputs["card"], "checkpoint": str(inputs["model"])}


def test_video_frames_are_the_extraction_crops_scored_by_the_model(batch, inputs, tmp_path):
    """Run the extract stage on the same video: predict must score its frames, boxes and crops exactly."""
    videos = write_videos_parquet(tmp_path / "videos.parquet", [
        {"split": "test", "method": "original", "video": "000", "label": 0, "raw": inputs["face"]}])
    extract_stage.run(PARAMS, videos, tmp_path / "faces", tmp_path / "manifest.parquet", tmp_path / "m.json",
                progress=False)
    manifest = pd.read_parquet(tmp_path / "manifest.parquet")
    assert list(manifest["status"]) == ["fallback"] + ["ok"] * (FRAMES - 1)
    with tarfile.open(tmp_path / "faces" / "original" / "000.tar") as tar:
        pngs = [tar.extractfile(f"{f:04d}.raw.png").read() for f in manifest["frame"]]
    crops = np.stack([cv2.cvtColor(cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                      for b in pngs])
    expected = probabilities(inputs["model"], to_tensor(crops.transpose(0, 3, 1, 2)))  # as training sees them

    frames = batch[1]["results"][0]["frames"]
    assert [f["index"] for f in frames] == manifest["frame"].tolist() == [1, 3, 5, 7, 9, 11]
    assert [f["box"] for f in frames] == manifest[["x0", "y0", "x1", "y1"]].astype(int).values.tolist()
    assert [f["time"] for f in frames] == pytest.approx([i / 25 for i in (1, 3, 5, 7, 9, 11)])
    np.testing.assert_allclose([f["score"] for f in frames], expected, rtol=0, atol=1e-6)
    assert np.ptp(expected) > 0  # the crops differ, so equal scores mean equal crops


def test_an_image_is_a_one_frame_input(batch, inputs):
    image = data.astronaut()
    detection = FaceSettings().detect(image)[0]
    box = square_box(detection, image.shape[1], image.shape[0], 1.3)
    expected = probabilities(inputs["model"], to_tensor(crop(image, box, SIZE)[None].transpose(0, 3, 1, 2)))
    result = batch[1]["results"][1]
    assert result["frames"] == [{"index": 0, "time": 0.0, "box": list(box), "face": "detected", "source": 0,
                                 "score": pytest.approx(expected[0])}]
    assert result["score"] == pytest.approx(expected[0])


def test_cam_overlays_one_per_scored_face(batch, inputs):
    cam = inputs["root"] / "cam"
    assert sorted(p.name for p in cam.iterdir()) == ["000-face.mp4", "001-astronaut.png"]
    files = sorted((cam / "000-face.mp4").iterdir())
    assert [p.name for p in files] == [f"{i:06d}.png" for i in (1, 3, 5, 7, 9, 11)]
    pair = cv2.imread(str(files[0]))
    assert pair.shape == (192, 384, 3)
    face, overlay = pair[:, :192].astype(int), pair[:, 192:].astype(int)
    assert np.abs(face - overlay).mean() > 5  # a heat map is drawn over the face


def test_all_inputs_processed_exits_0_and_stdout_without_out(inputs, capsys):
    code = cli.main(["predict", str(inputs["no_face"]), str(inputs["image"]), "--model", str(inputs["model"]),
                     "--quiet"])
    assert code == 0  # no_face is processed, not an error
    report = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in report["results"]] == ["no_face", "ok"]


def test_folders_are_walked_recursively_in_order(tmp_path):
    for name in ("b/clip.MP4", "a/z.png", "a/y/x.webp", "a/.hidden.png", ".git/x.png", "a/notes.txt", "c.jpg",
                 "d/scan.TIF", "d/photo.jfif", "d/old.jpe", "d/page.tiff"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "d" / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / "empty").mkdir()
    found, warnings, skipped = list_inputs([tmp_path, tmp_path / "a" / "notes.txt", tmp_path / "missing.mp4",
                                            tmp_path / "empty"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a/y/x.webp", "a/z.png", "b/clip.MP4", "c.jpg", "d/old.jpe", "d/page.tiff", "d/photo.jfif", "d/scan.TIF",
        "a/notes.txt", "missing.mp4"]
    assert len(warnings) == 1 and "empty" in warnings[0]
    reasons = {Path(s.path).relative_to(tmp_path).as_posix(): s.reason for s in skipped}
    assert set(reasons) == {".git", "a/.hidden.png", "a/notes.txt", "d/gone.jpg"}
    assert "broken symbolic link" in reasons["d/gone.jpg"] and "'.txt'" in reasons["a/notes.txt"]
    assert "hidden" in reasons["a/.hidden.png"] and "hidden folder" in reasons[".git"]


def test_empty_files_and_missing_paths_are_errors(inputs, tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    paths = [tmp_path / n for n in ("empty.mp4", "empty.jpg", "broken.png", "missing.webm")]
    code, report = predict(inputs, *map(str, paths), str(inputs["image"]))
    assert code == 1
    assert [r["status"] for r in report["results"]] == ["error"] * 4 + ["ok"]
    assert all(str(p) in r["error"] for p, r in zip(paths, report["results"], strict=False))


# ------------------------------------------------------------------------------------------------- usage errors
def test_usage_errors_exit_2(inputs, tmp_path, capsys):
    model = ["--model", str(inputs["model"])]
    for bad in (["--frames", "0"], ["--batch-size", "0"], ["--device", "gpu"]):
        with pytest.raises(SystemExit) as e:
            cli.main(["predict", str(inputs["image"]), *model, *bad])
        assert e.value.code == 2
    (tmp_path / "nothing").mkdir()
    assert cli.main(["predict", str(tmp_path / "nothing"), *model]) == 2
    assert "no inputs" in capsys.readouterr().err
    assert cli.main(["predict", str(inputs["image"]), "--model", str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt" in capsys.readouterr().err


def test_old_checkpoint_is_refused_with_how_to_reexport(inputs, tmp_path, capsys):
    old = save_model(tmp_path / "old.pt", card=None)
    assert cli.main(["predict", str(inputs["image"]), "--model", str(old), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(old) in err and "no model card" in err and "add export" in err and "dvc repro" in err
    params = tmp_path / "params.yaml"
    params.write_text(json.dumps(PARAMS))  # JSON is YAML
    exported = tmp_path / "exported.pt"
    assert cli.main(["export", str(old), "--params", str(params), "--shards", str(inputs["root"] / "shards"),
                     "--out", str(exported)]) == 0
    card = load_checkpoint(exported)["meta"]["card"]
    assert card["image_size"] == SIZE and card["trained_on"] == {"seed": 0, "kind": "teacher", "method": "Deepfakes",
                                                                 "quality": "raw"}
    assert torch.equal(load_checkpoint(exported)["model"]["backbone.fc.weight"],
                       load_checkpoint(old)["model"]["backbone.fc.weight"])
    assert cli.main(["predict", str(inputs["image"]), "--model", str(exported), "--quiet"]) == 0


@pytest.mark.parametrize("change, match", [
    (lambda c: c.update(format="add.card/99"), "format"),
    (lambda c: c.update(model="vgg"), "unknown model"),
    (lambda c: c.update(image_size=0), "image_size"),
    (lambda c: c["normalization"].update(std=[1, 0, 1]), "std"),
    (lambda c: c["faces"].pop("box_scale"), "box_scale"),
    (lambda c: c["faces"].update(detector="mtcnn"), "detector"),
])
def test_malformed_cards_are_refused(inputs, change, match):
    card = json.loads(json.dumps(inputs["card"]))
    change(card)
    with pytest.raises(CardError, match=match):
        read_card({"card": card}, "x.pt")


def test_card_normalisation_is_the_loaders():
    card = Card("resnet18", 4, PIXEL_MEAN, PIXEL_STD, FaceSettings(), {}, 0.5)
    crops = np.random.default_rng(0).integers(0, 256, (3, 4, 4, 3), dtype=np.uint8)
    crops[0, 0, 0] = [0, 128, 255]
    assert torch.equal(card.to_input(crops), to_tensor(crops.transpose(0, 3, 1, 2)))


def test_card_reads_back(inputs):
    card = read_card({"card": inputs["card"]}, "x.pt")
    assert card.to_json() == inputs["card"]
    assert card.faces == FaceSettings(0.2, 0, 640, 2.0, 1.3) and card.image_size == SIZE and card.threshold == 0.5


def test_stdout_is_valid_json_with_an_error_only(inputs, capsys):
    assert cli.main(["predict", str(inputs["text"]), "--model", str(inputs["model"]), "--quiet"]) == 1
    report = json.load(io.StringIO(capsys.readouterr().out))
    assert report["results"][0]["status"] == "error"


# --------------------------------------------------------------------------------- footage as people have it
def _ffmpeg(*args):
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *map(str, args)],
                   check=True, capture_output=True)


def test_portrait_phone_clip_gives_upright_faces(inputs, tmp_path):
    upright = list(synth_frames(N_FRAMES, 240, 320, face="astronaut", face_size=140, seed=4))  # portrait
    stored = tmp_path / "stored.mp4"
    write_video(stored, [np.ascontiguousarray(np.rot90(f, k=-1)) for f in upright])  # sideways on disk, 320x240
    phone = tmp_path / "phone.mp4"
    _ffmpeg("-display_rotation", 90, "-i", stored, "-c", "copy", phone)  # what the phone records: turn it back
    code, report = predict(inputs, str(phone))
    result = report["results"][0]
    assert code == 0 and result["status"] == "ok" and result["coverage"] == 1.0
    for f in result["frames"]:
        x0, y0, x1, y1 = f["box"]
        assert x1 <= 240 and y1 <= 320  # boxes in the upright 240x320 frame
        cx, cy = face_centre(f["index"], N_FRAMES, 240, 320)
        assert x0 < cx < x1 and y0 < cy < y1


@pytest.fixture(scope="module")
def long_face(inputs):
    """50 lossless frames with a face, one GOP."""
    root = inputs["root"] / "long"
    return make_video(root, "long", 50, qualities=("raw",), seed=5)["raw"]


def test_stream_copy_cut_is_scored(inputs, long_face, tmp_path):
    cut = tmp_path / "cut.mp4"
    _ffmpeg("-ss", "1", "-i", long_face, "-c", "copy", cut)  # 25 frames decode, 50 packets stored
    code, report = predict(inputs, str(cut))
    result = report["results"][0]
    assert code == 0 and result["status"] == "ok"
    assert [f["index"] for f in result["frames"]] == [2, 6, 10, 14, 18, 22]  # even sampling of 25 frames
    assert [f["time"] for f in result["frames"]] == pytest.approx([0.08, 0.24, 0.4, 0.56, 0.72, 0.88])


def test_transport_stream_starting_mid_gop_is_scored(inputs, long_face, tmp_path):
    ts = tmp_path / "whole.ts"
    _ffmpeg("-i", long_face, "-c:v", "libx264", "-g", "20", "-pix_fmt", "yuv420p", "-f", "mpegts", ts)
    blob = ts.read_bytes()
    mid = tmp_path / "mid.ts"
    mid.write_bytes(blob[(len(blob) // 188 // 3) * 188:])
    code, report = predict(inputs, str(mid))
    assert code == 0 and report["results"][0]["status"] == "ok" and len(report["results"][0]["frames"]) == FRAMES


def test_detected_and_borrowed_frames_and_low_coverage(inputs, batch):
    frames = batch[1]["results"][0]["frames"]  # frame 1 shows no face: it borrows frame 3's box
    assert [(f["index"], f["face"], f["source"]) for f in frames] == [
        (1, "borrowed", 3), (3, "detected", 3), (5, "detected", 5), (7, "detected", 7), (9, "detected", 9),
        (11, "detected", 11)]
    assert batch[1]["results"][0]["coverage"] == pytest.approx(5 / 6, abs=1e-4)
    # a face in frames 0-2 only, then background: 1 of the 6 sampled frames has a face
    cup = make_video(inputs["root"] / "videos", "cup", N_FRAMES, qualities=("raw",), no_face=set(range(3, 12)),
                     seed=6)["raw"]
    code, report = predict(inputs, cup)
    result = report["results"][0]
    assert code == 0 and result["status"] == "low_coverage" and result["coverage"] == pytest.approx(1 / 6, abs=1e-4)
    assert "1 of 6" in result["note"]
    detected = [f["score"] for f in result["frames"] if f["face"] == "detected"]
    assert len(detected) == 1 and result["score"] == pytest.approx(detected[0])


def test_out_to_a_folder_exits_2_before_scoring(inputs, tmp_path, capsys, monkeypatch):
    from add.tools import predict as predict_module

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before --out was checked")

    monkeypatch.setattr(predict_module.Scorer, "load", never)
    args = ["predict", str(inputs["image"]), "--model", str(inputs["model"]), "--quiet"]
    assert cli.main([*args, "--out", str(tmp_path)]) == 2
    assert "--out" in capsys.readouterr().err
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert cli.main([*args, "--out", str(blocker / "report.json")]) == 2  # its folder cannot exist
    assert cli.main([*args, "--report", str(tmp_path)]) == 2
    assert cli.main([*args, "--cam", str(blocker)]) == 2


def test_a_file_that_is_not_a_checkpoint_says_so(inputs, capsys):
    assert cli.main(["predict", str(inputs["image"]), "--model", str(inputs["image"]), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "not a checkpoint" in err and str(inputs["image"]) in err and "weights_only" not in err


def test_folder_walk_skips_are_in_the_json(inputs, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    cv2.imwrite(str(folder / "face.tif"), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    code, report = predict(inputs, str(folder))
    assert code == 0 and [r["status"] for r in report["results"]] == ["ok"]
    assert report["skipped"] == [{"path": str(folder / "notes.txt"),
                                  "reason": report["skipped"][0]["reason"]}]
    assert "'.txt'" in report["skipped"][0]["reason"]


def test_huge_jpeg_is_decoded_at_a_bounded_size(tmp_path):
    big = tmp_path / "wide.jpg"
    cv2.imwrite(str(big), np.full((64, 8400, 3), 128, np.uint8))
    image, factor = read_image(big)
    assert factor == 2 and image.shape == (32, 4200, 3)


def test_predict_module_imports_no_heavy_library():
    code = ("import sys, add.tools.predict; "
            "print(sorted(m for m in ('torch', 'timm', 'dlib', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_html_report_structure(inputs, tmp_path):
    page = tmp_path / "report.html"
    paths = [inputs["face"], inputs["no_face"], inputs["text"]]
    code = cli.main(["predict", *map(str, paths), "--model", str(inputs["model"]), "--frames", str(FRAMES),
                     "--out", str(tmp_path / "r.json"), "--report", str(page), "--cam", str(tmp_path / "cam"),
                     "--quiet"])
    assert code == 1
    parsed = ReportParser()
    parsed.feed(page.read_text())
    assert [s["data-status"] for s in parsed.sections] == ["ok", "no_face", "error"]
    assert parsed.sections[0]["data-label"] in ("fake", "real")
    circles = [c["class"] for c in parsed.circles]
    assert circles == ["borrowed"] + ["detected"] * (FRAMES - 1)  # one per frame, frame 1 borrowed
    faces = [(f["class"], f["data-frame"]) for f in parsed.figures if f["class"].startswith("face")]
    assert faces == [("face borrowed", "1")] + [("face detected", str(i)) for i in (3, 5, 7, 9, 11)]
    assert len([f for f in parsed.figures if f["class"] == "cam"]) == FRAMES
    assert len(parsed.images) == 2 * FRAMES and all(src.startswith("data:image/png;base64,") for src in parsed.images)
    for src in parsed.images:  # each image decodes
        blob = np.frombuffer(base64.b64decode(src.split(",", 1)[1]), np.uint8)
        assert cv2.imdecode(blob, cv2.IMREAD_COLOR) is not None
    assert parsed.external == []  # nothing fetched: readable offline


class ReportParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.circles, self.figures, self.images, self.external = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a)
        elif tag == "circle":
            self.circles.append(a)
        elif tag == "figure":
            self.figures.append(a)
        elif tag == "img":
            self.images.append(a["src"])
        for key in ("src", "href"):
            if key in a and not (a[key].startswith("data:") or a[key].startswith("#")):
                self.external.append(a[key])
        if tag in ("script", "link"):
            self.external.append(tag)


def test_help_and_the_not_a_checkpoint_message_name_the_current_commands(inputs, capsys):
    with pytest.raises(SystemExit):
        cli.main(["predict", "--help"])
    assert cli.main(["predict", str(inputs["image"]), "--model", str(inputs["image"]), "--quiet"]) == 2
    both = capsys.readouterr()
    for text in (" ".join(both.out.split()), " ".join(both.err.split())):  # argparse wraps the help
        assert "add teacher" in text and "add student" in text
        assert "add train" not in text and "add distill" not in text


@pytest.fixture(scope="module")
def face_crops_folder(inputs):
    from video_factory import background, tight_face_crop

    folder = inputs["root"] / "crops"
    folder.mkdir()
    cv2.imwrite(str(folder / "a_tight.png"), cv2.cvtColor(tight_face_crop(0.8), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(folder / "b_background.png"), cv2.cvtColor(background(160, 120, seed=1), cv2.COLOR_RGB2BGR))
    return folder


def test_a_tight_face_crop_is_found_padded_not_called_faceless(inputs, face_crops_folder):
    code, report = predict(inputs, str(face_crops_folder))
    tight, empty = report["results"]
    assert code == 0 and tight["status"] == "ok" and tight["frames"][0]["face"] == "detected"
    assert tight["frames"][0]["box"] == [0, 0, 224, 224] and "padded" in tight["note"]
    assert empty["status"] == "no_face" and "--crops" in empty["error"]


def test_crops_scores_every_image_and_frame_without_detection(inputs, face_crops_folder, monkeypatch):
    from add.data import faces as faces_module

    def never(*args, **kwargs):
        raise AssertionError("--crops ran the face detector")

    monkeypatch.setattr(faces_module.FaceSettings, "detect", never)
    monkeypatch.setattr(faces_module.FaceSettings, "detect_padded", never)
    code, report = predict(inputs, str(face_crops_folder), str(inputs["no_face"]), "--crops")
    assert code == 0 and [r["status"] for r in report["results"]] == ["ok", "ok", "ok"]
    tight, empty, video = report["results"]
    assert tight["frames"][0]["box"] == [0, 0, 224, 224] and empty["frames"][0]["box"] == [20, 0, 140, 120]
    assert len(video["frames"]) == FRAMES and all(f["face"] == "given" for r in report["results"]
                                                  for f in r["frames"])
    assert all(r["coverage"] is None and r["note"] is None for r in report["results"])
    # the crop is the centred square resized as the card says, scored by the model
    given = crop(read_image(face_crops_folder / "b_background.png")[0], (20, 0, 140, 120), SIZE)
    expected = probabilities(inputs["model"], to_tensor(given[None].transpose(0, 3, 1, 2)))
    assert empty["score"] == pytest.approx(expected[0], abs=1e-6)
