"""The face crops of a cross dataset's files, found as extraction and ``add predict`` find them, and their cache.

Faces go through :func:`add.data.faces.face_crops` (the one face path: dlib with the model card's settings, the
video's size-consistency rule, square ``box_scale`` boxes, frames without a face borrowing the nearest box) on
``frames_per_video`` evenly sampled frames decoded by :mod:`add.data.video_io` (the one reader). Besides the frame's
face (the largest consistent detection) every other consistent detection is kept, so that the ``faces: all`` rule
(score every face, the frame takes the maximum) and ``faces: largest`` read one cache.

An image in which nothing is found is searched once more padded (:meth:`add.data.faces.FaceSettings.detect_padded`:
a face that fills a face crop lacks the margin dlib needs), as ``add predict`` does. ``faces: given`` (``given`` in
the key): the files are face crops already; nothing is detected, each sampled frame's centred square is the crop
(:func:`add.data.faces.given_crops`).

``c40`` re-encodes the file first with FF++'s compression (:func:`add.data.video_io.compress`, libx264 -crf 40; an
image becomes a one-frame video) into a temporary file that is deleted afterwards.

Cache: ``{cache}/{key}/{video}.npy`` (the crops, ``N x S x S x 3`` uint8) and ``{video}.json`` (what each crop is;
written last, so it marks the video done), ``key`` a digest of :class:`FaceKey` (written to ``{cache}/{key}/key.json``).
Each video is written atomically, so a killed run resumes where it stopped. A cached video whose file changed (size
or sha256) is found again.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from add.core.errors import AddError
from add.core.io import atomic_path, atomic_write_json, file_record
from add.data.datasets.records import Record
from add.data.faces import Box, FaceSettings, crop, face_crops, given_crops
from add.data.images import read_image
from add.data.sampling import sample_indices
from add.data.video_io import VideoInfo, compress, read_frames, with_frames, write_video

FORMAT = "add.cross.faces/2"  # 2: images without a face are retried padded (a /1 cache could hold them as no_face)


@dataclass(frozen=True)
class FaceKey:
    """Everything the crops of a file depend on besides the file itself."""

    faces: FaceSettings
    image_size: int
    frames: int
    compression: str
    given: bool = False  # faces: given, the files are face crops

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "faces": asdict(self.faces), "image_size": self.image_size, "frames": self.frames,
                "compression": self.compression, "given": self.given}

    @property
    def digest(self) -> str:
        import hashlib

        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class FileFaces:
    """The crops of one file: per crop its frame index, box, whether it is the frame's face (``chosen``) and
    whether the ``faces: all`` rule scores it (``every``). ``status``: ok | no_face | error (then ``error``)."""

    status: str
    frames: np.ndarray  # int64 (N,)
    boxes: np.ndarray  # int64 (N, 4)
    chosen: np.ndarray  # bool (N,)
    every: np.ndarray  # bool (N,)
    crops: np.ndarray  # uint8 (N, S, S, 3)
    error: str = ""

    @classmethod
    def empty(cls, status: str, size: int, error: str = "") -> FileFaces:
        return cls(status, np.zeros(0, np.int64), np.zeros((0, 4), np.int64), np.zeros(0, bool), np.zeros(0, bool),
                   np.zeros((0, size, size, 3), np.uint8), error)


class CrossFacesError(AddError):
    """A file of a cross dataset cannot be read (the message names it)."""


def _c40_image(image: np.ndarray, scratch: Path) -> np.ndarray:
    """``image`` after a one-frame libx264 -crf 40 encode (padded to even sides for 4:2:0, cropped back)."""
    h, w = image.shape[:2]
    padded = cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
    video = scratch / "image.mp4"
    write_video(video, [padded], fps=25, quality="c40")
    (_, frame), = read_frames(video, [0])
    return frame[:h, :w].copy()


def find_faces(record: Record, key: FaceKey) -> FileFaces:
    """Every face of ``record``'s sampled frames (see the module docstring); a file that cannot be read gives
    status ``error`` with ffmpeg's or OpenCV's message naming it."""
    with tempfile.TemporaryDirectory(prefix="add-cross-") as scratch:
        try:
            return _find_faces(record, key, Path(scratch))
        except AddError as e:
            message = str(e) if str(record.path) in str(e) else f"{record.path}: {e}"
            return FileFaces.empty("error", key.image_size, message)


def _find_faces(record: Record, key: FaceKey, scratch: Path) -> FileFaces:
    path = record.path
    if record.is_image:
        image, _ = read_image(path)  # huge images decoded at a reduced size, as add predict does
        if key.compression == "c40":
            image = _c40_image(image, scratch)
        height, width = image.shape[:2]
        found = _faces_of(lambda wanted: ((i, image) for i in wanted), [0], width, height, key)
        if found.status == "no_face":
            found = _faces_of(lambda wanted: ((i, image) for i in wanted), [0], width, height, key,
                              key.faces.detect_padded)
        return found
    if key.compression == "c40":
        encoded = scratch / "c40.mp4"
        compress(path, encoded, "c40")
        path = encoded

    def sampled(info: VideoInfo) -> FileFaces:
        indices = sample_indices(info.frames, key.frames, "even")
        return _faces_of(lambda wanted: read_frames(path, wanted, info), indices, info.width, info.height, key)

    return with_frames(path, sampled)


def _faces_of(source: Callable[[list[int]], Iterator[tuple[int, np.ndarray]]], indices: list[int], width: int,
              height: int, key: FaceKey, detect: Callable[[np.ndarray], list] | None = None) -> FileFaces:
    """The faces of the frames ``source`` streams: ``face_crops`` keeps every candidate's crop (see below);
    ``detect``: instead of the key's settings' own (the padded retry). ``key.given``: the frames are the faces."""
    if key.given:
        given = given_crops(source, indices, width, height, lambda frame, box: crop(frame, box, key.image_size))
        if given is None:
            raise CrossFacesError("no frame decodes")
        boxes, crops = given
        n = len(boxes)
        return FileFaces("ok", np.array([b.frame for b in boxes], np.int64),
                         np.array([b.box for b in boxes], np.int64).reshape(n, 4), np.ones(n, bool),
                         np.ones(n, bool), np.stack([crops[b.frame] for b in boxes]))
    current: list[int] = [-1]
    candidates: dict[tuple[int, Box], np.ndarray] = {}

    def read(wanted: list[int]) -> Iterator[tuple[int, np.ndarray]]:
        for index, frame in source(list(wanted)):
            current[0] = index  # cut() below is called for this frame's boxes before the next one is read
            yield index, frame

    def cut(frame: np.ndarray, box: Box) -> np.ndarray:
        candidates[(current[0], box)] = crop(frame, box, key.image_size)
        return candidates[(current[0], box)]

    found = face_crops(read, indices, width, height, key.faces, cut, detect=detect)
    if found is None:
        return FileFaces.empty("no_face", key.image_size)
    boxes, _ = found
    ok_sides = [b.box[2] - b.box[0] for b in boxes if b.status == "ok"]
    reference = float(np.median(ok_sides)) if ok_sides else 0.0
    tolerance = key.faces.size_tolerance
    rows: list[tuple[int, Box, bool, bool]] = []
    for b in boxes:
        rows.append((b.frame, b.box, True, True))
        if b.status != "ok":
            continue  # a borrowed box: the frame has no face of its own
        for (frame, box) in candidates:
            side = box[2] - box[0]
            if frame == b.frame and box != b.box and reference / tolerance <= side <= reference * tolerance:
                rows.append((frame, box, False, True))
    rows.sort(key=lambda r: (r[0], not r[2], r[1]))
    return FileFaces("ok", np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64),
                     np.array([r[2] for r in rows], bool), np.array([r[3] for r in rows], bool),
                     np.stack([candidates[(r[0], r[1])] for r in rows]))


# ------------------------------------------------------------------------------------------------------- cache
_FINGERPRINTS: dict[tuple[str, int, int], dict[str, Any]] = {}


def fingerprint(path: Path) -> dict[str, Any]:
    """``{"size", "sha256"}`` of a file, hashed once per process while its size and mtime stay the same."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _FINGERPRINTS:
        _FINGERPRINTS[key] = file_record(path)
    return _FINGERPRINTS[key]


class FaceCache:
    """The cached :class:`FileFaces` of one dataset under one :class:`FaceKey`."""

    def __init__(self, root: str | os.PathLike, key: FaceKey):
        self.key = key
        self.folder = Path(root) / key.digest

    def paths(self, record: Record) -> tuple[Path, Path]:
        base = self.folder / record.video
        return base.with_name(base.name + ".json"), base.with_name(base.name + ".npy")

    def meta(self, record: Record) -> dict[str, Any] | None:
        """The cached description of ``record``'s faces (status, error, frames, boxes...); None when not cached,
        cached for different file content, or its crops are missing."""
        meta_path, crops_path = self.paths(record)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("source") != fingerprint(record.path):
                return None
        except (OSError, ValueError):
            return None
        return meta if meta.get("status") != "ok" or crops_path.is_file() else None

    def load(self, record: Record) -> FileFaces | None:
        """The cached faces of ``record``; None when not cached or cached for different file content."""
        _, crops_path = self.paths(record)
        meta = self.meta(record)
        if meta is None:
            return None
        try:
            n = len(meta["frames"])
            crops = (np.load(crops_path, allow_pickle=False) if n else
                     np.zeros((0, self.key.image_size, self.key.image_size, 3), np.uint8))
            if crops.shape[0] != n:
                return None
            return FileFaces(meta["status"], np.array(meta["frames"], np.int64).reshape(n),
                             np.array(meta["boxes"], np.int64).reshape(n, 4), np.array(meta["chosen"], bool),
                             np.array(meta["every"], bool), crops, meta.get("error", ""))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged cache entry is recomputed

    def load_done(self, record: Record) -> FileFaces:
        """The cached faces of a record :func:`faces_for` has processed (a :class:`CrossFacesError` otherwise)."""
        faces = self.load(record)
        if faces is None:
            raise CrossFacesError(f"{record.path}: its faces are not in the cache {self.folder} (was it changed "
                                  f"while the stage ran?)")
        return faces

    def store(self, record: Record, faces: FileFaces) -> None:
        meta_path, crops_path = self.paths(record)
        if faces.status == "ok":
            with atomic_path(crops_path) as tmp:
                np.save(tmp, faces.crops, allow_pickle=False)
        else:  # the crops of an earlier version of the file must not outlive it in the stage's output
            crops_path.unlink(missing_ok=True)
        atomic_write_json(meta_path, {
            "source": fingerprint(record.path), "status": faces.status, "error": faces.error,
            "frames": faces.frames.tolist(), "boxes": faces.boxes.tolist(), "chosen": faces.chosen.tolist(),
            "every": faces.every.tolist()})

    def write_key(self) -> None:
        path = self.folder / "key.json"
        if not path.is_file():
            atomic_write_json(path, self.key.to_json())


def faces_for(record: Record, cache_root: str, key: FaceKey) -> tuple[str, str, str]:
    """Find and cache ``record``'s faces unless cached (a worker's job); returns (video, status, error)."""
    cache = FaceCache(cache_root, key)
    meta = cache.meta(record)
    if meta is not None:
        return record.video, meta["status"], meta.get("error", "")
    faces = find_faces(record, key)
    cache.store(record, faces)
    return record.video, faces.status, faces.error
