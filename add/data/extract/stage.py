"""Stage ``extract``: ``data/videos.parquet`` -> a face tar per video in ``data/faces/``, ``data/manifest.parquet``
(every frame decision) and ``metrics/extract.json`` (totals). How a video is extracted: :mod:`add.data.extract`.

    add extract                  # params.yaml: seed, data.* (defaults in add.data.extract.config.ExtractConfig)
    add extract --part 2/8       # one of 8 shares of the videos (add.data.extract.parts), no manifest

A row of videos.parquet whose column ``missing`` is set (``data.missing: skip``) is not extracted: the manifest lists
it with status ``missing`` and the reason, and metrics/extract.json counts it (``status_missing``); one whose column
``unreadable`` is set (a list source's file that ffmpeg cannot read) likewise, with status ``dropped_video``. A
videos.parquet with a column ``path`` (a list source: the path as the CSV writes it) gives the manifest that column
beside ``video``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from add.core.args import stage_parser
from add.core.errors import AddError
from add.core.io import atomic_path, atomic_write_json, check_output_file, check_output_folder, safe_join
from add.core.layout import EXTRACT_METRICS, FACES, MANIFEST, MANIFEST_COLUMNS, VIDEOS
from add.core.params import Params, load_params
from add.data.extract.config import DETECTED, SIDECAR_SUFFIX, STATUSES, ExtractConfig, ExtractError
from add.data.extract.jobs import VideoJob, VideoResult, _drop
from add.data.extract.parts import claim, parse_part, release, select_part
from add.data.extract.scheduler import extract_videos

if TYPE_CHECKING:
    import pandas as pd


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
    for column in ("missing", "unreadable"):
        if column not in table.columns:
            table[column] = ""
        table[column] = table[column].map(lambda v: v if isinstance(v, str) else "")
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


def _manifest(jobs: Sequence[VideoJob], results: Mapping[int, VideoResult],
              paths: Sequence[str] | None = None) -> pd.DataFrame:
    """The manifest's rows; with ``paths`` (by job index: a list source's listed paths) a column ``path`` after
    ``video`` (absent otherwise, so the demo's and FF++'s manifests keep MANIFEST_COLUMNS exactly)."""
    import pandas as pd

    rows = []
    for job in jobs:
        for d in results[job.index].decisions:
            rows.append({"split": job.split, "method": job.method, "video": job.video, "frame": int(d["frame"]),
                         "label": job.label, "x0": d["x0"], "y0": d["y0"], "x1": d["x1"], "y1": d["y1"],
                         "score": d["score"], "status": d["status"], "reason": d["reason"]})
            if paths is not None:
                rows[-1]["path"] = paths[job.index]
    columns = list(MANIFEST_COLUMNS)
    if paths is not None:
        columns.insert(columns.index("video") + 1, "path")
    table = pd.DataFrame(rows, columns=columns)
    table = table.astype({"frame": "int64", "label": "int64", "x0": "float64", "y0": "float64", "x1": "float64",
                          "y1": "float64", "score": "float64"})
    return table.sort_values(["split", "method", "video", "frame"], kind="stable").reset_index(drop=True)


# In run()'s totals (printed), never in the metrics file: it is tracked in git, and a rerun with identical results
# (which resumes every video and takes another time) must leave it unchanged.
RUN_HISTORY = ("seconds_per_video", "seconds_total", "videos_resumed")


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


def _missing(table: pd.DataFrame) -> dict[int, VideoResult]:
    """The results of the rows the videos stage left out, each one decision with the reason: ``missing`` for a
    missing file, ``dropped_video`` for an unreadable one."""
    results = {}
    for i, (gone, unreadable) in enumerate(zip(table["missing"].tolist(), table["unreadable"].tolist(), strict=True)):
        if gone or unreadable:
            decision = _drop(gone or unreadable)[0]
            if gone:
                decision["status"] = "missing"
            results[i] = VideoResult(i, [decision], None)
    return results


def check_outputs(out_dir: str | os.PathLike, *files: tuple[str, str | os.PathLike]) -> None:
    """Raise ExtractError, naming the option and the path, unless the face folder and each ``(option, file)`` can be
    written: checked before any video is read, so that a bad path never costs a detection run."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExtractError(f"--out-dir {out_dir}: is a file; give a folder")
    try:
        check_output_folder(out_dir, f"--out-dir {out_dir}")
        for option, path in files:
            check_output_file(path, option)
    except AddError as e:
        raise ExtractError(str(e)) from None


def run_part(params: Params | Mapping[str, Any], part: str, videos: str | os.PathLike = VIDEOS,
             out_dir: str | os.PathLike = FACES, *, force: bool = False, progress: bool = True) -> dict[str, int]:
    """Extract part ``"i/N"`` of the videos into ``out_dir`` (:mod:`add.data.extract.parts`); no manifest."""
    index, parts = parse_part(part)
    cfg = ExtractConfig.from_params(params)
    table = read_videos(videos, cfg.qualities)
    check_outputs(out_dir)
    missing = _missing(table)
    jobs = select_part([j for j in _jobs(table, Path(out_dir), cfg.qualities) if j.index not in missing], index,
                       parts)
    claim(out_dir, parts)
    with tqdm(total=len(jobs), desc=f"extract part {index}/{parts}", unit="video", disable=not progress) as bar:
        results = extract_videos(jobs, cfg, force=force, done=lambda r: bar.update(1))
    return {"videos": len(jobs), "videos_resumed": sum(r.resumed for r in results.values())}


def run(params: Params | Mapping[str, Any] | str | os.PathLike, videos: str | os.PathLike = VIDEOS,
        out_dir: str | os.PathLike = FACES, manifest: str | os.PathLike = MANIFEST,
        metrics: str | os.PathLike = EXTRACT_METRICS, *, force: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run the stage; return its metrics. ``params``: the Params, a params dict or the path of params.yaml."""
    start = time.perf_counter()
    if isinstance(params, str | os.PathLike):
        params = load_params(params)
    cfg = ExtractConfig.from_params(params)
    out_dir = Path(out_dir)
    table = read_videos(videos, cfg.qualities)
    check_outputs(out_dir, ("--manifest", manifest), ("--metrics", metrics))
    jobs = _jobs(table, out_dir, cfg.qualities)
    missing = _missing(table)
    present = [job for job in jobs if job.index not in missing]
    bar = tqdm(total=len(present), desc="extract", unit="video", disable=not progress)
    counts = {"dropped": 0, "resumed": 0, "reused": 0}

    def done(result: VideoResult) -> None:
        counts["dropped"] += result.decisions[0]["status"] == "dropped_video"
        counts["resumed"] += result.resumed
        counts["reused"] += result.boxes_from not in ("", DETECTED)
        bar.update(1)
        bar.set_postfix(counts)

    try:
        results = extract_videos(present, cfg, force=force, done=done)
    finally:
        bar.close()
    _clean_stale(out_dir, present, results)
    results.update(missing)
    paths = [p if isinstance(p, str) else "" for p in table["path"].tolist()] if "path" in table.columns else None
    table = _manifest(jobs, results, paths)
    with atomic_path(manifest) as tmp:
        table.to_parquet(tmp, index=False)
    totals = _metrics(table, results, time.perf_counter() - start)
    atomic_write_json(metrics, {k: v for k, v in totals.items() if k not in RUN_HISTORY})
    release(out_dir)
    return totals


settings = ExtractConfig.from_params  # all the stage reads from the params


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add extract", __doc__)
    parser.add_argument("--videos", default=VIDEOS, help="videos table written by the videos stage")
    parser.add_argument("--out-dir", default=FACES, help="folder of per-video face tars")
    parser.add_argument("--manifest", default=MANIFEST, help="parquet of every frame decision")
    parser.add_argument("--metrics", default=EXTRACT_METRICS, help="flat JSON totals")
    parser.add_argument("--force", action="store_true", help="re-extract every video, ignoring complete outputs")
    parser.add_argument("--part", default=None, metavar="i/N",
                        help="extract only part i (0..N-1) of N shares of the videos, writing no manifest: N machines "
                             "sharing the folder each run one, then the whole stage writes the manifest")
    args = parser.parse_args(argv)
    if args.part is not None:
        done = run_part(load_params(args.params), args.part, args.videos, args.out_dir, force=args.force)
        print(f"extract --part {args.part}: {done['videos']} videos ({done['videos_resumed']} resumed); run the "
              f"whole stage once every part is done to write {args.manifest}")
        return 0
    totals = run(load_params(args.params), args.videos, args.out_dir, args.manifest, args.metrics, force=args.force)
    print(f"extract: {totals['videos_kept']}/{totals['videos']} videos kept, {totals['frames_kept']} frames "
          f"({totals['frames_fallback']} fallback), {totals['videos_dropped']} dropped, "
          f"{totals['videos_resumed']} resumed; details in {args.manifest}")
    return 0
