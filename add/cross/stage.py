"""Stage ``cross``: every trained detector scored on the test-only datasets of ``cross:`` in params.yaml.

    add cross [--name NAME ...] [--jobs N]

For each entry and each of its compressions (``as_is``, ``c40``): the faces of every file are found once per face
key (the model card's detector settings and crop size, ``frames_per_video``, the compression) and cached under
``data/cross/<name>/`` (:mod:`add.cross.faces`), in parallel processes (``--jobs``, default all cores); then each
model (the teacher of every method, every student of the matrix) scores the cached crops and its metrics go to
``metrics/cross/<name>/<compression>/<model path>.json`` (:mod:`add.cross.scoring`); ``plots/cross/<name>.png``
compares the models. A killed run resumes: finished videos are read from the cache.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from add.cross.config import CrossEntry, parse_cross
from add.cross.faces import FaceCache, FaceKey, faces_for
from add.cross.plot import plot_models
from add.cross.scoring import cross_metrics
from add.datasets.read import read_dataset
from add.datasets.records import SHOWN, Record
from add.determinism import usable_cpus
from add.errors import AddError
from add.io import atomic_write_json
from add.layout import (
    BEST,
    CROSS_FACES,
    METHODS,
    METRICS,
    PLOTS,
    cross_metrics_path,
    cross_plot_png,
    student_dir,
    teacher_dir,
)
from add.params import get_list, load_params, section
from add.stage_args import add_models, stage_parser


class CrossError(AddError):
    """A cross dataset cannot be evaluated (unreadable files, a model missing); the message says which."""


def trained_models(params: dict, models: str | os.PathLike) -> list[tuple[str, Path]]:
    """``(model path, best.pt)`` of the teacher of every method and every student of the matrix, in that order."""
    methods = get_list(section(params, "data"), "methods", ["Deepfakes"], where="data", choices=METHODS)
    students = section(params, "students")
    qualities = get_list(students, "qualities", ["c40"], where="students")
    distills = get_list(students, "distill", ["none", "add"], where="students")
    found = []
    for method in methods:
        found.append((f"teacher/{method}", teacher_dir(models, method) / BEST))
        found += [(f"student/{method}/{q}/{d}", student_dir(models, method, q, d) / BEST)
                  for q in qualities for d in distills]
    absent = [str(path) for _, path in found if not path.is_file()]
    if absent:
        raise CrossError(f"no trained model at {', '.join(absent[:SHOWN])}; train them first (uv run dvc repro)")
    return found


def find_all_faces(records: Sequence[Record], cache: FaceCache, jobs: int, desc: str) -> None:
    """Every record's faces in the cache (computed in ``jobs`` processes where not cached yet)."""
    cache.write_key()
    todo = [r for r in records if cache.meta(r) is None]
    jobs = max(1, min(jobs or usable_cpus(), len(todo)))
    with tqdm(total=len(records), initial=len(records) - len(todo), desc=desc, unit="video") as bar:
        if jobs == 1:
            for record in todo:
                faces_for(record, str(cache.folder.parent), cache.key)
                bar.update()
            return
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(faces_for, r, str(cache.folder.parent), cache.key) for r in todo]
            try:
                for future in as_completed(futures):
                    future.result()
                    bar.update()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise


def evaluate_entry(entry: CrossEntry, models: Sequence[tuple[str, Path]], *, cache_root: str | os.PathLike,
                   metrics_root: str | os.PathLike, plots_root: str | os.PathLike, jobs: int = 0,
                   device: str | None = None) -> dict[str, dict[str, dict]]:
    """Metrics of every model on ``entry`` at each of its compressions (also written); ``{compression: {model
    path: metrics}}``."""
    from add.predict import Scorer
    from add.trainer.runtime import log

    records, missing = read_dataset(entry.format, entry.root, missing=entry.missing, quality=entry.quality)
    if missing:
        log(f"cross {entry.name}: {missing} listed file(s) missing, skipped (missing: skip); see videos_missing")
    scorers = [(path, Scorer.load(checkpoint, device)) for path, checkpoint in models]
    results: dict[str, dict[str, dict]] = {}
    for compression in entry.compress:
        results[compression] = {}
        for model_path, scorer in scorers:
            key = FaceKey(scorer.card.faces, scorer.card.image_size, entry.frames_per_video, compression)
            cache = FaceCache(Path(cache_root) / entry.name, key)
            find_all_faces(records, cache, jobs, f"cross {entry.name}/{compression}: faces")
            metas = [cache.meta(r) for r in records]
            broken = [m.get("error", "") for m in metas if m is not None and m["status"] == "error"]
            if broken and entry.missing == "error":
                raise CrossError(f"{entry.name}: {len(broken)} file(s) cannot be read: {' | '.join(broken[:SHOWN])}"
                                 f"; fix or remove them, or set missing: skip in this cross entry (they are then "
                                 f"counted in videos_unreadable)")
            progress = tqdm(records, desc=f"cross {entry.name}/{compression}: {model_path}", unit="video")
            metrics, warnings = cross_metrics(progress, cache.load_done, scorer.scores, entry.faces, missing)
            for warning in warnings:
                log(f"cross {entry.name}/{compression}/{model_path}: warning: {warning}")
            atomic_write_json(cross_metrics_path(metrics_root, entry.name, compression, model_path), metrics)
            results[compression][model_path] = metrics
            log(f"cross {entry.name}/{compression}/{model_path}: " + ", ".join(
                f"{k} {metrics[k]}" for k in ("auc", "video_auc", "videos_real", "videos_fake", "videos_no_face")))
    plot_models(cross_plot_png(plots_root, entry.name), entry.name, results)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add cross", __doc__)
    parser.add_argument("--name", action="append", default=None, help="evaluate only this entry (repeatable)")
    add_models(parser)
    parser.add_argument("--cache", default=CROSS_FACES, help="face cache root (default: %(default)s)")
    parser.add_argument("--metrics", default=METRICS, help="metrics root (default: %(default)s)")
    parser.add_argument("--plots", default=PLOTS, help="plots root (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=0, help="face-finding processes (default: all cores)")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    entries = parse_cross(params.get("cross"))
    if args.name:
        unknown = sorted(set(args.name) - {e.name for e in entries})
        if unknown:
            parser.error(f"--name {unknown}: not in params 'cross' ({[e.name for e in entries]})")
        entries = [e for e in entries if e.name in args.name]
    if not entries:
        for folder in (Path(args.metrics) / "cross", Path(args.plots) / "cross"):
            folder.mkdir(parents=True, exist_ok=True)  # DVC's outputs of this stage, empty
        print("add cross: params 'cross' lists no dataset; nothing to evaluate")
        return 0
    models = trained_models(params, args.models)
    for entry in entries:
        evaluate_entry(entry, models, cache_root=args.cache, metrics_root=args.metrics, plots_root=args.plots,
                       jobs=args.jobs, device=args.device)
    return 0
