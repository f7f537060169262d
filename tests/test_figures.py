"""The Grad-CAM gallery and the spectrum figure (add gallery, add spectrum) on generated tiny shards;
add.models.gradcam."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from committed import params_file as default_params_file
from committed import raw as default_params
from faces_factory import face_image, write_faces

from add import cli
from add.core.params import ParamsError, load_params, parse_params
from add.data import shards
from add.data.loader import make_loader
from add.evaluation.gallery import GalleryError, faces_per_class, pick_faces, to_uint8
from add.evaluation.spectrum import SpectrumError, log_spectra, mean_spectra
from add.models.detector import create_detector
from add.models.gradcam import grad_cam, overlay
from add.training.checkpoints import CHECKPOINT_FORMAT

SIZE = 32
METHOD = "Deepfakes"
ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    faces, manifest = write_faces(root, frames=3, size=SIZE)  # test split: originals 006, 007 and 2 fakes
    shards.run({"seed": 0, "shards": {"max_samples_per_shard": 1000}}, faces, manifest, root / "shards")
    return root / "shards"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Random detectors where the stage expects the teacher and the two students."""
    root = tmp_path_factory.mktemp("models")
    folders = {"teacher": root / "teacher" / METHOD, "none": root / "student" / METHOD / "c40" / "none",
               "add": root / "student" / METHOD / "c40" / "add"}
    for seed, (kind, folder) in enumerate(folders.items()):
        torch.manual_seed(seed)
        folder.mkdir(parents=True)
        torch.save({"format": CHECKPOINT_FORMAT, "meta": {"model": "resnet18", "kind": kind, "method": METHOD},
                    "model": create_detector("resnet18").state_dict()}, folder / "best.pt")
    return root


def test_gallery_stage_writes_the_figure(shard_dir, models, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("gallery: {faces_per_class: 2}\ndata: {methods: [Deepfakes]}\n")
    out = tmp_path / "plots" / "gallery.png"
    assert cli.main(["gallery", "--params", str(params), "--shards", str(shard_dir), "--models", str(models),
                     "--out", str(out)]) == 0
    image = cv2.imread(str(out))
    assert image.shape == (790, 875, 3)  # 4 rows (2 real, 2 fake) of 5 panels, 1.85 x 1.75 in each at 100 dpi
    params.write_text("gallery: {faces_per_class: 3}\n")  # 2 videos per class in the test split: 4 rows again
    assert cli.main(["gallery", "--params", str(params), "--shards", str(shard_dir), "--models", str(models),
                     "--out", str(tmp_path / "other.png")]) == 0
    assert cv2.imread(str(tmp_path / "other.png")).shape == (790, 875, 3)


def test_gallery_picks_one_frame_per_video_real_then_fake(shard_dir):
    faces, labels, videos = pick_faces(shard_dir, METHOD, "c40", 2)
    assert labels == [0, 0, 1, 1]
    assert sorted(videos[:2]) == ["original/006", "original/007"]
    assert sorted(videos[2:]) == ["Deepfakes/006_007", "Deepfakes/007_006"]
    crops = {key: to_uint8(x) for key, x in faces.items()}
    frames = [[f for f in range(3) if np.array_equal(crops["raw"][i], face_image(*v.split("/"), f, "raw", SIZE))]
              for i, v in enumerate(videos)]
    assert all(len(f) == 1 for f in frames)  # each crop is exactly one raw frame of its video...
    for i, (v, [frame]) in enumerate(zip(videos, frames, strict=True)):  # ...and its c40 crop is of the same frame
        assert np.array_equal(crops["c40"][i], face_image(*v.split("/"), frame, "c40", SIZE))
    assert pick_faces(shard_dir, METHOD, "c40", 3)[1] == [0, 0, 1, 1]  # all there is


def test_gallery_needs_both_classes(tmp_path):
    faces, manifest = write_faces(tmp_path, frames=2, size=SIZE, dropped_videos=(
        ("original", "006"), ("original", "007")))
    shards.run({"seed": 0, "shards": {"max_samples_per_shard": 1000}}, faces, manifest, tmp_path / "shards")
    with pytest.raises(GalleryError, match="no real video"):
        pick_faces(tmp_path / "shards", METHOD, "c40", 2)


@pytest.mark.parametrize("path", ["params.yaml", "presets/ffpp-paper.yaml"])
def test_shipped_params_configure_the_gallery(path):
    params = parse_params(default_params()) if path == "params.yaml" else load_params(ROOT / path)
    assert faces_per_class(params) == 4


def test_gallery_params():
    assert faces_per_class({}) == 4 and faces_per_class({"gallery": {"faces_per_class": 1}}) == 1
    with pytest.raises(ParamsError, match="gallery.faces_per_class"):
        faces_per_class({"gallery": {"faces_per_class": 0}})


def test_spectrum_stage_writes_the_figure(shard_dir, tmp_path):
    out = tmp_path / "spectrum.png"
    assert cli.main(["spectrum", "--params", str(default_params_file(tmp_path)), "--method", METHOD, "--quality",
                     "c40", "--shards", str(shard_dir), "--out", str(out)]) == 0
    image = cv2.imread(str(out))
    assert image.shape == (560, 1300, 3)  # 2 rows (real, fake) of 5 panels


def test_mean_spectra_are_the_mean_log_magnitude_of_every_test_crop(shard_dir):
    spectra = mean_spectra(shard_dir, METHOD, "c40")
    for label, videos in ((0, ["original/006", "original/007"]), (1, ["Deepfakes/006_007", "Deepfakes/007_006"])):
        expected = {}
        for quality in ("raw", "c40"):
            crops = np.stack([face_image(*v.split("/"), f, quality, SIZE) for v in videos for f in range(3)])
            grey = crops.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
            expected[quality] = np.log1p(np.abs(np.fft.fft2(grey))).mean(axis=0)
            np.testing.assert_allclose(spectra[label][quality], expected[quality], rtol=1e-9, atol=1e-9)
        diff = spectra[label]["diff"]
        assert spectra[label]["count"] == 6 and diff.min() == 0 and diff.max() == 1
        d = expected["raw"] - expected["c40"]
        np.testing.assert_allclose(diff, (d - d.min()) / (d.max() - d.min()), atol=1e-9)


def test_highest_frequency_is_at_the_centre():
    checker = (np.indices((8, 8)).sum(axis=0) % 2).astype(np.float64) * 2 - 1  # +-1: the Nyquist frequency
    x = torch.from_numpy(checker).expand(1, 3, 8, 8)
    spectrum = log_spectra(x)[0].numpy()  # pixels 0 / 255: the mean (DC, corner) and the Nyquist term (centre)
    assert spectrum[4, 4] == pytest.approx(np.log1p(64 * 127.5)) == spectrum[0, 0]
    spectrum[4, 4] = spectrum[0, 0] = 0
    assert np.abs(spectrum).max() < 1e-9


def test_spectrum_needs_both_classes(tmp_path):
    faces, manifest = write_faces(tmp_path, frames=2, size=SIZE, dropped_videos=(
        ("Deepfakes", "006_007"), ("Deepfakes", "007_006")))
    shards.run({"seed": 0, "shards": {"max_samples_per_shard": 1000}}, faces, manifest, tmp_path / "shards")
    with pytest.raises(SpectrumError, match="no fake crops"):
        mean_spectra(tmp_path / "shards", METHOD, "c40")


def test_grad_cam_maps(shard_dir):
    torch.manual_seed(0)
    model = create_detector("resnet18").eval()
    x = next(iter(make_loader(shard_dir, METHOD, "test", ["raw"], 4, train=False, seed=0)))["raw"]
    maps = grad_cam(model, x)
    assert maps.shape == (4, SIZE, SIZE) and maps.dtype == np.float32
    assert maps.min() >= 0 and np.allclose(maps.reshape(4, -1).max(axis=1), 1)  # scaled per face
    flipped = grad_cam(model, x, target=1 - model(x).argmax(dim=1))
    assert not np.allclose(maps, flipped)  # the map depends on the class explained
    assert model.training is False
    face = to_uint8(x)[0]
    assert np.array_equal(overlay(face, np.zeros((SIZE, SIZE)), alpha=0.0), face)
    assert np.abs(overlay(face, maps[0]).astype(int) - face).mean() > 5
