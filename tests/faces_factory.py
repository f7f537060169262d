"""Synthetic extraction output in the contract format (docs/architecture.md), for the shards and loader tests.

``write_faces`` writes ``{root}/faces/{method}/{video}.tar`` (members ``{f:04d}.{quality}.png`` and
``{f:04d}.json``, sorted, mtime 0) and ``{root}/manifest.parquet`` for the originals and fakes of a few FF++-style
id pairs, without running the real extraction. Pixels are seeded noise, a function of (method, video, frame,
quality) given by ``face_image``, so a test can tell which image (and which flip of it) a loader returned.
"""

from __future__ import annotations

import io
import json
import tarfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from add.core.layout import MANIFEST_COLUMNS

QUALITIES = ("raw", "c23", "c40")
DEFAULT_PAIRS = {"train": [("000", "001"), ("002", "003")], "val": [("004", "005")], "test": [("006", "007")]}


def face_image(method: str, video: str, frame: int, quality: str, size: int) -> np.ndarray:
    """``size x size x 3`` RGB uint8: noise of (method, video, frame), degraded more for lower qualities."""
    rng = np.random.default_rng(zlib.crc32(f"{method}/{video}/{frame}".encode()))
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    if quality == "raw":
        return image
    noise = np.random.default_rng(zlib.crc32(f"{method}/{video}/{frame}/{quality}".encode()))
    step = 8 if quality == "c23" else 32
    degraded = (image // step) * step + noise.integers(0, 2, image.shape)
    return degraded.astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    assert ok
    return encoded.tobytes()


def write_tar(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(members[name]), 0, 0o444
            tar.addfile(info, io.BytesIO(members[name]))


def write_faces(root: str | Path, *, pairs: dict[str, list[tuple[str, str]]] | None = None,
                methods: tuple[str, ...] = ("Deepfakes",), frames: int = 4, size: int = 16,
                qualities: tuple[str, ...] = QUALITIES, fallback: dict[tuple[str, str], list[int]] | None = None,
                dropped_frames: dict[tuple[str, str], list[int]] | None = None,
                dropped_videos: tuple[tuple[str, str], ...] = (),
                extra_originals: dict[str, list[str]] | None = None) -> tuple[Path, Path]:
    """Write face tars + manifest; return ``(faces_dir, manifest_path)``.

    ``fallback`` / ``dropped_frames`` map ``(method, video)`` to frame indices given that status (a dropped frame
    has a manifest row but no tar members); ``dropped_videos`` get one ``dropped_video`` row and no tar.
    ``extra_originals`` adds originals to a split that no fake targets (as an odd ``data.max_videos`` does).
    """
    root = Path(root)
    faces, manifest = root / "faces", root / "manifest.parquet"
    pairs = DEFAULT_PAIRS if pairs is None else pairs
    fallback, dropped_frames = fallback or {}, dropped_frames or {}
    rows = []
    for split, split_pairs in pairs.items():
        videos = [("original", v) for pair in split_pairs for v in pair]
        videos += [("original", v) for v in (extra_originals or {}).get(split, [])]
        videos += [(m, f) for m in methods for a, b in split_pairs for f in (f"{a}_{b}", f"{b}_{a}")]
        for method, video in videos:
            label = int(method != "original")
            if (method, video) in dropped_videos:
                rows.append([split, method, video, -1, label, *[float("nan")] * 5, "dropped_video",
                             "no frame decoded"])
                continue
            members = {}
            for frame in range(frames):
                box = [10.0 + frame, 20.0, 110.0 + frame, 120.0]
                if frame in dropped_frames.get((method, video), []):
                    rows.append([split, method, video, frame, label, *[float("nan")] * 5, "dropped_frame",
                                 "no face in the video"])
                    continue
                status = "fallback" if frame in fallback.get((method, video), []) else "ok"
                score = float("nan") if status == "fallback" else 1.5
                for quality in qualities:
                    members[f"{frame:04d}.{quality}.png"] = png_bytes(face_image(method, video, frame, quality, size))
                members[f"{frame:04d}.json"] = json.dumps({"box": box, "score": score, "status": status}).encode()
                rows.append([split, method, video, frame, label, *box, score, status,
                             "" if status == "ok" else "no face: nearest box"])
            write_tar(faces / method / f"{video}.tar", members)
    table = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    table["frame"] = table["frame"].astype("int64")
    table["label"] = table["label"].astype("int64")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(manifest, index=False)
    return faces, manifest
