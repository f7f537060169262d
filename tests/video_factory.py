"""Small synthetic test videos with real faces pasted in, encoded like FF++ (raw / c23 / c40).

Faces are real photographs that ship with scikit-image: the astronaut's head (``skimage.data.astronaut()``, RGB)
and the 25x25 LFW faces (``skimage.data.lfw_subset()``: the first 100 arrays are faces, the other 100 are not),
upscaled. The background is a smooth procedural colour field (no face-like structure, so dlib finds nothing in
it) that pans like a moving camera, and the face drifts along a small ellipse. Everything is a pure function of
its arguments, so a test can rebuild the exact frames it encoded.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from skimage import data

from add.data.video_io import compress, write_video

QUALITIES = ("raw", "c23", "c40")
# The astronaut's head in astronaut() (512x512); dlib finds the face at about (179, 83)-(266, 170) in it.
ASTRONAUT_HEAD = (slice(40, 220), slice(135, 315))


@functools.cache
def _astronaut_head() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[ASTRONAUT_HEAD])


@functools.cache
def _lfw() -> np.ndarray:
    return data.lfw_subset()


def face_patch(face: str | int, size: int) -> np.ndarray:
    """A ``size`` x ``size`` RGB uint8 face: ``"astronaut"`` or an LFW face index in 0..99 (grey, skin-tinted)."""
    if face == "astronaut":
        patch = _astronaut_head()
        return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA if size < patch.shape[0]
                          else cv2.INTER_CUBIC)
    if not isinstance(face, int) or not 0 <= face < 100:
        raise ValueError(f"face must be 'astronaut' or an LFW face index 0..99 (100..199 are not faces), got {face!r}")
    grey = cv2.resize(_lfw()[face].astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    tint = np.array([1.0, 0.86, 0.74], np.float32)
    return np.clip(grey[..., None] * tint * 255.0, 0, 255).astype(np.uint8)


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth, face-free RGB colour field of ``width`` x ``height`` (low-frequency noise plus a few blocks)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(40, 215, size=(6, 8, 3)).astype(np.float32)
    img = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(4):
        w, h = int(rng.integers(width // 10, width // 4)), int(rng.integers(height // 10, height // 4))
        x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        img[y:y + h, x:x + w] = img[y:y + h, x:x + w] * 0.6 + rng.uniform(30, 225, 3).astype(np.float32) * 0.4
    img = cv2.GaussianBlur(img, (0, 0), 1.5)
    return np.clip(img, 0, 255).astype(np.uint8)


def _ellipse_mask(size: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    c = (size - 1) / 2
    r = ((xx - c) / (0.48 * size)) ** 2 + ((yy - c) / (0.50 * size)) ** 2
    return np.clip((1.0 - r) * 6.0, 0.0, 1.0)[..., None]


def face_centre(frame: int, n_frames: int, width: int, height: int) -> tuple[float, float]:
    """Where the face's centre is in ``frame``: a slow ellipse around the frame centre."""
    t = 2 * math.pi * frame / max(n_frames, 1)
    return width / 2 + 0.08 * width * math.sin(t), height / 2 + 0.05 * height * math.cos(t)


def synth_frames(n_frames: int, width: int = 320, height: int = 240, *, face: str | int | None = "astronaut",
                 face_size: int | None = None, seed: int = 0, no_face: Collection[int] = (),
                 swap: int | None = None) -> Iterator[np.ndarray]:
    """Yield ``n_frames`` RGB frames: a panning background with ``face`` pasted (soft elliptical edge) at
    ``face_centre``; frames in ``no_face`` (and all frames when ``face`` is None) show only the background.

    ``swap`` (an LFW face index) makes a fake of the same footage: the inner half of the face (eyes to mouth) is
    replaced by that face, so a frame differs from the original's only inside the face.
    """
    face_size = face_size or int(0.5 * height)
    pad = max(8, width // 16)
    bg = background(width + 2 * pad, height + 2 * pad, seed)
    patch = face_patch(face, face_size).astype(np.float32) if face is not None else None
    mask = _ellipse_mask(face_size)
    if patch is not None and swap is not None:
        inner = face_size // 2
        at = (face_size - inner) // 2
        inner_mask = _ellipse_mask(inner)
        region = patch[at:at + inner, at:at + inner]
        patch[at:at + inner, at:at + inner] = region * (1 - inner_mask) + face_patch(swap, inner) * inner_mask
    for i in range(n_frames):
        t = 2 * math.pi * i / max(n_frames, 1)
        ox, oy = int(round(pad + pad * 0.9 * math.sin(t))), int(round(pad + pad * 0.9 * math.sin(0.5 * t)))
        frame = bg[oy:oy + height, ox:ox + width].copy()
        if patch is not None and i not in no_face:
            cx, cy = face_centre(i, n_frames, width, height)
            x0, y0 = int(round(cx - face_size / 2)), int(round(cy - face_size / 2))
            x0, y0 = min(max(x0, 0), width - face_size), min(max(y0, 0), height - face_size)
            region = frame[y0:y0 + face_size, x0:x0 + face_size].astype(np.float32)
            frame[y0:y0 + face_size, x0:x0 + face_size] = (region * (1 - mask) + patch * mask).astype(np.uint8)
        yield frame


def make_video(directory: str | Path, name: str, n_frames: int, *, width: int = 320, height: int = 240,
               face: str | int | None = "astronaut", face_size: int | None = None, seed: int = 0,
               no_face: Collection[int] = (), qualities: Sequence[str] = QUALITIES,
               lengths: dict[str, int] | None = None, fps: float = 25.0, swap: int | None = None) -> dict[str, str]:
    """Encode one clip in every quality, FF++ style, under ``directory/{quality}/{name}.mp4``.

    raw is lossless (libx264rgb crf 0) and c23/c40 are compressed from it, as FF++'s script does. ``lengths``
    gives a quality a different frame count (encoded from the first N synthetic frames) to plant a mismatch.
    ``swap``: a fake of the clip made with the same arguments (see :func:`synth_frames`).
    Returns ``{quality: absolute path}``.
    """
    directory = Path(directory)
    lengths = lengths or {}

    def frames(n: int) -> Iterator[np.ndarray]:
        return synth_frames(n, width, height, face=face, face_size=face_size, seed=seed, no_face=no_face, swap=swap)

    raw = (directory / "raw" / f"{name}.mp4").resolve()
    write_video(raw, frames(lengths.get("raw", n_frames)), fps=fps, quality="raw")
    paths = {}
    for q in qualities:
        dst = (directory / q / f"{name}.mp4").resolve()
        if q == "raw":
            pass
        elif q in lengths:
            write_video(dst, frames(lengths[q]), fps=fps, quality=q)
        else:
            compress(raw, dst, q)
        paths[q] = str(dst)
    return paths


def truncate(path: str | Path, fraction: float = 0.5) -> None:
    """Cut a file to ``fraction`` of its size, like an interrupted copy."""
    path = Path(path)
    blob = path.read_bytes()
    path.write_bytes(blob[: int(len(blob) * fraction)])


def damage_inside(path: str | Path, size: int = 4096, seed: int = 0) -> None:
    """Overwrite ``size`` bytes with noise in the middle of the video's largest packet after the first (a P frame),
    like a bad sector or a flipped download: the container and the NAL sizes stay intact, so ffmpeg still reads and
    counts every frame, but decoding that frame hits "error while decoding MB ..." (and ffmpeg exits 0)."""
    import subprocess

    from add.data.video_io import ffmpeg_exe

    path = Path(path)
    listing = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0", "-c", "copy",
                              "-f", "framecrc", "-"], capture_output=True, text=True, check=True).stdout
    sizes = [int(line.split(",")[4]) for line in listing.splitlines() if line and not line.startswith("#")]
    blob = bytearray(path.read_bytes())
    first = blob.index(b"mdat") + 4  # one video track, packets back to back in decoding order
    k = 1 + int(np.argmax(sizes[1:]))
    if sizes[k] < size + 64:
        raise ValueError(f"{path}: its largest P frame ({sizes[k]} bytes) is too small to damage {size} bytes inside")
    at = first + sum(sizes[:k]) + (sizes[k] - size) // 2
    blob[at:at + size] = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(blob))


def write_videos_parquet(path: str | Path, rows: Sequence[dict]) -> Path:
    """``data/videos.parquet`` as docs/architecture.md defines it, sorted by split, method, video.

    Each row needs split, method, video, label and one path per quality; ``target`` defaults to the video's
    first id.
    """
    table = pd.DataFrame([{"target": r["video"].split("_")[0], **r} for r in rows])
    table = table.sort_values(["split", "method", "video"]).reset_index(drop=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(path, index=False)
    return path


def tight_face_crop(scale: float = 0.8, size: int = 224) -> np.ndarray:
    """The astronaut's face cut at ``scale`` x dlib's own box around its centre, resized to ``size``: a face crop
    whose face fills the image, as in DFDC's face sets, where dlib at full size finds nothing."""
    cx, cy, side = 223.0, 127.0, 88.0  # dlib's box (179, 83)-(267, 171) in astronaut()
    half = scale * side / 2
    face = data.astronaut()[int(cy - half):int(cy + half), int(cx - half):int(cx + half)]
    return cv2.resize(face, (size, size), interpolation=cv2.INTER_LINEAR)
