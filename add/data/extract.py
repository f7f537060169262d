"""Stage ``extract``: detect the face in sampled frames and crop pixel-aligned raw/c23/c40 triplets.

Reads ``data/videos.parquet`` and writes, per video, ``data/faces/{method}/{video}.tar`` (docs/architecture.md),
``data/manifest.parquet`` (one row per frame decision) and flat totals in ``metrics/extract.json``.

Per video (a row of videos.parquet):

1. **Frame counts.** Every quality is probed (the probes run concurrently); qualities whose frame counts (or frame
   sizes) differ would not be frame-aligned, so the video is dropped (``dropped_video``, the counts in ``reason``).
   A file cut mid-stream usually lands here (ffmpeg counts only the frames that are there). A missing path, a file
   ffmpeg cannot read, a decode that stops before the last wanted frame: ``dropped_video`` with ffmpeg's message.
2. **Sampling.** ``data.frames_per_video`` indices out of the N frames: ``even`` takes the centres of N/k equal
   segments, ``random`` (as the paper) draws k distinct frames with a generator seeded by ``seed`` and
   ``crc32("original/{target}")`` — the target is the id whose footage the video shows, so a fake ``a_b`` samples
   the same frames as its original ``a`` and each target has its own stable draw.
3. **Decoding.** Every quality is decoded in one ffmpeg pass (the ``select`` filter passes only the sampled frames),
   the passes of all qualities running at once and read in lockstep, so the ffmpeg decoders work while the main
   process detects. Memory holds about one decoded frame per quality plus the small crops of one video, never a
   whole video. **Damaged data:** when a pass reports a decoder error (ffmpeg conceals the broken macroblocks,
   prints "error while decoding MB ..." and exits 0), the video is ``dropped_video`` with the quality and ffmpeg's
   first messages in ``reason``: the damage spreads through the predicted frames that follow it until the next
   keyframe and ffmpeg does not say which frames it touched, so no sampled frame of that video can be trusted.
4. **Detection** (:mod:`add.data.faces`) on the raw frames: dlib's HOG detector on the frame downscaled so its
   longer side is at most ``data.detect_max_side`` (a frame where that finds nothing is searched again at full
   resolution with one more level of upsampling, which finds faces down to ~40 px); detections scoring below
   ``data.detect_threshold`` or whose size is off the video's median face by more than
   ``data.detect_size_tolerance`` x are rejected; the largest face; a square box of side ``data.box_scale`` x
   max(w, h) kept inside the frame. Frames without a face borrow the box of the nearest frame (by index) with one:
   status ``fallback``, ``reason`` names that frame. No face at all: ``dropped_video``. Every candidate box is
   cropped from every quality as its frame streams by, so the crops of the chosen boxes are there at the end; only
   ``fallback`` frames are decoded a second time (all qualities, those frames only).
5. **Boxes of the original, reused by its fakes** (``data.reuse_boxes``, default true). A fake ``a_b`` shows the
   footage of original ``a`` with the face changed, so detecting again on it costs time and only adds box jitter
   between real and fake crops of the same frame. When ``a`` is listed in videos.parquet and kept, the fake is
   extracted after it and takes its boxes (status, score and fallback rule included: the manifest rows of the fake
   repeat those of the original; fallback reasons add "boxes of original/a") — provided the two are aligned:
   same frame count, frame size and sampled frames, and at every sampled frame the fake's raw frame equals the
   original's outside the face box. That last check compares 48-cell-wide grey thumbnails of the two frames (the
   original's are kept in its sidecar) over the cells wholly outside the box grown by one cell, and needs mean
   |diff| <= 1 and max |diff| <= 12 grey levels over at least 20% of the frame. A fake that fails any of it is
   detected on its own (and its sidecar says why). In the demo a fake equals its original outside the face box
   exactly (measured); FF++'s fakes were rendered from their originals' frames, so they should match there up to
   encoder rounding (not measured here: a fake that does not is simply detected on its own).
6. **Output.** The tar (sorted members, mtime 0, uid/gid 0, empty owner names, PNG at a fixed compression level:
   byte-identical on a rerun), then a sidecar ``{video}.decisions.json`` with the frame decisions, where the boxes
   came from, a fingerprint and the tar's size and sha256; both written atomically, the sidecar last.

**Resume.** A video is skipped (its decisions read back from the sidecar) when its sidecar's fingerprint matches —
a hash of the settings that shape the output and of the content (sha256, computed while the video is extracted) of
its input files, and for a fake that may reuse boxes, of its original's fingerprint — and, for a kept video, its
tar has the size and sha256 the sidecar recorded (a truncated or damaged tar is extracted again). Since the tar is
complete before the sidecar is written, a stage killed at any point resumes where it stopped and produces the same
bytes; ``--force`` ignores the sidecars. (DVC deletes the outputs of a stage before
it reruns it unless they are declared ``persist: true``.) At the end, tars and sidecars of videos that
videos.parquet no longer lists, and temp files of killed runs, are removed from the method folders.

Params (``data.*``; defaults in :class:`ExtractConfig`): ``qualities``, ``frames_per_video`` (64), ``sampling``
(even | random), ``image_size`` (128), ``jobs`` (0), ``detect_threshold`` (0.2: dlib's boundary is 0; real
frontal faces score ~0.3-2.5, the false hits we measured on skimage images score < 0.15), ``detect_upsample`` (0),
``detect_max_side`` (640; 0: full resolution), ``detect_size_tolerance`` (2.0), ``box_scale`` (1.3),
``reuse_boxes`` (true); and the top-level ``seed`` (random sampling only).

Videos run in parallel in ``data.jobs`` processes (0: every core), each with its own dlib detector; a fake that may
reuse boxes is started once its original is done (so the result never depends on the number of processes or on
timing); results are merged in the order of videos.parquet, the manifest sorted by split, method, video, frame.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import json
import math
import multiprocessing
import os
import re
import signal
import sys
import tarfile
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from tqdm import tqdm

from add.data.faces import (
    Box,
    FaceSettings,
    FrameBox,
    crop,
    face_crops,
    outside_difference,
    thumbnail,
)
from add.data.video import QUALITY_CRF, VideoError, VideoInfo, probe, read_frames
from add.errors import AddError
from add.io import HashingWriter, atomic_path, atomic_write, atomic_write_json, file_record, safe_join
from add.params import get_bool, get_choice, get_int, get_list, get_seed, load_params, section

if TYPE_CHECKING:
    import pandas as pd

VIDEOS = "data/videos.parquet"
FACES = "data/faces"
MANIFEST = "data/manifest.parquet"
METRICS = "metrics/extract.json"

ORIGINAL = "original"  # add.data.ffpp.ORIGINAL (not imported: ffpp imports pandas, which workers never need)
STATUSES = ("ok", "fallback", "dropped_frame", "dropped_video")
MANIFEST_COLUMNS = ["split", "method", "video", "frame", "label", "x0", "y0", "x1", "y1", "score", "status", "reason"]
SIDECAR_SUFFIX = ".decisions.json"
SIDECAR_FORMAT = "add.extract/3"
PNG_COMPRESSION = 3  # fixed, so that a rerun writes the same bytes
# A fake may take its original's boxes when, at every sampled frame, the grey thumbnails of their raw frames differ
# outside the face box by at most this much (mean, max; grey levels) over at least this fraction of the frame.
ALIGN_MEAN_MAX = 1.0
ALIGN_MAX = 12.0
ALIGN_MIN_COMPARED = 0.2
DETECTED = "detected"  # VideoResult.boxes_from of a video whose boxes come from its own frames


class ExtractError(AddError):
    """videos.parquet or the face folder is unusable; the message names the file and the problem."""


@dataclass(frozen=True)
class ExtractConfig:
    """The ``data.*`` params that drive extraction (and the top-level ``seed``), validated."""

    qualities: tuple[str, ...] = ("raw", "c23", "c40")
    frames_per_video: int = 64
    sampling: str = "even"
    seed: int = 0
    image_size: int = 128
    jobs: int = 0
    detect_threshold: float = 0.2
    detect_upsample: int = 0
    detect_max_side: int = 640
    detect_size_tolerance: float = 2.0
    box_scale: float = 1.3
    reuse_boxes: bool = True

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ExtractConfig:
        data = section(dict(params), "data")
        w = "data"
        d = cls()
        seed = get_seed(params)
        faces = FaceSettings.from_params(params)
        return cls(
            qualities=tuple(get_list(data, "qualities", list(d.qualities), where=w, choices=list(QUALITY_CRF))),
            frames_per_video=get_int(data, "frames_per_video", d.frames_per_video, where=w, min=1, max=100_000),
            sampling=get_choice(data, "sampling", d.sampling, ("even", "random"), where=w),
            seed=seed,
            image_size=get_int(data, "image_size", d.image_size, where=w, min=16, max=4096),
            jobs=get_int(data, "jobs", d.jobs, where=w, min=0, max=1024),
            detect_threshold=faces.threshold,
            detect_upsample=faces.upsample,
            detect_max_side=faces.max_side,
            detect_size_tolerance=faces.size_tolerance,
            box_scale=faces.box_scale,
            reuse_boxes=get_bool(data, "reuse_boxes", d.reuse_boxes, where=w),
        )

    @property
    def detect_quality(self) -> str:
        """The quality faces are detected on: raw, or the best one listed when raw is not."""
        return min(self.qualities, key=lambda q: QUALITY_CRF[q])

    def workers(self, n_videos: int) -> int:
        jobs = self.jobs or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        return max(1, min(jobs, n_videos))

    def output_settings(self) -> dict[str, Any]:
        """What shapes a video's tar and decisions (not ``jobs``); the resume fingerprint hashes it."""
        out = asdict(self)
        out.pop("jobs")
        out["qualities"] = list(self.qualities)
        if self.sampling == "even":
            out.pop("seed")
        return out


# ------------------------------------------------------------------------------------------------------- sampling
def video_seed(seed: int, method: str, video: str) -> int:
    """A per-video seed, stable across processes and Python versions (crc32, never ``hash()``)."""
    return (seed * 0x9E3779B1 + zlib.crc32(f"{method}/{video}".encode())) % 2**63


def sample_indices(n_frames: int, wanted: int, sampling: str = "even", seed: int = 0) -> list[int]:
    """Sorted, unique frame indices: all frames when ``n_frames <= wanted``; else ``wanted`` of them, evenly spaced
    (the centre of each of ``wanted`` equal segments) or drawn at random with ``seed``."""
    if n_frames < 1 or wanted < 1:
        raise ValueError(f"need n_frames >= 1 and wanted >= 1, got {n_frames}, {wanted}")
    if n_frames <= wanted:
        return list(range(n_frames))
    if sampling == "even":
        return [int((2 * i + 1) * n_frames // (2 * wanted)) for i in range(wanted)]
    if sampling == "random":
        rng = np.random.default_rng(seed)
        return sorted(int(i) for i in rng.choice(n_frames, size=wanted, replace=False))
    raise ValueError(f"unknown sampling {sampling!r}; choose even or random")


# ---------------------------------------------------------------------------------------------------- one video
@dataclass(frozen=True)
class VideoJob:
    index: int
    split: str
    method: str
    video: str
    label: int
    paths: dict[str, str | None]
    tar: str
    sidecar: str
    target: str = ""  # the id whose footage the video shows (videos.parquet ``target``); "": the video's first id

    @property
    def key(self) -> str:
        return f"{self.method}/{self.video}"

    @property
    def footage(self) -> str:
        return self.target or self.video.split("_")[0]


@dataclass(frozen=True, eq=False)
class Alignment:
    """What a fake needs of its original to check that their frames align: the original's frame count and size (of
    the detection quality), its sampled frames and a grey thumbnail of each (``k x h x w`` uint8)."""

    frames: int
    width: int
    height: int
    indices: tuple[int, ...]
    thumbs: np.ndarray

    def to_json(self) -> dict[str, Any]:
        blob = base64.b64encode(zlib.compress(np.ascontiguousarray(self.thumbs).tobytes(), 6)).decode("ascii")
        return {"frames": self.frames, "width": self.width, "height": self.height, "indices": list(self.indices),
                "shape": list(self.thumbs.shape), "thumbs": blob}

    @classmethod
    def from_json(cls, data: Any) -> Alignment | None:
        """The alignment stored in a sidecar; None when it is missing or damaged."""
        try:
            shape = tuple(int(v) for v in data["shape"])
            indices = tuple(int(i) for i in data["indices"])
            thumbs = np.frombuffer(zlib.decompress(base64.b64decode(data["thumbs"], validate=True)), np.uint8)
            if len(shape) != 3 or shape[0] != len(indices) or thumbs.size != math.prod(shape):
                return None
            return cls(int(data["frames"]), int(data["width"]), int(data["height"]), indices, thumbs.reshape(shape))
        except (KeyError, TypeError, ValueError, zlib.error):
            return None


@dataclass(frozen=True)
class Reference:
    """The original of a fake's target: where the fake may take its boxes from."""

    key: str  # "original/000"
    fingerprint: str | None
    decisions: tuple[dict[str, Any], ...]  # its kept frame decisions; empty when it was dropped
    alignment: Alignment | None


@dataclass
class VideoResult:
    index: int
    decisions: list[dict[str, Any]]  # frame, x0, y0, x1, y1, score, status, reason
    seconds: float | None  # None when resumed from the sidecar
    resumed: bool = False
    fingerprint: str | None = None
    boxes_from: str = ""  # DETECTED, the key of the original whose boxes were reused, or "" (dropped video)
    note: str = ""  # why an original's boxes were not reused
    alignment: Alignment | None = field(default=None, repr=False)  # kept originals, for their fakes
    tar: dict[str, Any] | None = None  # {"size", "sha256"} of the tar written (kept videos)


_FFMPEG_ADDRESS = re.compile(r" @ 0x[0-9a-fA-F]+")  # "[h264 @ 0x55bb...]" in ffmpeg's messages: differs per run


def _drop(reason: str) -> list[dict[str, Any]]:
    nan = math.nan
    return [{"frame": -1, "x0": nan, "y0": nan, "x1": nan, "y1": nan, "score": nan, "status": "dropped_video",
             "reason": _FFMPEG_ADDRESS.sub("", reason)}]


def _kept(decisions: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [d for d in decisions if d["status"] in ("ok", "fallback")]


def face_settings(cfg: ExtractConfig) -> FaceSettings:
    """The face pipeline's settings in ``cfg`` (what a checkpoint's model card records for ``add predict``)."""
    return FaceSettings(cfg.detect_threshold, cfg.detect_upsample, cfg.detect_max_side, cfg.detect_size_tolerance,
                        cfg.box_scale)


def _file_sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def fingerprint(job: VideoJob, cfg: ExtractConfig, reference: tuple[str, str | None] | None = None) -> str | None:
    """Hash of the output settings, the video's key, its input files' content and, for a fake that may reuse its
    original's boxes, ``reference`` = (the original's key, its fingerprint); None if a file is unreadable."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": SIDECAR_FORMAT, "key": job.key, "settings": cfg.output_settings(),
                         "reference": list(reference) if reference else None}, sort_keys=True).encode())
    for q in cfg.qualities:
        path = job.paths.get(q)
        if not path:
            return None
        try:
            h.update(f"{q}:{_file_sha256(path)}".encode())
        except OSError:
            return None
    return h.hexdigest()


def _read_sidecar(job: VideoJob, cfg: ExtractConfig, print_: str | None) -> VideoResult | None:
    """The stored result of a video whose outputs are complete and current, else None."""
    if print_ is None:
        return None
    try:
        side = json.loads(Path(job.sidecar).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(side, dict) or side.get("format") != SIDECAR_FORMAT or side.get("fingerprint") != print_:
        return None
    decisions = side.get("decisions")
    if not isinstance(decisions, list) or not decisions or not all(isinstance(d, dict) for d in decisions):
        return None
    kept = bool(_kept(decisions))
    tar = side.get("tar")
    if kept and not _tar_matches(job.tar, tar):
        return None
    alignment = None
    if kept and job.method == ORIGINAL and cfg.reuse_boxes:
        alignment = Alignment.from_json(side.get("alignment"))
        if alignment is None:  # its fakes need it: extract again rather than let them depend on what survived
            return None
    decisions = [{k: (math.nan if v is None else v) for k, v in d.items()} for d in decisions]
    return VideoResult(job.index, decisions, None, resumed=True, fingerprint=print_,
                       boxes_from=str(side.get("boxes_from", "")), note=str(side.get("note", "")),
                       alignment=alignment, tar=tar if kept else None)


def _tar_matches(path: str, record: Any) -> bool:
    """The tar at ``path`` is the one the sidecar recorded: same size (checked first, for free), same sha256."""
    if not (isinstance(record, dict) and isinstance(record.get("size"), int) and isinstance(record.get("sha256"), str)):
        return False
    try:
        if os.stat(path).st_size != record["size"]:
            return False
        return file_record(path) == {"size": record["size"], "sha256": record["sha256"]}
    except OSError:
        return False


def _write_sidecar(job: VideoJob, result: VideoResult) -> None:
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}
             for d in result.decisions]
    atomic_write_json(job.sidecar, {"format": SIDECAR_FORMAT, "fingerprint": result.fingerprint,
                                    "boxes_from": result.boxes_from, "note": result.note, "decisions": clean,
                                    "tar": result.tar,
                                    "alignment": result.alignment.to_json() if result.alignment else None})


def _png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise RuntimeError("cv2.imencode failed to encode a PNG")
    return buf.tobytes()


def write_tar(path: str | os.PathLike, members: Mapping[str, bytes]) -> dict[str, Any]:
    """A reproducible tar: members sorted by name, mtime 0, uid/gid 0, empty owner names, mode 0644; atomic.
    Returns ``{"size", "sha256"}`` of the bytes written."""
    with atomic_write(path) as f:
        out = HashingWriter(f)
        with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name in sorted(members):
                blob = members[name]
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(blob), 0, 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(blob))
    return out.record()


def _probe_all(job: VideoJob, cfg: ExtractConfig) -> dict[str, VideoInfo] | str:
    """Probe every quality (concurrently); the drop reason (str) when one is missing/unreadable or they disagree."""
    missing = [q for q in cfg.qualities if not job.paths.get(q)]
    if missing:
        return f"{missing[0]}: no file listed in videos.parquet"
    with ThreadPoolExecutor(len(cfg.qualities)) as pool:
        probes = {q: pool.submit(probe, job.paths[q]) for q in cfg.qualities}
    infos = {}
    for q, pending in probes.items():
        try:
            infos[q] = pending.result()
        except VideoError as e:
            return f"{q}: {e}"
    counts = {q: i.frames for q, i in infos.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{q}={n}" for q, n in counts.items())
        return f"frame counts differ between qualities ({listed}): frames would not be aligned"
    sizes = {q: (i.width, i.height) for q, i in infos.items()}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{q}={w}x{h}" for q, (w, h) in sizes.items())
        return f"frame sizes differ between qualities ({listed}): crops would not be aligned"
    return infos


class _StreamError(Exception):
    """A quality's decode failed (the VideoError and its quality)."""

    def __init__(self, quality: str, error: Exception):
        super().__init__(f"{quality}: {error}")
        self.quality, self.error = quality, error


class _NotAligned(Exception):
    """The original's boxes cannot be reused; the message says why."""


def _lockstep(job: VideoJob, qualities: Sequence[str], indices: Sequence[int], infos: Mapping[str, VideoInfo]
              ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Yield ``(index, {quality: frame})`` for the sorted ``indices``: one ffmpeg select pass per quality, all
    running at once, each decoding its next frame while the caller works on the current ones."""
    streams = {q: read_frames(job.paths[q], indices, infos[q]) for q in qualities}
    try:
        for index in indices:
            frames = {}
            for q, stream in streams.items():
                try:
                    got, frames[q] = next(stream)
                except VideoError as e:
                    raise _StreamError(q, e) from None
                except StopIteration:
                    raise _StreamError(q, VideoError(f"{job.paths[q]}: stream ended before frame {index}")) from None
                if got != index:  # read_frames yields the indices it was given, in order
                    raise RuntimeError(f"{job.paths[q]}: got frame {got}, expected {index}")
            yield index, frames
        for q, stream in streams.items():  # every frame is in: let each pass finish and report decoder errors
            try:
                next(stream)
            except StopIteration:
                pass
            except VideoError as e:
                raise _StreamError(q, e) from None
            else:
                raise RuntimeError(f"{job.paths[q]}: more frames than the {len(indices)} selected")
    finally:
        for stream in streams.values():
            stream.close()  # stops a decoder that is still running (after an error or a refusal)


Pngs = dict[str, dict[int, Future]]  # quality -> frame -> the PNG bytes of its crop, being encoded


def _detect(job: VideoJob, cfg: ExtractConfig, infos: Mapping[str, VideoInfo], indices: Sequence[int],
            encoder: ThreadPoolExecutor) -> tuple[list[FrameBox] | None, Pngs, Alignment | None]:
    """Detect on the detection quality's frames (:func:`add.data.faces.face_crops`, the pipeline ``add predict``
    runs too); crop every candidate box from every quality as the frames stream by and have ``encoder`` make its
    PNGs meanwhile. Returns the boxes (None: no face at all), the PNGs of their crops and, for an original, its
    alignment."""
    dq = cfg.detect_quality
    info = infos[dq]
    keep_thumbs = cfg.reuse_boxes and job.method == ORIGINAL
    thumbs = []

    def read(wanted: list[int]) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        return _lockstep(job, cfg.qualities, wanted, infos)

    def cut(frames: Mapping[str, np.ndarray], box: Box) -> dict[str, Future]:  # a few KB per quality
        return {q: encoder.submit(_png, crop(frames[q], box, cfg.image_size)) for q in cfg.qualities}

    found = face_crops(read, indices, info.width, info.height, face_settings(cfg), cut, image=lambda f: f[dq],
                       seen=(lambda _, f: thumbs.append(thumbnail(f[dq]))) if keep_thumbs else None)
    if found is None:
        return None, {}, None
    boxes, crops = found
    pngs: Pngs = {q: {frame: crops[frame][q] for frame in sorted(crops)} for q in cfg.qualities}
    alignment = Alignment(info.frames, info.width, info.height, tuple(indices), np.stack(thumbs)) if keep_thumbs \
        else None
    return boxes, pngs, alignment


def _reuse(job: VideoJob, cfg: ExtractConfig, infos: Mapping[str, VideoInfo], indices: Sequence[int],
           ref: Reference, encoder: ThreadPoolExecutor) -> tuple[list[FrameBox], Pngs]:
    """The original's boxes and the PNGs of this video's crops of them; raises _NotAligned (saying why) when the
    two videos do not align, checking every sampled frame as it streams by."""
    dq = cfg.detect_quality
    info = infos[dq]
    if not ref.decisions:
        raise _NotAligned(f"{ref.key} was dropped")
    a = ref.alignment
    if a is None:
        raise _NotAligned(f"{ref.key} has no alignment thumbnails")
    if (a.frames, a.width, a.height) != (info.frames, info.width, info.height):
        raise _NotAligned(f"{ref.key} has {a.frames} frames of {a.width}x{a.height}, this video {info.frames} "
                          f"frames of {info.width}x{info.height}")
    if list(a.indices) != list(indices) or [int(d["frame"]) for d in ref.decisions] != list(indices):
        raise _NotAligned(f"{ref.key} was sampled at other frames")
    boxes = []
    for d in ref.decisions:
        reason = d["reason"] + (f"; boxes of {ref.key}" if d["status"] != "ok" else "")
        box = (int(d["x0"]), int(d["y0"]), int(d["x1"]), int(d["y1"]))
        boxes.append(FrameBox(int(d["frame"]), box, float(d["score"]), str(d["status"]), reason))
    by_frame = {b.frame: b.box for b in boxes}
    thumbs = dict(zip(a.indices, a.thumbs, strict=True))
    pngs: Pngs = {q: {} for q in cfg.qualities}
    with contextlib.closing(_lockstep(job, cfg.qualities, indices, infos)) as stream:  # stops the decoders early
        for idx, frames in stream:
            box = by_frame[idx]
            mean, worst, compared = outside_difference(thumbnail(frames[dq]), thumbs[idx], box, info.width,
                                                       info.height)
            if compared < ALIGN_MIN_COMPARED:
                raise _NotAligned(f"frame {idx}: the face box leaves {compared:.0%} of the frame to compare "
                                  f"(< {ALIGN_MIN_COMPARED:.0%})")
            if not (mean <= ALIGN_MEAN_MAX and worst <= ALIGN_MAX):
                raise _NotAligned(f"frame {idx} differs from {ref.key} outside the face box (mean |diff| "
                                  f"{mean:.2f}, max {worst:.0f} grey levels; allowed {ALIGN_MEAN_MAX:g}, "
                                  f"{ALIGN_MAX:g})")
            for q in cfg.qualities:
                pngs[q][idx] = encoder.submit(_png, crop(frames[q], box, cfg.image_size))
    return boxes, pngs


def _write(job: VideoJob, cfg: ExtractConfig, boxes: Sequence[FrameBox], pngs: Pngs
           ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Write the video's tar; return its frame decisions and the tar's size and sha256."""
    members = {}
    for b in boxes:
        for q in cfg.qualities:
            members[f"{b.frame:04d}.{q}.png"] = pngs[q][b.frame].result()
        meta = {"box": list(b.box), "score": b.score, "status": b.status}
        members[f"{b.frame:04d}.json"] = json.dumps(meta, sort_keys=True).encode()
    record = write_tar(job.tar, members)
    return [{"frame": b.frame, "x0": float(b.box[0]), "y0": float(b.box[1]), "x1": float(b.box[2]),
             "y1": float(b.box[3]), "score": b.score, "status": b.status, "reason": b.reason} for b in boxes], record


def _extract(job: VideoJob, cfg: ExtractConfig, reference: Reference | None) -> VideoResult:
    """Decisions for one video (and where its boxes came from), writing its tar when it is kept."""
    infos = _probe_all(job, cfg)
    if isinstance(infos, str):
        return VideoResult(job.index, _drop(infos), None)
    dq = cfg.detect_quality
    info = infos[dq]
    indices = sample_indices(info.frames, cfg.frames_per_video, cfg.sampling,
                             video_seed(cfg.seed, ORIGINAL, job.footage))
    note = ""
    # PNGs are encoded in a thread while frames are decoded and faces detected (cv2 releases the GIL).
    with ThreadPoolExecutor(1) as encoder:
        try:
            if reference is not None:
                try:
                    boxes, pngs = _reuse(job, cfg, infos, indices, reference, encoder)
                    decisions, tar = _write(job, cfg, boxes, pngs)
                    return VideoResult(job.index, decisions, None, boxes_from=reference.key, tar=tar)
                except _NotAligned as e:
                    note = f"boxes of {reference.key} not reused: {e}"
            boxes, pngs, alignment = _detect(job, cfg, infos, indices, encoder)
        except _StreamError as e:
            return VideoResult(job.index, _drop(str(e)), None, note=note)
        if boxes is None:
            reason = f"no face in any of the {len(indices)} sampled frames (dlib score >= {cfg.detect_threshold:g})"
            return VideoResult(job.index, _drop(reason), None, note=note)
        decisions, tar = _write(job, cfg, boxes, pngs)
        return VideoResult(job.index, decisions, None, boxes_from=DETECTED, note=note, alignment=alignment, tar=tar)


def extract_video(job: VideoJob, cfg: ExtractConfig, print_: str | None = None,
                  reference: Reference | None = None) -> VideoResult:
    """Extract one video: write its tar (when kept) and its sidecar, return its decisions. ``reference``: the
    original of a fake's target (see :func:`extract_videos`); the fingerprint is hashed meanwhile when not given."""
    start = time.perf_counter()
    ref_pair = (reference.key, reference.fingerprint) if reference is not None else None
    with ThreadPoolExecutor(1) as hasher:  # sha256 releases the GIL: hash the inputs while they are decoded
        pending = hasher.submit(fingerprint, job, cfg, ref_pair) if print_ is None else None
        try:
            result = _extract(job, cfg, reference)
        except Exception as e:  # a bug or an unforeseen input: stop the stage, naming the video
            raise RuntimeError(f"{job.key} ({job.paths}): {type(e).__name__}: {e}") from e
        result.fingerprint = pending.result() if pending is not None else print_
    if result.fingerprint is not None:
        _write_sidecar(job, result)
    result.seconds = time.perf_counter() - start
    return result


def reference_map(jobs: Sequence[VideoJob]) -> dict[int, int]:
    """``{fake job index: index of the original of its target}`` for the fakes whose original is listed."""
    originals = {job.video: job.index for job in jobs if job.method == ORIGINAL}
    return {job.index: originals[job.footage] for job in jobs if job.method != ORIGINAL and job.footage in originals}


class _Inline:
    """The executor of one worker: runs each task in this process when it is submitted."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as e:
            future.set_exception(e)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def extract_videos(jobs: Sequence[VideoJob], cfg: ExtractConfig, *, workers: int | None = None,
                   force: bool = False, done: Callable[[VideoResult], None] | None = None) -> dict[int, VideoResult]:
    """Extract every job, or read it back from its sidecar (unless ``force``); ``done(result)`` after each one.

    Originals (and fakes whose original is not listed) go first; with ``cfg.reuse_boxes`` a fake starts once its
    original is done and gets it as its :class:`Reference`, so results never depend on ``workers`` (default
    ``cfg.workers``) or timing. Fakes whose original is done are preferred to new originals, which bounds the
    thumbnails held in memory.
    """
    by_index = {job.index: job for job in jobs}
    ref_of = reference_map(jobs) if cfg.reuse_boxes else {}
    prints: dict[int, str | None] = {}
    results: dict[int, VideoResult] = {}

    def ref_pair(job: VideoJob) -> tuple[str, str | None] | None:
        if job.index not in ref_of:
            return None
        original = by_index[ref_of[job.index]]
        return original.key, print_of(original)

    def print_of(job: VideoJob) -> str | None:
        if job.index not in prints:
            prints[job.index] = fingerprint(job, cfg, ref_pair(job))
        return prints[job.index]

    def finish(result: VideoResult) -> None:
        results[result.index] = result
        if done is not None:
            done(result)

    todo = []
    for job in sorted(jobs, key=lambda j: j.index in ref_of):  # stable: originals first
        stored = _read_sidecar(job, cfg, print_of(job)) if not force and Path(job.sidecar).is_file() else None
        if stored is not None:
            finish(stored)
        else:
            todo.append(job)
    waiting: dict[int, list[VideoJob]] = {}
    users: dict[int, int] = {}  # original index -> fakes not yet started that need its alignment
    ready, ready_fakes = deque(), deque()
    for job in todo:
        original = ref_of.get(job.index)
        if original is None:
            ready.append(job)
            continue
        users[original] = users.get(original, 0) + 1
        if original in results:  # resumed
            ready_fakes.append(job)
        else:
            waiting.setdefault(original, []).append(job)

    def release(index: int) -> None:
        if users.get(index, 0) == 0 and index in results:
            results[index].alignment = None  # no fake left to check against it

    for index in list(results):
        release(index)

    def reference_for(job: VideoJob) -> Reference | None:
        if job.index not in ref_of:
            return None
        original = ref_of[job.index]
        r = results[original]
        ref = Reference(by_index[original].key, r.fingerprint, tuple(_kept(r.decisions)), r.alignment)
        users[original] -= 1
        release(original)
        return ref

    workers = workers or cfg.workers(len(todo))
    # spawn, not fork: the parent holds pyarrow/tqdm threads; workers import only what extract_video needs.
    executor = _Inline() if workers <= 1 or len(todo) <= 1 else ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_started, initargs=(os.getpid(),))
    inline = isinstance(executor, _Inline)
    limit = 1 if inline else 2 * workers
    in_flight: dict[Future, VideoJob] = {}
    try:
        with _sigint_remembered() as interrupted:
            while ready or ready_fakes or in_flight:
                while (ready or ready_fakes) and len(in_flight) < limit:
                    job = (ready_fakes or ready).popleft()
                    # a worker the pool starts meanwhile inherits the blocked SIGINT; inline, Ctrl-C stays live
                    with contextlib.nullcontext() if inline else _sigint_blocked():
                        future = executor.submit(extract_video, job, cfg, prints.get(job.index), reference_for(job))
                    in_flight[future] = job
                finished, _ = wait(in_flight, timeout=_POLL_SECONDS, return_when=FIRST_COMPLETED)
                if interrupted.is_set():
                    raise KeyboardInterrupt
                for future in sorted(finished, key=lambda f: in_flight[f].index):
                    job = in_flight.pop(future)
                    finish(future.result())
                    ready_fakes.extend(waiting.pop(job.index, []))
                    release(job.index)
                if interrupted.is_set():
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        _stop_now(executor)
        raise
    except BaseException:
        try:
            executor.shutdown(wait=True, cancel_futures=True)  # a video failed: let the running ones finish
        except KeyboardInterrupt:
            _stop_now(executor)
            raise
        raise
    executor.shutdown()
    return results


# --------------------------------------------------------------------------------------------- interrupting
# Ctrl-C sends SIGINT to the whole foreground process group. The workers (and, through them, their ffmpeg
# decoders) start with SIGINT blocked, so only this process sees it; it then kills the workers at once instead of
# waiting for their videos: what they finished is on disk (tar, then sidecar, each written atomically) and a video
# cut short leaves at most a temp file that the next run removes, so a rerun resumes exactly where this one stopped.


_POLL_SECONDS = 0.2  # how often the scheduler looks at the Ctrl-C flag while it waits for a video


@contextlib.contextmanager
def _sigint_remembered() -> Iterator[threading.Event]:
    """Meanwhile SIGINT raises KeyboardInterrupt as usual *and* sets the yielded flag, which the scheduler checks.

    Python raises a signal handler's exception wherever the main thread happens to be; when that is a finaliser
    (``__del__`` of a pipe or a future the pool drops, a weakref callback) the KeyboardInterrupt is printed as
    "Exception ignored" and lost, and extraction ran on to the end. The flag cannot be lost. A handler someone else
    installed (or SIGINT ignored) is left alone, and outside the main thread nothing changes."""
    interrupted = threading.Event()
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield interrupted
        return

    def on_sigint(signum: int, frame: Any) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread meanwhile (a Ctrl-C then is delivered when the block ends); processes started
    meanwhile keep it blocked."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _worker_started(parent: int) -> None:
    """Initializer of a worker process: it dies with the stage even when the stage is killed outright (SIGKILL,
    out of memory), instead of waiting forever for its next video (Linux; best effort elsewhere)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _stop_now(executor: ProcessPoolExecutor | _Inline) -> None:
    """End every worker now, whatever it is doing, and never wait on one; a second Ctrl-C meanwhile waits."""
    if isinstance(executor, _Inline):
        return
    with _sigint_blocked():
        processes = list((getattr(executor, "_processes", None) or {}).values())
        results = getattr(executor, "_result_queue", None)
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(Exception):
                process.kill()
        for process in processes:
            process.join(5)
        # A worker killed while sending a result leaves half a message in the result pipe: closing our end of it
        # lets the pool's manager thread read EOF instead of waiting for the rest (which would block our exit).
        writer = getattr(results, "_writer", None)
        if writer is not None:
            with contextlib.suppress(OSError):
                writer.close()


# ----------------------------------------------------------------------------------------------------- stage
def read_videos(path: str | os.PathLike, qualities: Sequence[str]) -> pd.DataFrame:
    """videos.parquet, validated: required columns, labels 0/1, unique (method, video), names safe as file names;
    relative video paths (the videos stage writes those inside the repository so) resolved against the working
    directory."""
    import pandas as pd  # here, not at the top: spawned workers never need it (1.5 s to import)

    path = Path(path)
    if not path.is_file():
        raise ExtractError(f"{path}: videos table not found (run the videos stage first)")
    try:
        table = pd.read_parquet(path)
    except Exception as e:
        raise ExtractError(f"{path}: cannot read the videos table: {e}") from None
    missing = [c for c in ("split", "method", "video", "label", *qualities) if c not in table.columns]
    if missing:
        raise ExtractError(f"{path}: missing column(s) {missing} (data.qualities asks for {list(qualities)})")
    if table.empty:
        raise ExtractError(f"{path}: lists no videos")
    for col in ("split", "method", "video"):
        bad = table[~table[col].map(lambda v: isinstance(v, str) and v != "" and "/" not in v and "\\" not in v
                                    and not v.startswith("."))]
        if not bad.empty:
            raise ExtractError(f"{path}: column {col!r} has values that cannot be file names: "
                               f"{bad[col].head(3).tolist()}")
    if not table["label"].isin([0, 1]).all():
        raise ExtractError(f"{path}: column 'label' must be 0 (real) or 1 (fake), got "
                           f"{sorted(set(table['label'].tolist()) - {0, 1})[:5]}")
    dup = table.duplicated(["method", "video"], keep=False)
    if dup.any():
        twice = table.loc[dup, ["method", "video"]].head(4).values.tolist()
        raise ExtractError(f"{path}: videos listed twice: {twice}")
    cwd = os.getcwd()
    for q in qualities:
        table[q] = table[q].map(lambda v: os.path.join(cwd, v) if isinstance(v, str) and v else v)
    return table.sort_values(["split", "method", "video"], kind="stable").reset_index(drop=True)


def _jobs(table: pd.DataFrame, out_dir: Path, qualities: Sequence[str]) -> list[VideoJob]:
    jobs = []
    for i, r in enumerate(table.to_dict("records")):
        tar = safe_join(out_dir, f"{r['method']}/{r['video']}.tar")
        sidecar = safe_join(out_dir, f"{r['method']}/{r['video']}{SIDECAR_SUFFIX}")
        paths = {q: (str(r[q]) if isinstance(r[q], str) and r[q] else None) for q in qualities}
        target = r.get("target")
        jobs.append(VideoJob(i, r["split"], r["method"], r["video"], int(r["label"]), paths, str(tar), str(sidecar),
                             target if isinstance(target, str) else ""))
    return jobs


def _clean_stale(out_dir: Path, jobs: Sequence[VideoJob], results: Mapping[int, VideoResult]) -> int:
    """Remove, from the method folders of this run, tars/sidecars of videos not kept now and temp leftovers."""
    keep = set()
    for job in jobs:
        keep.add(Path(job.sidecar))
        if any(d["status"] in ("ok", "fallback") for d in results[job.index].decisions):
            keep.add(Path(job.tar))
    removed = 0
    for method in sorted({job.method for job in jobs}):
        folder = out_dir / method
        if not folder.is_dir():
            continue
        for f in folder.iterdir():
            temp = f.name.startswith(".") and f.name.endswith(".tmp")
            ours = f.name.endswith(".tar") or f.name.endswith(SIDECAR_SUFFIX)
            if f.is_file() and (temp or (ours and f.resolve() not in keep)):
                f.unlink()
                removed += 1
    return removed


def _manifest(jobs: Sequence[VideoJob], results: Mapping[int, VideoResult]) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for job in jobs:
        for d in results[job.index].decisions:
            rows.append({"split": job.split, "method": job.method, "video": job.video, "frame": int(d["frame"]),
                         "label": job.label, "x0": d["x0"], "y0": d["y0"], "x1": d["x1"], "y1": d["y1"],
                         "score": d["score"], "status": d["status"], "reason": d["reason"]})
    table = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    table = table.astype({"frame": "int64", "label": "int64", "x0": "float64", "y0": "float64", "x1": "float64",
                          "y1": "float64", "score": "float64"})
    return table.sort_values(["split", "method", "video", "frame"], kind="stable").reset_index(drop=True)


def _metrics(manifest: pd.DataFrame, results: Mapping[int, VideoResult], seconds_total: float) -> dict[str, Any]:
    status = manifest["status"].value_counts()
    kept_videos = manifest[manifest["status"].isin(["ok", "fallback"])][["method", "video"]].drop_duplicates()
    timed = [r.seconds for r in results.values() if r.seconds is not None]
    metrics = {
        "videos": len(results),
        "videos_kept": len(kept_videos),
        "videos_dropped": int(status.get("dropped_video", 0)),
        "videos_resumed": sum(r.resumed for r in results.values()),
        "videos_boxes_reused": sum(r.boxes_from not in ("", DETECTED) for r in results.values()),
        "frames_kept": int(status.get("ok", 0) + status.get("fallback", 0)),
        "frames_fallback": int(status.get("fallback", 0)),
        "seconds_per_video": round(float(np.mean(timed)), 4) if timed else 0.0,
        "seconds_total": round(seconds_total, 3),
    }
    metrics.update({f"status_{s}": int(status.get(s, 0)) for s in STATUSES})
    return metrics


def run(params: Mapping[str, Any] | str | os.PathLike, videos: str | os.PathLike = VIDEOS,
        out_dir: str | os.PathLike = FACES, manifest: str | os.PathLike = MANIFEST,
        metrics: str | os.PathLike = METRICS, *, force: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run the stage; return its metrics. ``params`` is the params dict or the path of params.yaml."""
    start = time.perf_counter()
    if not isinstance(params, Mapping):
        params = load_params(params)
    cfg = ExtractConfig.from_params(params)
    out_dir = Path(out_dir)
    table = read_videos(videos, cfg.qualities)
    jobs = _jobs(table, out_dir, cfg.qualities)
    bar = tqdm(total=len(jobs), desc="extract", unit="video", disable=not progress)
    counts = {"dropped": 0, "resumed": 0, "reused": 0}

    def done(result: VideoResult) -> None:
        counts["dropped"] += result.decisions[0]["status"] == "dropped_video"
        counts["resumed"] += result.resumed
        counts["reused"] += result.boxes_from not in ("", DETECTED)
        bar.update(1)
        bar.set_postfix(counts)

    try:
        results = extract_videos(jobs, cfg, force=force, done=done)
    finally:
        bar.close()
    _clean_stale(out_dir, jobs, results)
    table = _manifest(jobs, results)
    with atomic_path(manifest) as tmp:
        table.to_parquet(tmp, index=False)
    totals = _metrics(table, results, time.perf_counter() - start)
    atomic_write_json(metrics, totals)
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="add extract", description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params.yaml", help="params file (data.* and seed are read)")
    parser.add_argument("--videos", default=VIDEOS, help="videos table written by the videos stage")
    parser.add_argument("--out-dir", default=FACES, help="folder of per-video face tars")
    parser.add_argument("--manifest", default=MANIFEST, help="parquet of every frame decision")
    parser.add_argument("--metrics", default=METRICS, help="flat JSON totals")
    parser.add_argument("--force", action="store_true", help="re-extract every video, ignoring complete outputs")
    args = parser.parse_args(argv)
    totals = run(load_params(args.params), args.videos, args.out_dir, args.manifest, args.metrics, force=args.force)
    print(f"extract: {totals['videos_kept']}/{totals['videos']} videos kept, {totals['frames_kept']} frames "
          f"({totals['frames_fallback']} fallback), {totals['videos_dropped']} dropped, "
          f"{totals['videos_resumed']} resumed; details in {args.manifest}")
    return 0
