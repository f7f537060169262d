"""The cross evaluation: every trained model scored on each test-only dataset of ``cross:``, per compression.

For each entry and each of its compressions (``as_is``, ``c40``): the faces of every file are found once per face
key (the model card's detector settings and crop size, ``frames_per_video``, the compression) and cached under
``data/cross/<name>/`` (:mod:`add.cross.faces`), in parallel processes; then each model (the teacher of every
method, the plain and every distilled student) scores the cached crops and its metrics go to
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

from add.cross.faces import FaceCache, FaceKey, faces_for
from add.cross.plot import plot_models
from add.cross.scoring import cross_metrics
from add.datasets.read import read_dataset
from add.datasets.records import SHOWN, Record
from add.determinism import usable_cpus
from add.errors import AddError
from add.io import atomic_write_json
from add.layout import BEST, cross_metrics_path, cross_plot_png, student_dir, teacher_dir
from add.params import CrossEntry, Params


class CrossError(AddError):
    """A cross dataset cannot be evaluated (unreadable files, a model missing); the message says which."""


def model_paths(params: Params) -> list[str]:
    """The models of the pipeline, teacher first: ``teacher/{method}``, ``student/{method}/{quality}/{distill}`` for
    the plain student (``none``) and every distilled one (``students.distill``)."""
    found = []
    for method in params.data.methods:
        found.append(f"teacher/{method}")
        found += [f"student/{method}/{q}/{d}" for q in params.students.qualities
                  for d in ("none", *params.students.distill)]
    return found


def trained_models(paths: Sequence[str], models: str | os.PathLike) -> list[tuple[str, Path]]:
    """``(model path, best.pt)`` of each of ``paths``; a :class:`CrossError` when one is not trained yet."""
    found = []
    for path in paths:
        kind, method, *rest = path.split("/")
        folder = teacher_dir(models, method) if kind == "teacher" else student_dir(models, method, *rest)
        found.append((path, folder / BEST))
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

    records, missing = read_dataset(entry.format, entry.root, missing=entry.missing, quality=entry.dfd_quality)
    if missing:
        log(f"cross {entry.name}: {missing} listed file(s) missing, skipped (missing: skip); see videos_missing")
    scorers = [(path, Scorer.load(checkpoint, device)) for path, checkpoint in models]
    results: dict[str, dict[str, dict]] = {}
    for compression in entry.compress:
        results[compression] = {}
        for model_path, scorer in scorers:
            key = FaceKey(scorer.card.faces, scorer.card.image_size, entry.frames_per_video, compression,
                          given=entry.faces == "given")
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
