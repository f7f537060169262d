"""Faces of cross-dataset files (add.evaluation.cross_faces): the one face path of extraction and predict, two
people in a frame (the largest face, or both with faces: all), phone videos with rotation metadata (upright crops),
the cache."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from video_factory import _ellipse_mask, background, face_patch, make_video

from add.data.datasets.records import record
from add.data.faces import FaceSettings
from add.data.video_io import ffmpeg_exe, write_video
from add.evaluation.cross_faces import FaceCache, FaceKey, faces_for, find_faces

SIZE = 32
KEY = FaceKey(FaceSettings(), SIZE, 4, "as_is")

pytestmark = pytest.mark.usefixtures("one_thread")


def two_people(n: int, width: int = 640, height: int = 360) -> list[np.ndarray]:
    """The astronaut large on the left (220 px head) and small on the right (150 px head)."""
    bg = background(width, height, seed=5)
    frames = []
    for i in range(n):
        frame = bg.copy()
        for size, (cx, cy) in ((220, (170 + i, 180)), (150, (480 - i, 170))):
            x0, y0 = cx - size // 2, cy - size // 2
            mask = _ellipse_mask(size)
            region = frame[y0:y0 + size, x0:x0 + size].astype(np.float32)
            frame[y0:y0 + size, x0:x0 + size] = (region * (1 - mask) + face_patch("astronaut", size) * mask
                                                 ).astype(np.uint8)
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def two_person_video(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("two")
    write_video(root / "fake" / "two.mp4", two_people(8), quality="c23")
    return root


def test_two_people_largest_face_and_every_face(two_person_video):
    faces = find_faces(record(two_person_video, "fake/two.mp4", 1), KEY)
    assert faces.status == "ok" and sorted(set(faces.frames.tolist())) == [1, 3, 5, 7]
    chosen = faces.boxes[faces.chosen]
    assert len(chosen) == 4 and all(b[0] < 320 for b in chosen)  # the large face, on the left
    others = faces.boxes[faces.every & ~faces.chosen]
    assert len(others) == 4 and all(b[0] >= 320 for b in others)  # faces: all adds the small one in every frame
    assert (chosen[:, 2] - chosen[:, 0]).min() > (others[:, 2] - others[:, 0]).max()
    assert faces.crops.shape == (8, SIZE, SIZE, 3)


def test_c40_reencodes_before_finding_faces(two_person_video):
    rec = record(two_person_video, "fake/two.mp4", 1)
    as_is = find_faces(rec, KEY)
    c40 = find_faces(rec, FaceKey(FaceSettings(), SIZE, 4, "c40"))
    assert c40.status == "ok" and c40.chosen.sum() == 4
    assert not np.array_equal(as_is.crops[as_is.chosen], c40.crops[c40.chosen])


def test_cache_resumes_and_notices_a_changed_file(tmp_path, two_person_video):
    rec = record(two_person_video, "fake/two.mp4", 1)
    cache = FaceCache(tmp_path, KEY)
    assert cache.meta(rec) is None
    assert faces_for(rec, str(tmp_path), KEY) == ("fake/two.mp4", "ok", "")
    first = cache.load(rec)
    assert first is not None and first.crops.shape[0] == 8
    json_path, npy_path = cache.paths(rec)
    stamp = json_path.stat().st_mtime_ns
    faces_for(rec, str(tmp_path), KEY)  # cached: not recomputed
    assert json_path.stat().st_mtime_ns == stamp
    other = FaceCache(tmp_path, FaceKey(FaceSettings(box_scale=1.5), SIZE, 4, "as_is"))
    assert other.folder != cache.folder and other.meta(rec) is None  # other settings: other crops


def test_a_file_replaced_by_one_without_a_face_leaves_no_stale_crops(tmp_path, two_person_video):
    root = tmp_path / "data"
    (root / "fake").mkdir(parents=True)
    (root / "fake" / "v.mp4").write_bytes((two_person_video / "fake" / "two.mp4").read_bytes())
    rec = record(root, "fake/v.mp4", 1)
    cache = FaceCache(tmp_path / "cache", KEY)
    assert faces_for(rec, str(tmp_path / "cache"), KEY)[1] == "ok"
    json_path, npy_path = cache.paths(rec)
    assert npy_path.is_file()
    make_video(tmp_path / "blank", "v", 6, qualities=("c23",), face=None)
    (root / "fake" / "v.mp4").write_bytes((tmp_path / "blank" / "c23" / "v.mp4").read_bytes())
    assert faces_for(rec, str(tmp_path / "cache"), KEY)[1] == "no_face"
    assert json_path.is_file() and not npy_path.exists()  # the cached output holds what this file gives, nothing more


def test_video_without_face_and_unreadable_file(tmp_path):
    paths = make_video(tmp_path, "empty", 6, qualities=("c23",), face=None)
    empty = find_faces(record(tmp_path, "c23/empty.mp4", 0), KEY)
    assert Path(paths["c23"]).is_file() and empty.status == "no_face" and empty.crops.shape == (0, SIZE, SIZE, 3)
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    bad = find_faces(record(tmp_path, "bad.mp4", 1), KEY)
    assert bad.status == "error" and "bad.mp4" in bad.error


def test_rotated_phone_video_gives_upright_crops(tmp_path):
    """Needs the rotation-aware reader of add.data.video_io (issue 23): a phone stores the frames sideways with a
    display rotation; the faces must be found and cropped in the upright picture."""
    upright = list(make_video_frames())
    write_video(tmp_path / "upright.mp4", upright, quality="c23")
    sideways = [np.ascontiguousarray(np.rot90(f, k=-1)) for f in upright]  # stored turned clockwise
    write_video(tmp_path / "stored.mp4", sideways, quality="c23")
    # display rotation 90 = turn counter-clockwise to show: the upright picture
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-display_rotation", "90",
                    "-i", str(tmp_path / "stored.mp4"), "-c", "copy", str(tmp_path / "phone.mp4")], check=True)
    reference = find_faces(record(tmp_path, "upright.mp4", 0), KEY)
    phone = find_faces(record(tmp_path, "phone.mp4", 0), KEY)
    assert reference.status == "ok"
    assert phone.status == "ok", phone.error
    assert np.array_equal(phone.boxes[phone.chosen], reference.boxes[reference.chosen])
    diff = np.abs(phone.crops[phone.chosen].astype(int) - reference.crops[reference.chosen].astype(int)).mean()
    assert diff < 8


def make_video_frames(n: int = 8, width: int = 320, height: int = 240):
    from video_factory import synth_frames

    return synth_frames(n, width, height, face="astronaut", seed=3)


def test_an_image_is_a_one_frame_input_also_at_c40(tmp_path):
    import cv2
    from skimage import data

    image = data.astronaut()[:511, :509]  # odd sides: c40 pads them for 4:2:0 and crops back
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    rec = record(tmp_path, "a.png", 0)
    as_is = find_faces(rec, KEY)
    c40 = find_faces(rec, FaceKey(FaceSettings(), SIZE, 4, "c40"))
    assert as_is.status == c40.status == "ok" and as_is.frames.tolist() == c40.frames.tolist() == [0]
    assert np.abs(as_is.boxes - c40.boxes).max() <= 4  # the same face, found again after compression
    assert not np.array_equal(as_is.crops, c40.crops)


@pytest.fixture
def crop_images(tmp_path):
    import cv2
    from video_factory import tight_face_crop

    cv2.imwrite(str(tmp_path / "tight.png"), cv2.cvtColor(tight_face_crop(0.8), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "empty.png"), cv2.cvtColor(background(160, 120, seed=1), cv2.COLOR_RGB2BGR))
    return tmp_path


def test_a_tight_face_crop_image_is_found_padded(crop_images):
    tight = find_faces(record(crop_images, "tight.png", 1), KEY)
    assert tight.status == "ok" and tight.boxes.tolist() == [[0, 0, 224, 224]]
    assert find_faces(record(crop_images, "empty.png", 0), KEY).status == "no_face"


def test_faces_given_takes_every_file_as_its_face_without_detection(crop_images, two_person_video, monkeypatch):
    from add.core.params import parse_params
    from add.data import faces as faces_module

    def never(*args, **kwargs):
        raise AssertionError("faces: given ran the face detector")

    monkeypatch.setattr(faces_module.FaceSettings, "detect", never)
    monkeypatch.setattr(faces_module.FaceSettings, "detect_padded", never)
    given = FaceKey(FaceSettings(), SIZE, 4, "as_is", given=True)
    assert given.digest != KEY.digest  # its own cache
    empty = find_faces(record(crop_images, "empty.png", 0), given)
    assert empty.status == "ok" and empty.boxes.tolist() == [[20, 0, 140, 120]] and empty.chosen.all()
    assert empty.crops.shape == (1, SIZE, SIZE, 3)
    video = find_faces(record(two_person_video, "fake/two.mp4", 1), given)
    assert video.status == "ok" and len(video.frames) == 4 and video.every.all() and video.chosen.all()
    entry = {"name": "crops", "format": "folder", "root": str(crop_images), "faces": "given"}
    assert parse_params({"cross": [entry]}).cross[0].faces == "given"
