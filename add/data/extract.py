"""Stage ``extract``: detect the face in sampled frames and crop pixel-aligned raw/c23/c40 triplets.

Reads ``data/videos.parquet`` and writes, per video, ``data/faces/{method}/{video}.tar`` (docs/architecture.md),
``data/manifest.parquet`` (one row per frame decision) and flat totals in ``metrics/extract.json``.

Per video (a row of videos.parquet):

1. **Frame counts.** Every quality is probed; qualities whose frame counts (or frame sizes) differ would not be
   frame-aligned, so the video is dropped (``dropped_video``, the counts in ``reason``). A file cut mid-stream
   usually lands here (ffmpeg counts only the frames that are there). A missing path, a file ffmpeg cannot read,
   a decode that stops before the last wanted frame: ``dropped_video`` with ffmpeg's message.
2. **Sampling.** ``data.frames_per_video`` indices out of the N frames: ``even`` takes the centres of N/k equal
   segments, ``random`` (as the paper) draws k distinct frames with a generator seeded by ``seed`` and
   ``crc32("{method}/{video}")``, so each video has its own stable draw. A video of N <= k frames gives all N.
3. **Detection** (:mod:`add.data.faces`) on the raw frames, streamed one at a time through a single ffmpeg pass
   (the ``select`` filter): dlib's HOG detector on the frame downscaled so its longer side is at most
   ``data.detect_max_side`` (a frame where that finds nothing is searched again at full resolution with one more
   level of upsampling, which finds faces down to ~40 px); detections scoring below ``data.detect_threshold`` or
   whose size is off the video's median face by more than ``data.detect_size_tolerance`` x are rejected; the
   largest face; a square box of side ``data.box_scale`` x max(w, h) kept inside the frame. Frames without a face
   borrow the box of the nearest frame (by index) with one: status ``fallback``, ``reason`` names that frame. No
   face at all: ``dropped_video``.
4. **Crops.** The raw crops of detected frames are taken during the detection pass; c23 and c40 (and raw for
   fallback frames) are then streamed in one ffmpeg pass each and cropped with the *same* boxes, so the triplets are
   pixel-aligned. Memory holds one decoded frame plus the small crops of one video, never a whole video.
5. **Output.** The tar (sorted members, mtime 0, uid/gid 0, empty owner names, PNG at a fixed compression level:
   byte-identical on a rerun), then a sidecar ``{video}.decisions.json`` with the frame decisions and a
   fingerprint; both written atomically, the sidecar last.

**Resume.** A video is skipped (its decisions read back from the sidecar) when its sidecar's fingerprint matches —
a hash of the settings that shape the output and of the content (sha256) of its input files — and, for a kept
video, its tar exists. Since the tar is complete before the sidecar is written, a stage killed at any point
resumes where it stopped and produces the same bytes; ``--force`` ignores the sidecars. (DVC deletes the outputs
of a stage before it reruns it unless they are declared ``persist: true``.) At the end, tars and sidecars of videos
that videos.parquet no longer lists, and temp files of killed runs, are removed from the method folders.

Params (``data.*``; defaults in :class:`ExtractConfig`): ``qualities``, ``frames_per_video`` (64), ``sampling``
(even | random), ``image_size`` (128), ``jobs`` (0), ``detect_threshold`` (0.2: dlib's boundary is 0; real
frontal faces score ~0.3-2.5, the false hits we measured on skimage images score < 0.15), ``detect_upsample`` (0),
``detect_max_side`` (640; 0: full resolution), ``detect_size_tolerance`` (2.0), ``box_scale`` (1.3); and the top-level
``seed`` (random sampling only).

Videos run in parallel in ``data.jobs`` processes (0: every core), each with its own dlib detector; results are
merged in the order of videos.parquet, the manifest sorted by split, method, video, frame.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import multiprocessing
import os
import tarfile
import time
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from tqdm import tqdm

from add.data.faces import FaceDetector, FrameBox, assign_boxes, choose_faces, crop, square_box
from add.data.video import QUALITY_CRF, VideoError, VideoInfo, probe, read_frames
from add.errors import AddError
from add.io import atomic_path, atomic_write, atomic_write_json, safe_join
from add.params import ParamsError, get_choice, get_float, get_int, get_list, load_params, section

if TYPE_CHECKING:
    import pandas as pd

VIDEOS = "data/videos.parquet"
FACES = "data/faces"
MANIFEST = "data/manifest.parquet"
METRICS = "metrics/extract.json"

STATUSES = ("ok", "fallback", "dropped_frame", "dropped_video")
MANIFEST_COLUMNS = ["split", "method", "video", "frame", "label", "x0", "y0", "x1", "y1", "score", "status", "reason"]
SIDECAR_SUFFIX = ".decisions.json"
SIDECAR_FORMAT = "add.extract/1"
PNG_COMPRESSION = 3  # fixed, so that a rerun writes the same bytes


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

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ExtractConfig:
        data = section(dict(params), "data")
        w = "data"
        d = cls()
        seed = params.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ParamsError(f"params 'seed' must be an integer >= 0, got {seed!r}")
        max_side = get_int(data, "detect_max_side", d.detect_max_side, where=w, min=0)
        if 0 < max_side < 64:
            raise ParamsError(f"params 'data.detect_max_side' must be 0 (full resolution) or >= 64, got {max_side}")
        return cls(
            qualities=tuple(get_list(data, "qualities", list(d.qualities), where=w, choices=list(QUALITY_CRF))),
            frames_per_video=get_int(data, "frames_per_video", d.frames_per_video, where=w, min=1, max=100_000),
            sampling=get_choice(data, "sampling", d.sampling, ("even", "random"), where=w),
            seed=seed,
            image_size=get_int(data, "image_size", d.image_size, where=w, min=16, max=4096),
            jobs=get_int(data, "jobs", d.jobs, where=w, min=0, max=1024),
            detect_threshold=get_float(data, "detect_threshold", d.detect_threshold, where=w, min=-3.0, max=5.0),
            detect_upsample=get_int(data, "detect_upsample", d.detect_upsample, where=w, min=0, max=3),
            detect_max_side=max_side,
            detect_size_tolerance=get_float(data, "detect_size_tolerance", d.detect_size_tolerance, where=w,
                                            min=1.0, max=100.0),
            box_scale=get_float(data, "box_scale", d.box_scale, where=w, min=1.0, max=4.0),
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


@dataclass
class VideoResult:
    index: int
    decisions: list[dict[str, Any]]  # frame, x0, y0, x1, y1, score, status, reason
    seconds: float | None  # None when resumed from the sidecar
    resumed: bool = False


def _drop(reason: str) -> list[dict[str, Any]]:
    nan = math.nan
    return [{"frame": -1, "x0": nan, "y0": nan, "x1": nan, "y1": nan, "score": nan, "status": "dropped_video",
             "reason": reason}]


_DETECTOR: dict[tuple, FaceDetector] = {}


def _detector(cfg: ExtractConfig, retry: bool = False) -> FaceDetector:
    """The detector of this process; ``retry``: the more sensitive one for frames where it found nothing
    (full resolution, one more upsampling: faces down to ~40 px instead of ~80 px)."""
    if retry:
        key = (cfg.detect_threshold, cfg.detect_upsample + 1, 0)
    else:
        key = (cfg.detect_threshold, cfg.detect_upsample, cfg.detect_max_side)
    if key not in _DETECTOR:
        _DETECTOR[key] = FaceDetector(*key)
    return _DETECTOR[key]


def _file_sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def fingerprint(job: VideoJob, cfg: ExtractConfig) -> str | None:
    """Hash of the output settings, the video's key and its input files' content; None if a file is unreadable."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": SIDECAR_FORMAT, "key": f"{job.method}/{job.video}",
                         "settings": cfg.output_settings()}, sort_keys=True).encode())
    for q in cfg.qualities:
        path = job.paths.get(q)
        if not path:
            return None
        try:
            h.update(f"{q}:{_file_sha256(path)}".encode())
        except OSError:
            return None
    return h.hexdigest()


def _read_sidecar(job: VideoJob, print_: str) -> list[dict[str, Any]] | None:
    try:
        side = json.loads(Path(job.sidecar).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(side, dict) or side.get("format") != SIDECAR_FORMAT or side.get("fingerprint") != print_:
        return None
    decisions = side.get("decisions")
    if not isinstance(decisions, list) or not decisions:
        return None
    kept = any(d.get("status") in ("ok", "fallback") for d in decisions)
    if kept and not Path(job.tar).is_file():
        return None
    return [{k: (math.nan if v is None else v) for k, v in d.items()} for d in decisions]


def _write_sidecar(job: VideoJob, print_: str, decisions: list[dict[str, Any]]) -> None:
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()} for d in decisions]
    atomic_write_json(job.sidecar, {"format": SIDECAR_FORMAT, "fingerprint": print_, "decisions": clean})


def _png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise RuntimeError("cv2.imencode failed to encode a PNG")
    return buf.tobytes()


def write_tar(path: str | os.PathLike, members: Mapping[str, bytes]) -> None:
    """A reproducible tar: members sorted by name, mtime 0, uid/gid 0, empty owner names, mode 0644; atomic."""
    with atomic_write(path) as f, tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(members):
            blob = members[name]
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(blob), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(blob))


def _probe_all(job: VideoJob, cfg: ExtractConfig) -> dict[str, VideoInfo] | str:
    """Probe every quality; the drop reason (str) when one is missing/unreadable or they disagree."""
    infos = {}
    for q in cfg.qualities:
        path = job.paths.get(q)
        if not path:
            return f"{q}: no file listed in videos.parquet"
        try:
            infos[q] = probe(path)
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


def _extract(job: VideoJob, cfg: ExtractConfig) -> list[dict[str, Any]]:
    """Decisions for one video, writing its tar when it is kept."""
    infos = _probe_all(job, cfg)
    if isinstance(infos, str):
        return _drop(infos)
    dq = cfg.detect_quality
    info = infos[dq]
    indices = sample_indices(info.frames, cfg.frames_per_video, cfg.sampling,
                             video_seed(cfg.seed, job.method, job.video))

    # Pass 1: detect on the raw frames; keep the raw crop of every candidate box (a few KB each), not the frame.
    detector = _detector(cfg)
    candidates, raw_crops = {}, {}
    try:
        for idx, frame in read_frames(job.paths[dq], indices, info):
            dets = detector(frame) or _detector(cfg, retry=True)(frame)
            candidates[idx] = dets
            for det in dets:
                box = square_box(det, info.width, info.height, cfg.box_scale)
                raw_crops.setdefault((idx, box), crop(frame, box, cfg.image_size))
    except VideoError as e:
        return _drop(f"{dq}: {e}")
    boxes = assign_boxes(choose_faces(candidates, cfg.detect_size_tolerance), info.width, info.height,
                         cfg.box_scale)
    if boxes is None:
        return _drop(f"no face in any of the {len(indices)} sampled frames (dlib score >= {cfg.detect_threshold:g})")

    # Pass 2: stream each other quality (and the detection quality's fallback frames) and crop with the same boxes.
    crops: dict[str, dict[int, np.ndarray]] = {q: {} for q in cfg.qualities}
    for b in boxes:
        if (b.frame, b.box) in raw_crops:
            crops[dq][b.frame] = raw_crops[(b.frame, b.box)]
    del raw_crops
    by_frame: dict[int, FrameBox] = {b.frame: b for b in boxes}
    for q in cfg.qualities:
        todo = [f for f in indices if f not in crops[q]]
        try:
            for idx, frame in read_frames(job.paths[q], todo, infos[q]):
                crops[q][idx] = crop(frame, by_frame[idx].box, cfg.image_size)
        except VideoError as e:
            return _drop(f"{q}: {e}")

    members = {}
    for b in boxes:
        for q in cfg.qualities:
            members[f"{b.frame:04d}.{q}.png"] = _png(crops[q][b.frame])
        meta = {"box": list(b.box), "score": b.score, "status": b.status}
        members[f"{b.frame:04d}.json"] = json.dumps(meta, sort_keys=True).encode()
    write_tar(job.tar, members)
    return [{"frame": b.frame, "x0": float(b.box[0]), "y0": float(b.box[1]), "x1": float(b.box[2]),
             "y1": float(b.box[3]), "score": b.score, "status": b.status, "reason": b.reason} for b in boxes]


def resume(job: VideoJob, cfg: ExtractConfig) -> tuple[VideoResult | None, str | None]:
    """The stored result of a video whose outputs are complete and current (else None), and its fingerprint
    (None when there is no sidecar to compare with or an input file is unreadable)."""
    if not Path(job.sidecar).is_file():
        return None, None
    print_ = fingerprint(job, cfg)
    stored = _read_sidecar(job, print_) if print_ is not None else None
    return (VideoResult(job.index, stored, None, resumed=True) if stored is not None else None), print_


def extract_video(job: VideoJob, cfg: ExtractConfig, print_: str | None = None) -> VideoResult:
    """Extract one video: write its tar (when kept) and its sidecar, return its decisions."""
    start = time.perf_counter()
    print_ = print_ or fingerprint(job, cfg)
    try:
        decisions = _extract(job, cfg)
    except Exception as e:  # a bug or an unforeseen input: stop the stage, naming the video
        raise RuntimeError(f"{job.method}/{job.video} ({job.paths}): {type(e).__name__}: {e}") from e
    if print_ is not None:
        _write_sidecar(job, print_, decisions)
    return VideoResult(job.index, decisions, time.perf_counter() - start)


# ----------------------------------------------------------------------------------------------------- stage
def read_videos(path: str | os.PathLike, qualities: Sequence[str]) -> pd.DataFrame:
    """videos.parquet, validated: required columns, labels 0/1, unique (method, video), names safe as file names."""
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
    return table.sort_values(["split", "method", "video"], kind="stable").reset_index(drop=True)


def _jobs(table: pd.DataFrame, out_dir: Path, qualities: Sequence[str]) -> list[VideoJob]:
    jobs = []
    for i, r in enumerate(table.to_dict("records")):
        tar = safe_join(out_dir, f"{r['method']}/{r['video']}.tar")
        sidecar = safe_join(out_dir, f"{r['method']}/{r['video']}{SIDECAR_SUFFIX}")
        paths = {q: (str(r[q]) if isinstance(r[q], str) and r[q] else None) for q in qualities}
        jobs.append(VideoJob(i, r["split"], r["method"], r["video"], int(r["label"]), paths, str(tar), str(sidecar)))
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
    results: dict[int, VideoResult] = {}
    bar = tqdm(total=len(jobs), desc="extract", unit="video", disable=not progress)
    dropped = 0

    def done(result: VideoResult) -> None:
        nonlocal dropped
        results[result.index] = result
        dropped += result.decisions[0]["status"] == "dropped_video"
        bar.update(1)
        bar.set_postfix(dropped=dropped, resumed=sum(r.resumed for r in results.values()))

    try:
        todo = []
        for job in jobs:
            stored, print_ = (None, None) if force else resume(job, cfg)
            if stored is not None:
                done(stored)
            else:
                todo.append((job, print_))
        workers = cfg.workers(len(todo))
        if workers == 1:
            for job, print_ in todo:
                done(extract_video(job, cfg, print_))
        elif todo:
            # spawn, not fork: the parent holds pyarrow/tqdm threads; workers import only what extract_video needs.
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                futures = [pool.submit(extract_video, job, cfg, print_) for job, print_ in todo]
                try:
                    for future in as_completed(futures):
                        done(future.result())
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
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
