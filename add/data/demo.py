"""The built-in demo dataset: a small FaceForensics++-shaped tree made offline and deterministically from the seed.

Originals are short videos of real face photos that ship with scikit-image — the 100 LFW faces of
``skimage.data.lfw_subset()`` (25×25 grey, tinted to a skin tone per identity) and the astronaut of
``skimage.data.astronaut()`` — upscaled to a 100-200 px head (dlib's HOG detector needs ~80 px faces) on a shoulders
and hair silhouette, in front of a procedural room (wall, furniture, astronaut-photo posters, grain, depth-of-field
blur). Each video moves: the camera pans (whole-pixel steps, which keeps lossless raw files small and fast to
encode), the head translates, turns and scales smoothly with sub-pixel precision, and the light on the subject drifts
in gain, colour and direction. Only identities that dlib finds in a reference rendering are used.

A fake ``a_b`` of a method replays target ``a``'s video frame for frame and changes only the inner face region
(see :mod:`add.data.manipulations`): an identity swap with ``b``'s face (colour mismatch, blending seam), a
GAN-style re-synthesis (transposed-convolution checkerboard, periodic texture), or both.

Files: ``{root}/original_sequences/youtube/{q}/videos/{id}.mp4``, ``{root}/manipulated_sequences/{method}/{q}/videos/
{a}_{b}.mp4``, ``{root}/splits/{train,val,test}.json`` (FF++ format) and ``{root}/demo.json`` (the config, the photo
behind each id and the kind of each fake). raw is ``libx264rgb -crf 0`` (lossless), c23/c40 re-encode raw as FF++'s
compression script does (``add.data.video``).

Videos are made in parallel by ``jobs`` threads (0 = all cores): the encoders are ffmpeg processes and the rendering
is NumPy/OpenCV, which release the GIL, so threads keep the cores busy without the hazards of forking a process that
holds library threads (a forked worker can deadlock on a lock such a thread held) or spawn's re-imports.

Rebuilds are all-or-nothing: everything is written into a temporary folder beside ``root`` that replaces ``root``
in one rename at the end, so an interrupted build leaves the previous tree (or none) and never a partial one. An
existing ``root`` is only replaced when it is empty or holds a ``demo.json``, so a real FF++ tree is never deleted.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from add.data import ffpp
from add.data import manipulations as manip
from add.data.video import compress, read_frames, write_video
from add.errors import AddError
from add.io import atomic_write_json, replace_tree
from add.params import ParamsError, get_float, get_int, section

MARKER = "demo.json"
SCRATCH = ".scratch"  # raw files kept only until compressed when raw is not a requested quality
VERSION = 1
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
# Std of the fine skin texture on every face (fraction of full scale): real detail that a fake's decoder loses and that
# H.264 at c40 removes from originals too, so it tells real from fake in raw footage only.
SKIN_GRAIN = 6.0 / 255


# ---------------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class DemoConfig:
    """The ``demo:`` section of ``params.yaml`` plus the top-level ``seed``."""

    seed: int = 0
    pairs: tuple[int, int, int] = (16, 4, 4)  # [target, source] pairs in train, val, test
    frames: int = 32
    width: int = 854
    height: int = 480
    fps: float = 25
    jobs: int = 0  # parallel videos; 0 = all cores
    strength: float = 1.0  # scales every artifact; 0 = clean manipulations

    def __post_init__(self) -> None:
        self.check()
        # One spelling per value (25 and 25.0 would otherwise write different demo.json bytes).
        object.__setattr__(self, "pairs", tuple(self.pairs))
        object.__setattr__(self, "fps", float(self.fps))
        object.__setattr__(self, "strength", float(self.strength))

    def check(self) -> None:
        def bad(key: str, why: str, value: Any) -> ParamsError:
            return ParamsError(f"params '{key}' {why}, got {value!r}")

        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise bad("seed", "must be a non-negative integer", self.seed)
        pairs = self.pairs
        if (not isinstance(pairs, tuple | list) or len(pairs) != 3
                or any(isinstance(p, bool) or not isinstance(p, int) or p < 0 for p in pairs)):
            raise bad("demo.pairs", "must be three non-negative integers [train, val, test]", pairs)
        if sum(pairs) < 1 or 2 * sum(pairs) > N_IDENTITIES:
            raise bad("demo.pairs", f"must add up to 1..{N_IDENTITIES // 2} (each pair uses two of the "
                      f"{N_IDENTITIES} demo face photos)", pairs)
        for key, lo, hi in (("frames", 1, 100_000), ("width", MIN_SIDE, 7680), ("height", MIN_SIDE, 4320),
                            ("jobs", 0, 1024)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise bad(f"demo.{key}", f"must be an integer in {lo}..{hi}", value)
        for key in ("width", "height"):
            if getattr(self, key) % 2:
                raise bad(f"demo.{key}", "must be even (H.264 4:2:0 needs even sides)", getattr(self, key))
        if isinstance(self.fps, bool) or not isinstance(self.fps, int | float) or not 1 <= self.fps <= 240:
            raise bad("demo.fps", "must be a number in 1..240", self.fps)
        if (isinstance(self.strength, bool) or not isinstance(self.strength, int | float)
                or not 0 <= self.strength <= 4):
            raise bad("demo.strength", "must be a number in 0..4", self.strength)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> DemoConfig:
        """Read ``seed`` and ``demo:``; ``demo.jobs`` defaults to ``data.jobs``. Nonsense raises ParamsError."""
        if not isinstance(params, dict):
            raise ParamsError(f"params must be a mapping, got {type(params).__name__}")
        demo = section(params, "demo")
        unknown = sorted(set(demo) - {"pairs", "frames", "width", "height", "fps", "jobs", "strength"})
        if unknown:
            raise ParamsError(f"params 'demo' has unknown key(s) {unknown}")
        pairs = demo.get("pairs", list(cls.pairs))
        if not isinstance(pairs, list | tuple):
            raise ParamsError(f"params 'demo.pairs' must be three non-negative integers [train, val, test], "
                              f"got {pairs!r}")
        jobs_default = section(params, "data").get("jobs", cls.jobs)
        seed = params.get("seed", cls.seed)
        return cls(
            seed=seed,
            pairs=tuple(pairs),
            frames=get_int(demo, "frames", cls.frames, where="demo", min=1),
            width=get_int(demo, "width", cls.width, where="demo", min=MIN_SIDE),
            height=get_int(demo, "height", cls.height, where="demo", min=MIN_SIDE),
            fps=get_float(demo, "fps", cls.fps, where="demo", min=1, max=240),
            jobs=get_int(demo, "jobs", jobs_default, where="demo", min=0),
            strength=get_float(demo, "strength", cls.strength, where="demo", min=0, max=4),
        )

    def build_kwargs(self, methods: Sequence[str] = ("Deepfakes",),
                     qualities: Sequence[str] = ffpp.QUALITIES) -> dict[str, Any]:
        """Keyword arguments of :func:`build_demo` (after ``root``)."""
        kwargs = asdict(self)
        kwargs["pairs"] = tuple(self.pairs)
        return {**kwargs, "methods": tuple(methods), "qualities": tuple(qualities)}


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
    """The identity's face at ``size``×``size`` with a fixed fine skin texture (so raw footage has real fine
    detail for compression to remove), float32 RGB in [0, 1]."""
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
    grain *= (2.5 / 255) / max(float(grain.std()), 1e-6)
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
        # small faces (crops of ~1.2x the training size) keep the fine-scale artifacts that raw crops carry
        self.size = max(MIN_FACE, round(rng.uniform(0.21, 0.25) * height))
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


def fake_frames(scene: Scene, source_identity: int, manipulation: manip.Manipulation, count: int
                ) -> Iterator[np.ndarray]:
    """The target scene's frames with the inner face manipulated; identical to the original elsewhere."""
    source = face_patch(source_identity, scene.size) if manipulation.swaps_identity else None
    for i in range(count):
        frame, geo = scene.frame(i)
        x0, y0, x1, y1 = box = scene.face_box(i)
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            hard = scene.warp(scene.subject.inner_hard, geo.matrix, box)
            soft = scene.warp(scene.subject.inner_soft, geo.matrix, box)
            warped = None
            if source is not None:
                warped = scene.warp(source, geo.matrix, box, scene.subject.face_origin)
            roi = frame[y0:y1, x0:x1].astype(np.float32) / 255
            out = manip.apply(manipulation, roi, warped, hard, soft, (y0, x0))
            frame[y0:y1, x0:x1] = _to_u8(out)
        yield frame


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


# ---------------------------------------------------------------------------------------------------- build


@dataclass(frozen=True)
class VideoTask:
    """One video to write: an original (``method`` None) or the fake ``{target}_{source}`` of a method."""

    method: str | None
    target: str
    source: str | None
    target_identity: int
    source_identity: int | None
    kind: str | None

    @property
    def name(self) -> str:
        return self.target if self.method is None else f"{self.target}_{self.source}"


def _write_task(task: VideoTask, root: str, config: dict[str, Any]) -> str:
    seed, frames = config["seed"], config["frames"]
    scene = Scene(seed, task.target, task.target_identity, config["width"], config["height"], config["fps"])
    if task.method is None:
        method, stream = ffpp.ORIGINAL, scene.frames(frames)
    else:
        method = task.method
        m = manip.Manipulation.draw(task.kind, manip.rng_for(seed, "fake", method, task.name), config["strength"])
        stream = fake_frames(scene, task.source_identity, m, frames)
    keep_raw = "raw" in config["qualities"]
    # c23/c40 are always compressed from the raw file; an unrequested raw lives in a scratch folder meanwhile.
    raw = (ffpp.video_path(root, method, "raw", task.name) if keep_raw
           else Path(root, SCRATCH, method, f"{task.name}.mp4"))
    write_video(raw, stream, fps=config["fps"], quality="raw")
    for quality in config["qualities"]:
        if quality != "raw":
            compress(raw, ffpp.video_path(root, method, quality, task.name), quality)
    if not keep_raw:
        raw.unlink()
    return f"{method}/{task.name}"


def plan(config: DemoConfig, methods: Sequence[str]) -> tuple[dict[str, list[list[str]]], dict[str, int],
                                                               dict[str, dict[str, str]]]:
    """Splits (FF++ format), the photo behind each id and the kind of each fake, all drawn from the seed."""
    usable = usable_identities()
    n_pairs = sum(config.pairs)
    if 2 * n_pairs > len(usable):
        raise ParamsError(f"params 'demo.pairs' {list(config.pairs)} needs {2 * n_pairs} identities but dlib finds "
                          f"only {len(usable)} of the demo face photos; use at most {len(usable) // 2} pairs")
    chosen = manip.rng_for(config.seed, "identities").permutation(len(usable))[:2 * n_pairs]
    ids = [f"{i:03d}" for i in range(2 * n_pairs)]
    identities = {id_: int(usable[j]) for id_, j in zip(ids, chosen, strict=True)}
    pairs = [[ids[2 * i], ids[2 * i + 1]] for i in range(n_pairs)]
    splits, start = {}, 0
    for split, count in zip(ffpp.SPLITS, config.pairs, strict=True):
        splits[split] = pairs[start:start + count]
        start += count
    fakes = [fake for a, b in pairs for fake in ffpp.pair_videos(a, b)[1]]
    kinds = {method: manip.assign_kinds(method, fakes, config.seed) for method in methods}
    return splits, identities, kinds


def _resolve_jobs(jobs: int) -> int:
    if jobs:
        return jobs
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def build_demo(root: str | os.PathLike, *, seed: int, pairs: Sequence[int] = (16, 4, 4), frames: int = 32,
               width: int = 854, height: int = 480, fps: float = 25, methods: Sequence[str] = ("Deepfakes",),
               qualities: Sequence[str] = ffpp.QUALITIES, jobs: int = 0, strength: float = 1.0,
               progress: bool = True) -> Path:
    """Build the demo tree at ``root`` (replacing a previous demo tree there); returns ``root``.

    Byte-identical for the same arguments (``jobs`` and ``progress`` aside). Raises ParamsError for nonsense
    arguments and AddError when ``root`` exists and is not a demo tree.
    """
    config = DemoConfig(seed=seed, pairs=tuple(pairs), frames=frames, width=width, height=height, fps=fps, jobs=jobs,
                        strength=strength)
    methods = tuple(methods)
    if not methods or len(set(methods)) != len(methods) or any(m not in ffpp.METHODS for m in methods):
        raise ParamsError(f"demo methods must be distinct names from {list(ffpp.METHODS)}, got {list(methods)}")
    if not qualities or any(q not in ffpp.QUALITIES for q in qualities):
        raise ParamsError(f"demo qualities must be a non-empty subset of {list(ffpp.QUALITIES)}, got {qualities}")
    qualities = tuple(q for q in ffpp.QUALITIES if q in set(qualities))
    root = Path(root)
    if root.exists() and (not root.is_dir() or (any(root.iterdir()) and not (root / MARKER).is_file())):
        raise AddError(f"{root}: exists and is not a demo tree (no {MARKER}); refusing to replace it — "
                       "remove it or choose another demo root")

    splits, identities, kinds = plan(config, methods)
    tasks = [VideoTask(None, id_, None, identity, None, None) for id_, identity in identities.items()]
    for method in methods:
        for fake, kind in kinds[method].items():
            a, b = fake.split("_")
            tasks.append(VideoTask(method, a, b, identities[a], identities[b], kind))
    worker_config = {**asdict(config), "qualities": qualities}

    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-", dir=root.parent))
    try:
        jobs = min(_resolve_jobs(config.jobs), len(tasks))
        with tqdm(total=len(tasks), desc="demo videos", unit="video", disable=not progress) as bar:
            if jobs <= 1:
                for task in tasks:
                    bar.set_postfix_str(_write_task(task, str(tmp), worker_config), refresh=False)
                    bar.update()
            else:
                with ThreadPoolExecutor(jobs, thread_name_prefix="demo") as pool:
                    futures = [pool.submit(_write_task, task, str(tmp), worker_config) for task in tasks]
                    try:
                        for future in as_completed(futures):
                            bar.set_postfix_str(future.result(), refresh=False)
                            bar.update()
                    except BaseException:
                        for future in futures:
                            future.cancel()
                        raise
        shutil.rmtree(tmp / SCRATCH, ignore_errors=True)
        for split, split_pairs in splits.items():
            atomic_write_json(tmp / "splits" / f"{split}.json", split_pairs)
        atomic_write_json(tmp / MARKER, {
            "version": VERSION,
            "config": {**asdict(config), "pairs": list(config.pairs), "methods": list(methods),
                       "qualities": list(qualities), "jobs": None},
            "identities": {id_: identity_name(identity) for id_, identity in identities.items()},
            "fakes": kinds,
        })
        replace_tree(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


# ---------------------------------------------------------------------------------------------------- measure


def artifact_energy(root: str | os.PathLike, clean_root: str | os.PathLike, method: str, fake: str,
                    qualities: Sequence[str] = ffpp.QUALITIES, indices: Sequence[int] | None = None
                    ) -> dict[str, float]:
    """Artifact proxy per quality: mean over frames of ``hf_excess(fake, clean fake, face box)``, in 8-bit levels
    squared — the high-frequency energy the fake's face has beyond the same manipulation without artifacts.

    ``clean_root`` is a demo tree built with the same arguments but ``strength=0`` (same identities, motion and
    swaps; no checkerboard, texture, seam, sharpening or colour mismatch), so identity differences cancel and what
    is left is the artifact as that quality keeps it. Frames ``indices`` (default all). The face box comes from the
    demo's own geometry (``demo.json`` and the scene), no detector involved.
    """
    root, clean_root = Path(root), Path(clean_root)
    meta = json.loads((root / MARKER).read_text(encoding="utf-8"))
    clean = json.loads((clean_root / MARKER).read_text(encoding="utf-8"))
    cfg = meta["config"]
    same = {k: v for k, v in cfg.items() if k != "strength"} == {
        k: v for k, v in clean["config"].items() if k != "strength"}
    if not same or clean["config"]["strength"] != 0:
        raise ValueError(f"{clean_root} is not the strength-0 twin of {root} (compare their {MARKER})")
    target = fake.split("_")[0]
    identity = {identity_name(i): i for i in range(N_IDENTITIES)}[meta["identities"][target]]
    scene = Scene(cfg["seed"], target, identity, cfg["width"], cfg["height"], cfg["fps"])
    indices = sorted(set(range(cfg["frames"]) if indices is None else indices))
    result = {}
    for quality in qualities:
        fakes = read_frames(ffpp.video_path(root, method, quality, fake), indices)
        cleans = read_frames(ffpp.video_path(clean_root, method, quality, fake), indices)
        excess = [manip.hf_excess(f, c, scene.face_box(i)) for (i, f), (_, c) in zip(fakes, cleans, strict=True)]
        result[quality] = float(np.mean(excess))
    return result
