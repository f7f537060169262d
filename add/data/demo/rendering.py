"""Rendering the demo's videos: face photos, subjects, procedural rooms, moving scenes and a fake's frames.

Originals are short videos of real face photos that ship with scikit-image (see :mod:`add.data.demo`); a fake
replays its target's scene frame for frame and changes only the inner face region: the renderer warps a swap's
source face to the target's pose and lights it as the target is lit, the rest of the process is
:mod:`.manipulations`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from add.data.demo import manipulations as manip

LFW_FACES = 100  # lfw_subset(): arrays 0-99 are faces, 100-199 are non-faces
ASTRONAUT = LFW_FACES  # identity index of the astronaut photo
N_IDENTITIES = LFW_FACES + 1
# Square crop of astronaut() around the face, framed like the LFW crops (face fills ~86% of the side).
ASTRONAUT_CROP = (162, 59, 280, 177)
# Regions of astronaut() without a face, used as posters on the demo's walls (x0, y0, x1, y1).
POSTER_CROPS = ((0, 0, 100, 300), (350, 0, 480, 280), (280, 340, 512, 512), (30, 300, 280, 512))
SKIN_TONES = ((1.0, 0.80, 0.68), (0.98, 0.78, 0.62), (0.92, 0.70, 0.55), (0.80, 0.60, 0.45), (1.0, 0.86, 0.76),
              (0.70, 0.52, 0.40))
FURNITURE = ((0.45, 0.30, 0.18), (0.30, 0.20, 0.12), (0.55, 0.52, 0.48), (0.25, 0.25, 0.27), (0.70, 0.62, 0.50),
             (0.20, 0.28, 0.35))
CLOTHES = ((0.12, 0.14, 0.22), (0.25, 0.25, 0.25), (0.55, 0.55, 0.58), (0.45, 0.10, 0.10), (0.15, 0.30, 0.45),
           (0.80, 0.80, 0.78), (0.30, 0.35, 0.20))
HAIR_COLOURS = ((0.08, 0.06, 0.05), (0.20, 0.13, 0.08), (0.35, 0.24, 0.14), (0.55, 0.45, 0.30), (0.45, 0.45, 0.45))
MIN_SIDE = 240  # smallest frame side: the head is at least 100 px so dlib can find it
MIN_FACE = 100
DETECT_THRESHOLD = 0.6  # dlib score an identity needs in the reference rendering to be used
# Std of the fine skin texture on every face and of the background's grain (fraction of full scale). Faint on purpose
# (issue 28's calibration): at 3-6 levels c40 erased it from originals and fakes alike, and the raw teacher's stride-8
# features, tuned to it, moved further under c40 than an ImageNet network's (feature reachability 1.3-1.5).
SKIN_GRAIN = 0.5 / 255
BACKGROUND_GRAIN = 0.5 / 255


# ---------------------------------------------------------------------------------------------------- photos


@functools.cache
def _lfw() -> np.ndarray:
    import skimage.data

    return skimage.data.lfw_subset()[:LFW_FACES].astype(np.float32)


@functools.cache
def _astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut().astype(np.float32) / 255


def identity_name(identity: int) -> str:
    return "astronaut" if identity == ASTRONAUT else f"lfw_subset[{identity}]"


def identity_photo(identity: int) -> np.ndarray:
    """The face photo of an identity, float32 RGB in [0, 1]: a tinted LFW face or the astronaut's face crop."""
    if identity == ASTRONAUT:
        x0, y0, x1, y1 = ASTRONAUT_CROP
        return _astronaut()[y0:y1, x0:x1]
    if not 0 <= identity < LFW_FACES:
        raise ValueError(f"identity {identity} out of range 0..{N_IDENTITIES - 1}")
    grey = _lfw()[identity]
    tone = np.asarray(SKIN_TONES[manip.rng_for(0, "tone", identity).integers(len(SKIN_TONES))], np.float32)
    tone = tone / float(tone @ np.array([0.299, 0.587, 0.114], np.float32))
    return np.clip(grey[..., None] * tone, 0, 1)


def face_patch(identity: int, size: int) -> np.ndarray:
    """The identity's face at ``size``×``size`` with a fixed, faint skin texture (``SKIN_GRAIN``), float32 RGB in
    [0, 1]."""
    face = cv2.resize(identity_photo(identity), (size, size), interpolation=cv2.INTER_CUBIC)
    rng = manip.rng_for(0, "skin", identity, size)
    grain = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 0.7)
    grain *= SKIN_GRAIN / max(float(grain.std()), 1e-6)
    return np.clip(face + grain[..., None], 0, 1)


# ---------------------------------------------------------------------------------------------------- subject


def _ellipse_mask(shape: tuple[int, int], centre: tuple[float, float], axes: tuple[float, float]) -> np.ndarray:
    """Anti-aliased filled ellipse, float32 in [0, 1] (cv2 draws at 1/16 px precision)."""
    canvas = np.zeros(shape, np.uint8)
    shift = 4
    c = (round(centre[0] * 16), round(centre[1] * 16))
    a = (round(axes[0] * 16), round(axes[1] * 16))
    cv2.ellipse(canvas, c, a, 0, 0, 360, 255, -1, cv2.LINE_AA, shift)
    return canvas.astype(np.float32) / 255


@dataclass
class Subject:
    """A person as a layer: premultiplied RGB, alpha and the inner-face masks, in layer coordinates.

    The face patch (S×S) sits at ``face_origin``; ``head_centre`` is the patch centre, the pivot of the motion.
    """

    colour: np.ndarray  # H×W×3 premultiplied
    alpha: np.ndarray  # H×W
    inner_hard: np.ndarray  # H×W, the manipulated region with a ~1 px edge
    inner_soft: np.ndarray  # H×W, the same region feathered
    face_origin: tuple[float, float]  # (x, y) of the face patch's top-left corner
    head_centre: tuple[float, float]
    size: int  # S


def inner_face(size: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Centre and semi-axes of the manipulated region in face-patch coordinates: brows to chin, cheek to cheek."""
    return (0.5 * size, 0.56 * size), (0.36 * size, 0.42 * size)


def make_subject(identity: int, size: int, rng: np.random.Generator) -> Subject:
    s = size
    h, w = round(2.0 * s), round(2.2 * s)
    fx, fy = 0.6 * s, 0.1 * s  # face patch origin
    hx, hy = fx + 0.5 * s, fy + 0.5 * s
    face = face_patch(identity, s)
    skin = np.median(face[s // 3: 2 * s // 3, s // 3: 2 * s // 3].reshape(-1, 3), axis=0) * 0.9
    hair = np.asarray(HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], np.float32)
    cloth = np.asarray(CLOTHES[rng.integers(len(CLOTHES))], np.float32) * rng.uniform(0.8, 1.15)

    colour = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)

    def paint(mask: np.ndarray, rgb: np.ndarray) -> None:
        m = mask[..., None]
        colour[:] = colour * (1 - m) + rgb * m
        alpha[:] = alpha * (1 - mask) + mask

    def textured(rgb: np.ndarray, amp: float, sx: float, sy: float) -> np.ndarray:
        noise = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), sigmaX=sx, sigmaY=sy)
        noise *= amp / max(float(noise.std()), 1e-6)
        return np.clip(rgb + noise[..., None], 0, 1)

    body = _ellipse_mask((h, w), (hx, 1.78 * s), (0.98 * s, 0.62 * s))
    paint(body, textured(cloth, 0.015, 1.2, 1.2))
    neck = np.zeros((h, w), np.float32)
    cv2.rectangle(neck, (round(hx - 0.2 * s), round(0.85 * s)), (round(hx + 0.2 * s), round(1.3 * s)), 1.0, -1)
    paint(cv2.GaussianBlur(neck, (0, 0), 1.5), textured(skin, 0.01, 0.8, 0.8))
    paint(_ellipse_mask((h, w), (hx, hy - 0.08 * s), (0.56 * s, 0.64 * s)), textured(hair, 0.03, 0.5, 3.0))
    face_alpha = cv2.GaussianBlur(_ellipse_mask((s, s), (0.5 * s, 0.54 * s), (0.44 * s, 0.5 * s)), (0, 0),
                                  0.03 * s)
    x0, y0 = round(fx), round(fy)
    face_layer = np.zeros((h, w), np.float32)
    face_layer[y0:y0 + s, x0:x0 + s] = face_alpha
    face_rgb = np.zeros((h, w, 3), np.float32)
    face_rgb[y0:y0 + s, x0:x0 + s] = face
    paint(face_layer, face_rgb)

    (cx, cy), axes = inner_face(s)
    hard = _ellipse_mask((h, w), (x0 + cx, y0 + cy), axes)
    # Feathered inside the hard ellipse (never beyond it), so every manipulation stays within the face box.
    soft = cv2.GaussianBlur(_ellipse_mask((h, w), (x0 + cx, y0 + cy), (axes[0] * 0.9, axes[1] * 0.9)), (0, 0),
                            0.03 * s) * hard
    return Subject(colour * alpha[..., None], alpha, hard, soft, (float(x0), float(y0)), (x0 + 0.5 * s, y0 + 0.5 * s),
                   s)


# ---------------------------------------------------------------------------------------------------- scene


def _to_u8(img: np.ndarray) -> np.ndarray:
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def make_background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A room: wall colour gradient with blotches, furniture blocks, astronaut posters, grain, slight defocus."""
    wall = rng.uniform(0.35, 0.8) * (1 + rng.uniform(-0.12, 0.12, 3)).astype(np.float32)
    yy = np.linspace(-1, 1, height, dtype=np.float32)[:, None, None]
    xx = np.linspace(-1, 1, width, dtype=np.float32)[None, :, None]
    gx, gy = rng.uniform(-0.12, 0.12, 2)
    canvas = wall * (1 + gx * xx + gy * yy)
    blotch = cv2.resize(rng.uniform(-1, 1, (5, 8)).astype(np.float32), (width, height),
                        interpolation=cv2.INTER_CUBIC)
    canvas = canvas * (1 + 0.08 * blotch[..., None])
    for _ in range(int(rng.integers(2, 5))):  # furniture, doors, shelves: muted colours, lower part of the room
        bw, bh = rng.uniform(0.1, 0.35) * width, rng.uniform(0.15, 0.5) * height
        x0, y0 = rng.uniform(0, width - bw), rng.uniform(0.35 * height, height - bh)
        p0, p1 = (round(x0), round(y0)), (round(x0 + bw), round(y0 + bh))
        tone = FURNITURE[rng.integers(len(FURNITURE))]
        colour = np.asarray(tone) * rng.uniform(0.7, 1.2)
        cv2.rectangle(canvas, p0, p1, colour.tolist(), -1, cv2.LINE_AA)
        cv2.rectangle(canvas, p0, p1, (colour * 0.6).tolist(), 3, cv2.LINE_AA)
    astronaut = _astronaut()
    for _ in range(int(rng.integers(1, 3))):  # framed posters cut from astronaut() away from its face, up the wall
        x0, y0, x1, y1 = POSTER_CROPS[rng.integers(len(POSTER_CROPS))]
        scale = rng.uniform(0.2, 0.35) * height / (y1 - y0)
        pw, ph = max(8, round((x1 - x0) * scale)), max(8, round((y1 - y0) * scale))
        if pw + 16 >= width or ph + 16 >= 0.6 * height:
            continue
        poster = cv2.resize(astronaut[y0:y1, x0:x1], (pw, ph), interpolation=cv2.INTER_AREA)
        px = int(rng.integers(8, width - pw - 8))
        py = int(rng.integers(8, max(9, round(0.6 * height) - ph)))
        canvas[py - 6:py + ph + 6, px - 6:px + pw + 6] = rng.uniform(0.05, 0.3)
        canvas[py:py + ph, px:px + pw] = poster
    canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.6, 1.4))
    grain = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 0.6)
    grain *= BACKGROUND_GRAIN / max(float(grain.std()), 1e-6)
    return _to_u8(canvas + grain[..., None])


def _wave(rng: np.random.Generator, lo: float, hi: float, terms: int = 2):
    """A smooth random function of time in [-1, 1]: a sum of sines with periods in [lo, hi] seconds."""
    periods = rng.uniform(lo, hi, terms)
    phases = rng.uniform(0, 2 * np.pi, terms)
    weights = rng.dirichlet(np.ones(terms))

    def f(t: float) -> float:
        return float(np.sum(weights * np.sin(2 * np.pi * t / periods + phases)))

    return f


@dataclass(frozen=True)
class FrameGeometry:
    matrix: np.ndarray  # 2×3 affine, subject layer -> frame
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 of the subject in the frame (may be empty)


class Scene:
    """One original video: a subject in a room, camera and head motion, drifting light. Fully determined by
    ``(seed, video id, identity)`` and the frame size, so a fake replays its target's frames exactly."""

    def __init__(self, seed: int, video: str, identity: int, width: int, height: int, fps: float):
        rng = manip.rng_for(seed, "scene", video)
        self.width, self.height, self.fps = width, height, fps
        # faces of about a third of the frame height, as in much of FF++'s 480p footage: c40's macroblocks then
        # weaken a fake's traces rather than erase them
        self.size = max(MIN_FACE, round(rng.uniform(0.30, 0.36) * height))
        self.subject = make_subject(identity, self.size, rng)
        self.margin = (max(4, round(0.06 * width)), max(4, round(0.06 * height)))
        mx, my = self.margin
        self.background = make_background(height + 2 * my, width + 2 * mx, rng)
        s = self.size
        self.base = (rng.uniform(0.35, 0.65) * width, rng.uniform(0.4, 0.5) * height)
        self.amp = (rng.uniform(0.1, 0.2) * s, rng.uniform(0.04, 0.08) * s)
        self.cam = (_wave(rng, 1.5, 4.0), _wave(rng, 1.5, 4.0))
        self.head = (_wave(rng, 0.8, 2.5), _wave(rng, 0.8, 2.5))
        self.turn, self.zoom = _wave(rng, 1.0, 3.0), _wave(rng, 1.0, 3.0)
        self.max_turn, self.max_zoom = rng.uniform(2.0, 5.0), rng.uniform(0.02, 0.05)
        self.light_gain = (_wave(rng, 1.0, 3.0), *(_wave(rng, 1.0, 3.0) for _ in range(3)))
        self.light_dir, self.light_angle0 = _wave(rng, 1.0, 3.0), rng.uniform(0, 2 * np.pi)
        self.light_slope = rng.uniform(0.08, 0.18)

    def camera(self, t: float) -> tuple[int, int]:
        """Whole-pixel camera offset into the background canvas."""
        mx, my = self.margin
        return mx + round(0.9 * mx * self.cam[0](t)), my + round(0.9 * my * self.cam[1](t))

    def geometry(self, i: int) -> FrameGeometry:
        t = i / self.fps
        ox, oy = self.camera(t)
        mx, my = self.margin
        # Head centre in frame coordinates: its place in the room minus the camera's pan.
        px = self.base[0] + self.amp[0] * self.head[0](t) - (ox - mx)
        py = self.base[1] + self.amp[1] * self.head[1](t) - (oy - my)
        angle = np.deg2rad(self.max_turn * self.turn(t))
        scale = 1 + self.max_zoom * self.zoom(t)
        a, b = scale * np.cos(angle), scale * np.sin(angle)
        hx, hy = self.subject.head_centre
        matrix = np.array([[a, -b, px - (a * hx - b * hy)], [b, a, py - (b * hx + a * hy)]], np.float64)
        h, w = self.subject.alpha.shape
        corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ matrix.T
        x0, y0 = np.floor(corners.min(0)).astype(int)
        x1, y1 = np.ceil(corners.max(0)).astype(int)
        roi = (max(0, x0), max(0, y0), min(self.width, x1), min(self.height, y1))
        return FrameGeometry(matrix, roi)

    def lighting(self, i: int, roi: tuple[int, int, int, int], matrix: np.ndarray) -> np.ndarray:
        """Multiplicative light on the subject in the ROI: drifting gain and colour, a slowly turning gradient."""
        t = i / self.fps
        gain = 1 + 0.06 * self.light_gain[0](t) + 0.02 * np.array([g(t) for g in self.light_gain[1:]])
        angle = self.light_angle0 + 0.8 * self.light_dir(t)
        x0, y0, x1, y1 = roi
        hx, hy = matrix @ np.array([*self.subject.head_centre, 1.0])
        yy = (np.arange(y0, y1, dtype=np.float32) - hy)[:, None]
        xx = (np.arange(x0, x1, dtype=np.float32) - hx)[None, :]
        shade = 1 + self.light_slope * (xx * np.cos(angle) + yy * np.sin(angle)) / self.size
        return shade[..., None] * gain.astype(np.float32)

    def warp(self, layer: np.ndarray, matrix: np.ndarray, roi: tuple[int, int, int, int],
             offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        """``layer`` (placed at ``offset`` in subject-layer coordinates) warped into the frame ROI."""
        x0, y0, x1, y1 = roi
        m = matrix.copy()
        m[:, 2] += m[:, :2] @ np.asarray(offset) - (x0, y0)
        return cv2.warpAffine(layer, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=0)

    def frame(self, i: int) -> tuple[np.ndarray, FrameGeometry]:
        t = i / self.fps
        ox, oy = self.camera(t)
        frame = self.background[oy:oy + self.height, ox:ox + self.width].copy()
        geo = self.geometry(i)
        x0, y0, x1, y1 = geo.roi
        if x1 > x0 and y1 > y0:
            colour = self.warp(self.subject.colour, geo.matrix, geo.roi)
            alpha = self.warp(self.subject.alpha, geo.matrix, geo.roi)[..., None]
            colour = colour * self.lighting(i, geo.roi, geo.matrix)
            bg = frame[y0:y1, x0:x1].astype(np.float32) / 255
            frame[y0:y1, x0:x1] = _to_u8(colour + (1 - alpha) * bg)
        return frame, geo

    def frames(self, count: int) -> Iterator[np.ndarray]:
        for i in range(count):
            yield self.frame(i)[0]

    def face_box(self, i: int) -> tuple[int, int, int, int]:
        """Bounding box (x0, y0, x1, y1) of the manipulated region in frame ``i``, clipped to the frame."""
        geo = self.geometry(i)
        (cx, cy), (ax, ay) = inner_face(self.size)
        fx, fy = self.subject.face_origin
        corners = np.array([[fx + cx + dx, fy + cy + dy, 1] for dx in (-ax, ax) for dy in (-ay, ay)]) @ geo.matrix.T
        x0, y0 = np.floor(corners.min(0)).astype(int) - 2
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
        return max(0, x0), max(0, y0), min(self.width, x1), min(self.height, y1)


def source_layer(scene: Scene, source_identity: int, manipulation: manip.Manipulation
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """For an identity swap: the source face as the swap warps it in and the 3×3 matrix from its pixels to the
    target subject layer's (:func:`manip.aligned_source` placed at the face patch); None for other kinds."""
    if not manipulation.swaps_identity:
        return None
    image, to_patch = manip.aligned_source(manipulation, face_patch(source_identity, scene.size))
    fx, fy = scene.subject.face_origin
    return image, np.array([[1, 0, fx], [0, 1, fy], [0, 0, 1]], np.float64) @ to_patch


def manipulate_frame(scene: Scene, i: int, frame: np.ndarray, geo: FrameGeometry, manipulation: manip.Manipulation,
                     source: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Frame ``i`` of ``scene`` (uint8, changed in place and returned) with its inner face manipulated; ``source``
    from :func:`source_layer`. The swapped-in face is warped to the target's pose (the renderer knows both heads'
    pose) and lit by the target's light, as the original's face is; the rest is :func:`manip.apply`."""
    x0, y0, x1, y1 = box = scene.face_box(i)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return frame
    hard = scene.warp(scene.subject.inner_hard, geo.matrix, box)
    soft = scene.warp(scene.subject.inner_soft, geo.matrix, box)
    warped = None
    if source is not None:
        image, to_layer = source
        warped = scene.warp(image, (np.vstack([geo.matrix, [0, 0, 1]]) @ to_layer)[:2], box)
        warped = warped * scene.lighting(i, box, geo.matrix)
    roi = frame[y0:y1, x0:x1].astype(np.float32) / 255
    frame[y0:y1, x0:x1] = _to_u8(manip.apply(manipulation, roi, warped, hard, soft))
    return frame


def fake_frames(scene: Scene, source_identity: int, manipulation: manip.Manipulation, count: int
                ) -> Iterator[np.ndarray]:
    """The target scene's frames with the inner face manipulated; identical to the original elsewhere."""
    source = source_layer(scene, source_identity, manipulation)
    for i in range(count):
        frame, geo = scene.frame(i)
        yield manipulate_frame(scene, i, frame, geo, manipulation, source)


# ---------------------------------------------------------------------------------------------------- identities


def _reference_frame(identity: int, size: int = 140) -> tuple[np.ndarray, tuple[float, float]]:
    """The identity's subject on grey, cropped around the head with a margin of half a head."""
    subject = make_subject(identity, size, manip.rng_for(0, "reference", identity))
    h, w = subject.alpha.shape
    pad = size // 2
    image = np.full((h + 2 * pad, w + 2 * pad, 3), 0.5, np.float32)
    image[pad:pad + h, pad:pad + w] = subject.colour + (1 - subject.alpha[..., None]) * 0.5
    hx, hy = subject.head_centre
    x0, y0 = round(hx + pad - size), round(hy + pad - size)
    return _to_u8(image[y0:y0 + 2 * size, x0:x0 + 2 * size]), (hx + pad - x0, hy + pad - y0)


@functools.cache
def usable_identities() -> tuple[int, ...]:
    """Identities whose reference rendering (head of 140 px on grey) dlib's frontal detector finds with a score of
    at least DETECT_THRESHOLD at its head — those it will find in the videos too. Deterministic (same dlib)."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    usable = []
    for identity in range(N_IDENTITIES):
        image, (hx, hy) = _reference_frame(identity)
        boxes, scores, _ = detector.run(image, 0, DETECT_THRESHOLD)
        if any(b.left() < hx < b.right() and b.top() < hy < b.bottom() for b in boxes):
            usable.append(identity)
    return tuple(usable)
