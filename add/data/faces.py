"""Face detection (dlib's HOG frontal detector) and the geometry of the face crop.

Boxes are integer pixel boxes ``(x0, y0, x1, y1)``, half-open: the crop is ``frame[y0:y1, x0:x1]``.

Rules (docs/architecture.md, issue 3), all pure functions here so that they can be tested alone:

* **Detection** runs on the raw (upright) frame, optionally downscaled so its longer side is at most ``max_side``
  (the detection is mapped back to full-frame coordinates). dlib's ``run(img, upsample, adjust_threshold)`` returns
  every window whose SVM score is at least the threshold.
* **Small faces, at a bounded cost**: a frame where that pass finds nothing is searched once more at twice its
  resolution — the frame resized so its longer side is twice what the first pass saw (at most ``2 * max_side``) —
  which finds faces down to half the size
  (about 1/16 of the frame's longer side instead of 1/8). Only frames without a face pay for it, and it costs the
  same on a 4K frame or a 12000x8000 photo as on a 720p one (``max_side`` 0, full resolution, retries with one more
  level of dlib upsampling instead).
* **False positives** are avoided twice: a score threshold (dlib's own decision boundary is 0; real frontal faces
  score ~0.3-2.5, while the false hits we saw on textured backgrounds score below ~0.15), and consistency
  inside the video: a detection whose size differs from the median size of the video's faces by more than
  ``size_tolerance`` times (a patch of background, a face on a poster) is rejected (:func:`choose_faces`).
* **The face** of a frame is ranked first by :func:`rank_faces`: the largest detection by side, except that among
  detections whose side is within ``NEAR_TIE`` (10 %) of the largest, the one with the highest score wins. dlib
  finds windows on a pyramid of scales 1.2x apart, so two windows of one level have equal sides up to float noise;
  their order must come from how face-like they are (a badge scoring 0.3 next to a face scoring 1.6), never from
  that noise. Extraction and ``add predict`` both use this rule.
* **The box** is a square of side ``scale * max(w, h)`` around the detection's centre (:func:`square_box`). A
  square that sticks out of the frame is *shifted* back inside, keeping its size (the face is then off-centre
  in the crop but at the same scale as every other crop); a square larger than the frame's shorter side is
  reduced to that side (the largest square that fits), centred on the face as far as the frame allows.
  The result is always square and inside the frame.
* **Frames without a face** borrow the box of the nearest frame (by index; the earlier one on a tie) that has
  one (:func:`assign_boxes`); their :class:`FrameBox` has status ``fallback`` (``detected`` is False) and names its
  ``source`` frame. A video with no face at all has no boxes and is dropped by the caller.
* **Face crops given as images** (DFDC's face sets): dlib misses a face that fills the whole image (its window needs
  a margin around the face). An *image* (not a video frame) where nothing is found is searched once more padded by
  ``PAD_FRACTION`` of its longer side on every side with its mean colour (:meth:`FaceSettings.detect_padded`), the
  detections mapped back into the image; only then is it faceless. When the inputs are known to be face crops
  (``add predict --crops``, a cross entry's ``faces: given``) nothing is detected: :func:`given_crops` takes each
  frame's largest centred square (the whole frame when square), cut as a detected face's box is.
* **The pipeline** that applies these rules to a stream of sampled frames is :func:`face_crops`, with the settings
  of :class:`FaceSettings`: extraction (``add extract``) and inference (``add predict``) both call it, so a model
  sees at inference exactly the crops it was trained on.
* **Alignment** of two videos of the same footage (a fake and its original): :func:`thumbnail` keeps a small grey
  image of a frame (each value the mean of a cell); :func:`outside_difference` compares two thumbnails only in the
  cells that lie wholly outside a box grown by one cell, where a face manipulation leaves the footage untouched.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import cv2
import numpy as np

from add.core.params import Params, as_params

Box = tuple[int, int, int, int]
Item = TypeVar("Item")  # what a frame stream yields per frame: a frame, or the frames of several qualities
Crop = TypeVar("Crop")  # what the caller makes of a box in a frame: a crop, the PNG futures of its qualities


@dataclass(frozen=True)
class Detection:
    """One dlib detection in full-frame pixel coordinates (float, half-open) with its SVM score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def side(self) -> float:
        return max(self.width, self.height)

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


class FaceDetector:
    """dlib's frontal face detector with the project's threshold, upsampling and working resolution.

    ``max_side`` > 0 detects on a copy of the frame downscaled (INTER_AREA) so that its longer side is at most
    ``max_side`` pixels — HOG time grows with the pixel count — and scales the boxes back; 0 keeps full
    resolution. Each process creates its own detector (dlib objects are not shared across processes).
    """

    def __init__(self, threshold: float = 0.0, upsample: int = 0, max_side: int = 0, exact: bool = False):
        import dlib

        if upsample < 0 or max_side < 0:
            raise ValueError(f"upsample and max_side must be >= 0, got {upsample}, {max_side}")
        self.threshold = float(threshold)
        self.upsample = int(upsample)
        self.max_side = int(max_side)
        self.exact = bool(exact)  # resize to exactly max_side, enlarging a smaller frame too
        self._dlib = dlib.get_frontal_face_detector()

    def __call__(self, rgb: np.ndarray) -> list[Detection]:
        """All detections with score >= threshold in an RGB uint8 frame, ranked by :func:`rank_faces`."""
        h, w = rgb.shape[:2]
        factor = 1.0
        image = rgb
        if self.max_side and (max(h, w) > self.max_side or (self.exact and max(h, w) < self.max_side)):
            factor = self.max_side / max(h, w)
            size = (max(1, round(w * factor)), max(1, round(h * factor)))
            image = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
            factor = size[0] / w  # the factor actually applied (after rounding), x and y alike to < 1 px
        rects, scores, _ = self._dlib.run(np.ascontiguousarray(image), self.upsample, self.threshold)
        found = []
        for rect, score in zip(rects, scores, strict=True):
            # dlib rectangles are inclusive; +1 makes them half-open before scaling back.
            x0, y0 = rect.left() / factor, rect.top() / factor
            x1, y1 = (rect.right() + 1) / factor, (rect.bottom() + 1) / factor
            if x1 > x0 and y1 > y0:
                found.append(Detection(float(x0), float(y0), float(x1), float(y1), float(score)))
        return rank_faces(found)


NEAR_TIE = 0.9  # sides within 10 % of the largest remaining detection count as the same size


def rank_faces(detections: Sequence[Detection]) -> list[Detection]:
    """Detections best first: repeatedly, among the remaining detections whose side is at least ``NEAR_TIE`` times
    the largest remaining side, the highest score (then the largest, then top-left) comes next. So size decides,
    and score decides between near-equal sizes; the order is a pure function of the set."""
    remaining = sorted(detections, key=lambda d: (-d.side, -d.score, d.y0, d.x0))
    ranked = []
    while remaining:
        top = remaining[0].side
        near = [d for d in remaining if d.side >= NEAR_TIE * top]
        best = max(near, key=lambda d: (d.score, d.side, -d.y0, -d.x0))
        ranked.append(best)
        remaining.remove(best)
    return ranked


largest_first = rank_faces  # the former name, kept for callers


def square_box(det: Detection, frame_width: int, frame_height: int, scale: float = 1.3) -> Box:
    """The square crop box of side ``scale * max(w, h)`` around ``det``'s centre, inside the frame.

    Clipping keeps the box square: the square is shifted back inside the frame, and reduced to the frame's
    shorter side only when it is larger than that.
    """
    if frame_width < 1 or frame_height < 1:
        raise ValueError(f"frame size must be positive, got {frame_width}x{frame_height}")
    side = int(round(scale * det.side))
    side = max(1, min(side, frame_width, frame_height))
    cx, cy = det.centre
    x0 = min(max(int(math.floor(cx - side / 2 + 0.5)), 0), frame_width - side)
    y0 = min(max(int(math.floor(cy - side / 2 + 0.5)), 0), frame_height - side)
    return x0, y0, x0 + side, y0 + side


def crop(frame: np.ndarray, box: Box, size: int) -> np.ndarray:
    """``frame[box]`` resized to ``size`` x ``size``: INTER_AREA when shrinking (no aliasing), INTER_LINEAR
    when enlarging. A pure function of (frame, box, size), so one box gives pixel-aligned crops of every quality."""
    x0, y0, x1, y1 = box
    h, w = frame.shape[:2]
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise ValueError(f"box {box} is not inside the {w}x{h} frame")
    region = frame[y0:y1, x0:x1]
    side = x1 - x0
    if side == size and y1 - y0 == size:
        return region.copy()  # a copy, never a view that would keep the whole frame alive
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(region, (size, size), interpolation=interpolation)


@dataclass(frozen=True)
class Choice:
    """The face chosen in one frame (None when there is none) and, if none, why."""

    detection: Detection | None
    reason: str = ""


def choose_faces(candidates: Mapping[int, Sequence[Detection]], size_tolerance: float = 2.0) -> dict[int, Choice]:
    """Pick each frame's face among its thresholded detections, consistently with the rest of the video.

    The reference size is the median ``side`` of every frame's first-ranked detection; a detection whose side is
    more than ``size_tolerance`` times larger or smaller than that is rejected. The face of a frame is its
    first-ranked remaining detection (:func:`rank_faces`).
    """
    if size_tolerance < 1:
        raise ValueError(f"size_tolerance must be >= 1, got {size_tolerance}")
    largest = [rank_faces(dets)[0].side for dets in candidates.values() if dets]
    if not largest:
        return {f: Choice(None, "no face detected") for f in candidates}
    reference = float(np.median(largest))
    chosen = {}
    for frame, dets in candidates.items():
        if not dets:
            chosen[frame] = Choice(None, "no face detected")
            continue
        kept = [d for d in dets if reference / size_tolerance <= d.side <= reference * size_tolerance]
        if kept:
            chosen[frame] = Choice(rank_faces(kept)[0])
        else:
            sides = ", ".join(f"{d.side:.0f}" for d in rank_faces(dets))
            chosen[frame] = Choice(None, f"detections rejected as inconsistent with the video (side {sides} px vs "
                                         f"median {reference:.0f} px, tolerance x{size_tolerance:g})")
    return chosen


@dataclass(frozen=True)
class FrameBox:
    """The final decision for one frame: its box, the score of the detection it came from, status, reason."""

    frame: int
    box: Box
    score: float
    status: str  # "ok" | "fallback" | "given" (given_crops: the frame is the face)
    reason: str = ""
    source: int = -1  # the frame whose detection gave the box

    @property
    def detected(self) -> bool:
        """True when this frame's own face gave the box; False when it borrowed a neighbour's (``fallback``)."""
        return self.status == "ok"


def assign_boxes(chosen: Mapping[int, Choice], frame_width: int, frame_height: int,
                 scale: float = 1.3) -> list[FrameBox] | None:
    """Boxes for every frame in ``chosen`` (sorted by frame); frames without a face borrow the box of the nearest
    frame with one (the earlier on a tie). None when no frame has a face."""
    with_face = sorted(f for f, c in chosen.items() if c.detection is not None)
    if not with_face:
        return None
    out = []
    for frame in sorted(chosen):
        choice = chosen[frame]
        if choice.detection is not None:
            box = square_box(choice.detection, frame_width, frame_height, scale)
            out.append(FrameBox(frame, box, choice.detection.score, "ok", "", frame))
            continue
        source = min(with_face, key=lambda f: (abs(f - frame), f))
        det = chosen[source].detection
        box = square_box(det, frame_width, frame_height, scale)
        out.append(FrameBox(frame, box, det.score, "fallback",
                            f"{choice.reason}; box of frame {source} (score {det.score:.2f})", source))
    return out


THUMB_WIDTH = 48  # cells across a thumbnail: 18 px cells at 854x480, 40 px at 1920x1080


def thumbnail(rgb: np.ndarray, width: int = THUMB_WIDTH) -> np.ndarray:
    """A grey uint8 thumbnail ``width`` cells wide (height in proportion): each value is the mean of its cell."""
    h, w = rgb.shape[:2]
    gw = max(1, min(width, w))
    gh = max(1, round(h * gw / w))
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (gw, gh), interpolation=cv2.INTER_AREA)


def outside_difference(a: np.ndarray, b: np.ndarray, box: Box, frame_width: int, frame_height: int
                       ) -> tuple[float, float, float]:
    """Compare two thumbnails of ``frame_width`` x ``frame_height`` frames outside ``box``.

    Returns (mean, max) absolute grey difference over the cells wholly outside ``box`` grown by one cell (cells
    that a shrunk pixel of the box may have touched are never compared), and the fraction of cells compared
    (0 when the box covers the frame: nothing to compare, the mean and max are then NaN).
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"thumbnails must be 2-D and of one shape, got {a.shape} and {b.shape}")
    gh, gw = a.shape
    sx, sy = frame_width / gw, frame_height / gh  # frame pixels per cell
    x0, y0, x1, y1 = box
    c0, c1 = max(0, math.floor(x0 / sx) - 1), min(gw, math.ceil(x1 / sx) + 1)
    r0, r1 = max(0, math.floor(y0 / sy) - 1), min(gh, math.ceil(y1 / sy) + 1)
    outside = np.ones((gh, gw), bool)
    outside[r0:r1, c0:c1] = False
    if not outside.any():
        return math.nan, math.nan, 0.0
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))[outside]
    return float(diff.mean()), float(diff.max()), float(outside.mean())


# ---------------------------------------------------------------------------------------------------- pipeline
@dataclass(frozen=True)
class FaceSettings:
    """How faces are found and framed (the extraction's ``data.detect_*`` and ``data.box_scale``; a checkpoint's
    model card carries them so that inference frames faces as training did)."""

    threshold: float = 0.2
    upsample: int = 0
    max_side: int = 640
    size_tolerance: float = 2.0
    box_scale: float = 1.3

    @classmethod
    def from_params(cls, params: Params | Mapping[str, Any]) -> FaceSettings:
        """``data.detect_threshold``, ``data.detect_upsample``, ``data.detect_max_side``,
        ``data.detect_size_tolerance`` and ``data.box_scale`` (validated by :class:`add.core.params.Data`)."""
        data = as_params(params).data
        return cls(data.detect_threshold, data.detect_upsample, data.detect_max_side, data.detect_size_tolerance,
                   data.box_scale)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """The frame's detections, best first (:func:`rank_faces`). A frame where nothing is found at ``max_side``
        is searched once more at twice the first pass's resolution (the frame resized to a longer side of twice
        ``min(max_side, longer side)``: faces down to half the size, at a cost that does not grow past that of a
        ``2 * max_side`` frame however large the input); with
        ``max_side`` 0, at full resolution with one more level of upsampling."""
        found = detector(self.threshold, self.upsample, self.max_side)(rgb)
        if found:
            return found
        if self.max_side:
            first = min(self.max_side, max(rgb.shape[:2]))  # the longer side the first pass saw
            return detector(self.threshold, self.upsample, 2 * first, exact=True)(rgb)
        return detector(self.threshold, self.upsample + 1, 0)(rgb)


    def detect_padded(self, rgb: np.ndarray) -> list[Detection]:
        """:meth:`detect` on ``rgb`` inside a border of ``PAD_FRACTION`` x its longer side (its mean colour), the
        detections in ``rgb``'s own coordinates (they may reach outside it: :func:`square_box` keeps the box inside);
        one whose centre falls in the border is dropped. An image larger than ``2 * max_side`` (the most
        :meth:`detect` looks at) is shrunk to that first, so a huge photo is never padded at full size."""
        h, w = rgb.shape[:2]
        factor = 1.0
        if self.max_side and max(h, w) > 2 * self.max_side:
            size = (max(1, round(w * 2 * self.max_side / max(h, w))), max(1, round(h * 2 * self.max_side / max(h, w))))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            factor = size[0] / w
        pad = max(1, round(PAD_FRACTION * max(rgb.shape[:2])))
        colour = [float(v) for v in rgb.reshape(-1, rgb.shape[2]).mean(axis=0)]
        padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=colour)
        found = [Detection((d.x0 - pad) / factor, (d.y0 - pad) / factor, (d.x1 - pad) / factor, (d.y1 - pad) / factor,
                           d.score) for d in self.detect(padded)]
        return [d for d in found if 0 <= d.centre[0] < w and 0 <= d.centre[1] < h]


# A tight face crop padded by this fraction of its longer side, with its mean colour, is found where the crop alone
# is not: measured on crops of the astronaut's face 0.6-0.8x dlib's box and on LFW faces, a constant border found
# more than a reflected or replicated one, and 0.4 more than 0.25 (tests/test_faces.py keeps one such crop).
PAD_FRACTION = 0.4

_DETECTORS: dict[tuple[float, int, int, bool], FaceDetector] = {}


def detector(threshold: float, upsample: int, max_side: int, exact: bool = False) -> FaceDetector:
    """This process's detector with these settings (building one loads dlib's model: ~0.4 s)."""
    key = (float(threshold), int(upsample), int(max_side), bool(exact))
    if key not in _DETECTORS:
        _DETECTORS[key] = FaceDetector(*key)
    return _DETECTORS[key]


def face_crops(read: Callable[[list[int]], Iterator[tuple[int, Item]]], indices: Sequence[int], width: int,
               height: int, settings: FaceSettings, cut: Callable[[Item, Box], Crop], *,
               image: Callable[[Item], np.ndarray] | None = None,
               seen: Callable[[int, Item], Any] | None = None,
               detect: Callable[[np.ndarray], list[Detection]] | None = None
               ) -> tuple[list[FrameBox], dict[int, Crop]] | None:
    """The face of every sampled frame of one video: its :class:`FrameBox` and what ``cut`` made of it.

    ``read(indices)`` streams ``(index, item)`` for the sorted ``indices`` (one decoding pass); ``image(item)`` is
    the RGB frame detection runs on (default: the item itself); ``seen(index, item)`` is called on each item as it
    streams by; ``detect(frame)`` finds the detections (default: ``settings.detect``). Every frame is detected as it
    streams by and ``cut(item, box)`` is called at once for the square box
    of each of its detections (frames are never held), then the rules of this module choose each frame's face
    (:func:`choose_faces`, :func:`assign_boxes`). Frames that borrow another frame's box are read a second time (only
    those) and cut there. Returns ``(boxes sorted by frame, {frame: crop})``, or None when no frame has a face.
    """
    image = image or (lambda item: item)
    detect = detect or settings.detect
    candidates: dict[int, list[Detection]] = {}
    cuts: dict[tuple[int, Box], Crop] = {}
    with _closing(read(list(indices))) as stream:
        for index, item in stream:
            frame = image(item)
            detections = detect(frame)
            candidates[index] = detections
            if seen is not None:
                seen(index, item)
            for det in detections:
                box = square_box(det, width, height, settings.box_scale)
                if (index, box) not in cuts:  # a crop per candidate, never the frame
                    cuts[(index, box)] = cut(item, box)
    boxes = assign_boxes(choose_faces(candidates, settings.size_tolerance), width, height, settings.box_scale)
    if boxes is None:
        return None
    crops: dict[int, Crop] = {}
    borrowed: dict[int, Box] = {}
    for b in boxes:
        if (b.frame, b.box) in cuts:
            crops[b.frame] = cuts[(b.frame, b.box)]
        else:
            borrowed[b.frame] = b.box  # a fallback frame: its box comes from another frame
    del cuts
    if borrowed:
        with _closing(read(sorted(borrowed))) as stream:
            for index, item in stream:
                crops[index] = cut(item, borrowed[index])
                if len(crops) == len(boxes):
                    break  # the first pass checked the whole stream: stop decoding after the last one needed
    return boxes, crops


def centred_square(width: int, height: int) -> Box:
    """The largest square centred in a ``width`` x ``height`` frame (the frame itself when square)."""
    side = min(width, height)
    x0, y0 = (width - side) // 2, (height - side) // 2
    return x0, y0, x0 + side, y0 + side


def given_crops(read: Callable[[list[int]], Iterator[tuple[int, Item]]], indices: Sequence[int], width: int,
                height: int, cut: Callable[[Item, Box], Crop]) -> tuple[list[FrameBox], dict[int, Crop]] | None:
    """Frames that are face crops already: no detection, each decoded frame's box is :func:`centred_square`
    (status ``given``, score NaN). Returns what :func:`face_crops` returns; None when no frame decoded."""
    box = centred_square(width, height)
    crops: dict[int, Crop] = {}
    with _closing(read(list(indices))) as stream:
        for index, item in stream:
            crops[index] = cut(item, box)
    if not crops:
        return None
    return [FrameBox(i, box, math.nan, "given", "", i) for i in sorted(crops)], crops


@contextlib.contextmanager
def _closing(stream: Iterator[Any]) -> Iterator[Iterator[Any]]:
    """Close a generator when the loop over it ends early (stops its decoder); plain iterators need nothing."""
    try:
        yield stream
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
