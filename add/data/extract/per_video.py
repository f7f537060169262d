"""One video: probe its qualities, decode them in lock-step, detect faces (or reuse its original's boxes after
checking the footage aligns), crop every quality with the same box, encode PNGs and write the tar and the sidecar."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np

from add.core.io import HashingWriter, atomic_write
from add.core.layout import ORIGINAL
from add.data.extract.config import (
    ALIGN_MAX,
    ALIGN_MEAN_MAX,
    ALIGN_MIN_COMPARED,
    DETECTED,
    PNG_COMPRESSION,
    ExtractConfig,
    video_seed,
)
from add.data.extract.jobs import Alignment, Reference, VideoJob, VideoResult, _drop
from add.data.extract.sidecar import _write_sidecar, fingerprint
from add.data.faces import Box, FrameBox, crop, face_crops, outside_difference, thumbnail
from add.data.sampling import sample_indices
from add.data.video_io import ShortVideo, VideoError, VideoInfo, probe, read_frames


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


def _probe_all(job: VideoJob, cfg: ExtractConfig, decode: bool = False) -> dict[str, VideoInfo] | str:
    """Probe every quality (concurrently; ``decode``: by decoding, see :func:`add.data.video_io.probe`); the drop
    reason (str) when one is missing/unreadable or they disagree."""
    missing = [q for q in cfg.qualities if not job.paths.get(q)]
    if missing:
        return f"{missing[0]}: no file listed in videos.parquet"
    with ThreadPoolExecutor(len(cfg.qualities)) as pool:
        probes = {q: pool.submit(probe, job.paths[q], decode) for q in cfg.qualities}
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

    found = face_crops(read, indices, info.width, info.height, cfg.faces, cut, image=lambda f: f[dq],
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


def _extract(job: VideoJob, cfg: ExtractConfig, reference: Reference | None, decode: bool = False) -> VideoResult:
    """Decisions for one video (and where its boxes came from), writing its tar when it is kept. When fewer frames
    decode than a container lists (:class:`ShortVideo`), once more with the counts of a decoding probe."""
    infos = _probe_all(job, cfg, decode)
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
            if isinstance(e.error, ShortVideo) and not decode:
                return _extract(job, cfg, reference, decode=True)
            return VideoResult(job.index, _drop(str(e)), None, note=note)
        if boxes is None:
            reason = f"no face in any of the {len(indices)} sampled frames (dlib score >= {cfg.faces.threshold:g})"
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
