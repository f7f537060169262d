"""Face detection and box geometry (add.data.faces)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from skimage import data
from video_factory import background, face_patch, synth_frames

from add.data.faces import (
    Choice,
    Detection,
    FaceDetector,
    FaceSettings,
    assign_boxes,
    choose_faces,
    crop,
    face_crops,
    largest_first,
    outside_difference,
    rank_faces,
    square_box,
    thumbnail,
)

# Where dlib's frontal detector puts the astronaut's face in skimage.data.astronaut() (full resolution, upsample 0).
ASTRONAUT_FACE = Detection(179, 83, 267, 171, 1.5)


@functools.cache
def detector(threshold: float = 0.2, upsample: int = 0, max_side: int = 0) -> FaceDetector:
    return FaceDetector(threshold, upsample, max_side)  # building one loads dlib's model (~0.4 s): share them


def det(x0, y0, x1, y1, score=1.0) -> Detection:
    return Detection(float(x0), float(y0), float(x1), float(y1), score)


def iou(a: Detection, b: Detection) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    return inter / (a.area + b.area - inter)


# ------------------------------------------------------------------------------------------------- box geometry
@pytest.mark.parametrize("w,h", [(100, 100), (80, 120), (130, 70), (33, 47)])
def test_square_box_is_square_scaled_and_centred(w, h):
    d = det(300, 200, 300 + w, 200 + h)
    x0, y0, x1, y1 = square_box(d, 1000, 800, scale=1.3)
    side = x1 - x0
    assert y1 - y0 == side
    assert side == round(1.3 * max(w, h))
    cx, cy = d.centre
    assert abs((x0 + x1) / 2 - cx) <= 0.5 and abs((y0 + y1) / 2 - cy) <= 0.5
    assert x0 <= d.x0 and y0 <= d.y0 and x1 >= d.x1 and y1 >= d.y1  # 1.3x the face holds the whole face


@pytest.mark.parametrize("where", ["left", "top", "right", "bottom", "top-left", "bottom-right"])
def test_square_box_shifted_inside_the_frame_keeps_its_size(where):
    W, H = 320, 240
    x = {"left": 2, "right": W - 82}.get(where.split("-")[-1] if "-" in where else where, 120)
    y = {"top": 2, "bottom": H - 82}.get(where.split("-")[0] if "-" in where else where, 80)
    d = det(x, y, x + 80, y + 80)
    x0, y0, x1, y1 = square_box(d, W, H, scale=1.3)
    assert x1 - x0 == y1 - y0 == 104  # same size as in the middle of the frame
    assert 0 <= x0 and 0 <= y0 and x1 <= W and y1 <= H
    assert x0 <= d.x0 and y0 <= d.y0 and x1 >= d.x1 and y1 >= d.y1  # the face stays inside the crop


def test_square_box_larger_than_the_frame_becomes_the_largest_square():
    d = det(100, 40, 300, 240)  # 200 px face in a 320x240 frame: 1.3x = 260 > 240
    x0, y0, x1, y1 = square_box(d, 320, 240, scale=1.3)
    assert (y0, y1) == (0, 240) and x1 - x0 == 240
    assert 0 <= x0 and x1 <= 320
    assert abs((x0 + x1) / 2 - d.centre[0]) <= 0.5  # centred horizontally, where there is room


def test_square_box_in_a_portrait_frame():
    d = det(10, 300, 110, 400)
    x0, y0, x1, y1 = square_box(d, 120, 640, scale=1.5)
    assert x1 - x0 == y1 - y0 == 120 and (x0, x1) == (0, 120)
    assert y0 <= 300 and y1 >= 400


def test_crop_resizes_and_same_box_aligns_qualities():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    other = frame.copy()
    box = (50, 20, 250, 220)
    a, b = crop(frame, box, 128), crop(other, box, 128)
    assert a.shape == (128, 128, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    up = crop(frame, (0, 0, 64, 64), 128)  # enlarging
    assert up.shape == (128, 128, 3)
    assert np.array_equal(crop(frame, (10, 10, 138, 138), 128), frame[10:138, 10:138])  # no resize at equal size
    with pytest.raises(ValueError, match="not inside"):
        crop(frame, (300, 0, 340, 40), 128)


# ------------------------------------------------------------------------------------------------ face choosing
def test_largest_face_is_chosen():
    small, big = det(0, 0, 90, 90, 2.0), det(100, 100, 210, 210, 0.5)
    assert largest_first([small, big])[0] == big
    chosen = choose_faces({0: [small, big], 1: [det(100, 100, 200, 200)]})
    assert chosen[0].detection == big


def test_detection_inconsistent_with_the_video_is_rejected():
    faces = {i: [det(100 + i, 100, 200 + i, 200)] for i in range(6)}
    faces[3] = [det(10, 10, 30, 30, 3.0)]  # a tiny, confident blob: not this video's face
    faces[4] = [det(10, 10, 30, 30, 3.0), det(104, 100, 204, 200, 0.4)]  # the blob and the real face
    chosen = choose_faces(faces, size_tolerance=2.0)
    assert chosen[3].detection is None and "inconsistent" in chosen[3].reason and "20" in chosen[3].reason
    assert chosen[4].detection == det(104, 100, 204, 200, 0.4)
    assert all(chosen[i].detection == faces[i][0] for i in (0, 1, 2, 5))


def test_fallback_borrows_the_nearest_box_earlier_on_a_tie():
    a, b = det(100, 50, 200, 150, 1.1), det(140, 60, 240, 160, 0.9)
    chosen = {0: Choice(None, "no face detected"), 4: Choice(a), 8: Choice(None, "no face detected"),
              12: Choice(b), 15: Choice(None, "no face detected")}
    boxes = {fb.frame: fb for fb in assign_boxes(chosen, 320, 240, 1.3)}
    assert [fb.status for fb in boxes.values()] == ["fallback", "ok", "fallback", "ok", "fallback"]
    assert boxes[0].source == 4 and boxes[0].box == boxes[4].box
    assert boxes[8].source == 4 and boxes[8].box == boxes[4].box  # 4 and 12 are both 4 away: the earlier one
    assert boxes[15].source == 12 and boxes[15].box == boxes[12].box and boxes[15].score == 0.9
    assert "box of frame 12" in boxes[15].reason and "no face detected" in boxes[15].reason
    assert boxes[4].reason == "" and boxes[4].source == 4


def test_no_face_anywhere_gives_no_boxes():
    assert assign_boxes(choose_faces({0: [], 5: []}), 320, 240) is None


# ----------------------------------------------------------------------------------------------------- detector
def test_detector_finds_the_astronaut():
    found = detector(0.2)(data.astronaut())
    assert len(found) == 1
    assert iou(found[0], ASTRONAUT_FACE) > 0.8 and found[0].score > 1.0


def test_score_threshold_rejects_a_false_positive():
    # With upsampling, dlib also fires (score ~0.1) on the round mission patch of her suit: not a face.
    loose = detector(-0.3, upsample=1)(data.astronaut())
    strict = detector(0.2, upsample=1)(data.astronaut())
    assert len(loose) >= 2
    assert len(strict) == 1 and iou(strict[0], ASTRONAUT_FACE) > 0.6
    assert all(iou(d, ASTRONAUT_FACE) == 0 for d in loose if d.score < 0.2)


def test_downscaled_detection_maps_back_to_full_resolution():
    image = np.ascontiguousarray(np.repeat(np.repeat(data.astronaut(), 2, axis=0), 2, axis=1))  # 1024x1024
    full = detector(0.2)(image)
    small = detector(0.2, max_side=512)(image)
    assert len(small) == 1 and len(full) >= 1
    doubled = Detection(*(2 * v for v in (179, 83, 267, 171)), 1.5)
    assert iou(small[0], doubled) > 0.8 and iou(small[0], full[0]) > 0.6


@pytest.mark.parametrize("face", ["astronaut", 0, 5, 42])
def test_detector_finds_factory_faces_and_nothing_in_backgrounds(face):
    frame = background(320, 240, seed=3)
    frame[60:180, 100:220] = face_patch(face, 120)
    found = detector(0.2)(frame)
    assert len(found) == 1 and iou(found[0], det(100, 60, 220, 180)) > 0.3
    assert detector(0.2, upsample=1)(background(320, 240, seed=3)) == []


# ----------------------------------------------------------------------------------------------------- pipeline
def test_face_crops_streams_once_and_rereads_only_borrowed_frames():
    frames = list(synth_frames(8, face="astronaut", no_face={2, 4}))
    reads, seen = [], []

    def read(wanted):
        reads.append(list(wanted))
        for i in wanted:
            yield i, frames[i]

    settings = FaceSettings()
    boxes, crops = face_crops(read, [0, 2, 4, 7], 320, 240, settings, lambda f, b: crop(f, b, 32),
                              seen=lambda i, f: seen.append(i))
    assert reads == [[0, 2, 4, 7], [2, 4]] and seen == [0, 2, 4, 7]
    assert [(b.frame, b.status, b.source) for b in boxes] == [(0, "ok", 0), (2, "fallback", 0), (4, "fallback", 7),
                                                              (7, "ok", 7)]
    for b in boxes:  # each frame cut with its own box, fallback frames with their source's box
        assert np.array_equal(crops[b.frame], crop(frames[b.frame], b.box, 32))
        assert b.box == square_box(settings.detect(frames[b.source])[0], 320, 240, 1.3)
    assert face_crops(read, [2, 4], 320, 240, settings, lambda f, b: 0) is None


def test_face_settings_from_params():
    assert FaceSettings.from_params({}) == FaceSettings(0.2, 0, 640, 2.0, 1.3)
    assert FaceSettings.from_params({"data": {"box_scale": 1.5, "detect_max_side": 0}}).box_scale == 1.5
    for bad in ({"detect_max_side": 10}, {"box_scale": 0.5}, {"detect_upsample": 9}):
        with pytest.raises(ValueError, match=f"data.{next(iter(bad))}"):
            FaceSettings.from_params({"data": bad})


# ---------------------------------------------------------------------------------------------------- alignment
def test_thumbnail_is_the_mean_grey_of_each_cell():
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:, 160:] = 200
    thumb = thumbnail(frame, width=32)
    assert thumb.shape == (24, 32) and thumb.dtype == np.uint8
    assert (thumb[:, :16] == 0).all() and (thumb[:, 16:] == 200).all()
    assert thumbnail(frame[:10, :20], width=48).shape == (10, 20)  # never more cells than pixels


def test_outside_difference_ignores_the_box_and_sees_the_rest():
    yy, xx = np.mgrid[:240, :320]
    frame = np.repeat((((yy // 16 + xx // 16) % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)  # 16 px checks
    box = (100, 60, 196, 156)
    inside = frame.copy()
    inside[60:156, 100:196] = 255 - inside[60:156, 100:196]  # a new face: changes only inside the box
    mean, worst, compared = outside_difference(thumbnail(frame), thumbnail(inside), box, 320, 240)
    assert mean == worst == 0 and 0.7 < compared < 0.95
    shifted = np.roll(frame, 8, axis=1)  # another frame of a panning camera: differs everywhere
    mean, worst, _ = outside_difference(thumbnail(frame), thumbnail(shifted), box, 320, 240)
    assert mean > 10 and worst > 50
    corner = frame.copy()
    corner[:20, :20] = 0  # a small change far from the face
    assert outside_difference(thumbnail(frame), thumbnail(corner), box, 320, 240)[1] > 50
    mean, worst, compared = outside_difference(thumbnail(frame), thumbnail(shifted), (0, 0, 320, 240), 320, 240)
    assert compared == 0 and np.isnan(mean) and np.isnan(worst)
    with pytest.raises(ValueError, match="one shape"):
        outside_difference(thumbnail(frame), thumbnail(frame[:120]), box, 320, 240)


# -------------------------------------------------------------------------------------------- ranking and retry
def test_of_two_equal_size_detections_the_higher_score_is_taken():
    # float noise in the areas (as dlib's rescaled windows have) must not decide: the score does
    badge = Detection(10.0, 10.0, 107.40852, 107.40852, 0.29)
    face = Detection(150.0, 40.0, 247.40851999999998, 137.40851999999998, 1.64)
    assert badge.area > face.area
    assert rank_faces([badge, face])[0] == face and rank_faces([face, badge])[0] == face
    assert choose_faces({0: [badge, face], 1: [face]})[0].detection == face
    clearly_bigger = det(0, 0, 130, 130, 0.3)  # more than 10 % larger: size still decides
    assert rank_faces([face, clearly_bigger])[0] == clearly_bigger


def test_small_face_retry_is_bounded_to_twice_the_first_pass():
    frame = background(2560, 1440, seed=3)
    frame[500:900, 1000:1400] = face_patch("astronaut", 400)  # a ~195 px face: ~49 px at 640, too small for dlib
    settings = FaceSettings()
    assert detector(0.2, 0, 640)(frame) == []
    found = settings.detect(frame)  # retried at 1280 px, never at the full 2560
    assert len(found) == 1 and 1000 < found[0].centre[0] < 1400 and 500 < found[0].centre[1] < 900
    from add.data import faces as faces_module
    assert (0.2, 0, 1280, True) in faces_module._DETECTORS and (0.2, 1, 0, False) not in faces_module._DETECTORS


def test_frame_boxes_say_detected_or_borrowed():
    chosen = {0: Choice(None, "no face detected"), 4: Choice(det(100, 50, 200, 150))}
    boxes = assign_boxes(chosen, 320, 240)
    assert [(b.frame, b.detected, b.source) for b in boxes] == [(0, False, 4), (4, True, 4)]


@pytest.mark.parametrize("scale", [0.8, 0.7])
def test_a_tight_face_crop_missed_at_full_size_is_found_padded(scale):
    from video_factory import tight_face_crop

    from add.data.faces import given_crops

    image = tight_face_crop(scale)
    settings = FaceSettings()
    assert settings.detect(image) == []  # what made 11 of 40 DFDC face crops no_face
    found = settings.detect_padded(image)
    assert found and found[0].score >= settings.threshold
    cx, cy = found[0].centre
    assert abs(cx - 112) < 30 and abs(cy - 112) < 30  # mapped back into the crop's own pixels
    boxes, crops = face_crops(lambda wanted: ((i, image) for i in wanted), [0], 224, 224, settings,
                              lambda frame, box: crop(frame, box, 64), detect=settings.detect_padded)
    assert boxes[0].box == (0, 0, 224, 224) and crops[0].shape == (64, 64, 3)  # the face fills the whole crop
    # given: no detection at all, the centred square of each frame (the whole image when square)
    wide = np.zeros((100, 160, 3), np.uint8)
    boxes, crops = given_crops(lambda wanted: ((i, wide) for i in wanted), [0, 3], 160, 100,
                               lambda frame, box: crop(frame, box, 32))
    assert [(b.frame, b.box, b.status, b.detected) for b in boxes] == [(0, (30, 0, 130, 100), "given", False),
                                                                      (3, (30, 0, 130, 100), "given", False)]


def test_padding_finds_nothing_in_a_background():
    for seed in range(3):
        assert FaceSettings().detect_padded(background(224, 224, seed=seed)) == []
