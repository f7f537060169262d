"""Stage ``cross``: every trained model scored on the test-only datasets of ``cross:`` in params.yaml.

    add cross [--name NAME ...] [--jobs N]

Writes ``metrics/cross/<name>/<compression>/<model path>.json`` and ``plots/cross/<name>.png``; the face crops are
cached under ``data/cross/`` (a new model re-uses them, a killed run resumes). An entry whose root is the demo's cross
set (``data/demo_cross``, stage ``cross_demo``) applies to ``data.source: demo`` only: with another source that folder
is left empty, and the entry is skipped, saying so.

For each entry and each of its compressions (``as_is``, ``c40``): the faces of every file are found once per face
key (the model card's detector settings and crop size, ``frames_per_video``, the compression) and cached under
``data/cross/<name>/`` (:mod:`add.evaluation.cross_faces`), in parallel processes; then each model (the teacher of every
method, the plain and every distilled student) scores the cached crops and its metrics go to
``metrics/cross/<name>/<compression>/<model path>.json`` (:mod:`add.evaluation.cross_scoring`);
``plots/cross/<name>.png`` compares the models. A killed run resumes: finished videos are read from the cache.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from add.core.args import add_models, stage_parser
from add.core.determinism import usable_cpus
from add.core.errors import AddError
from add.core.io import atomic_write_json
from add.core.layout import (
    BEST,
    CROSS_DEMO_ROOT,
    CROSS_FACES,
    METRICS,
    PLOTS,
    cross_metrics_path,
    cross_plot_png,
    student_dir,
    teacher_dir,
)
from add.core.params import CrossEntry, Params, load_params
from add.core.registry import PLAIN_STUDENT
from add.data.datasets.read import read_dataset
from add.data.datasets.records import SHOWN, Record
from add.evaluation.cross_faces import FaceCache, FaceKey, faces_for
from add.evaluation.cross_plot import plot_models
from add.evaluation.cross_scoring import cross_metrics


class CrossError(AddError):
    """A cross dataset cannot be evaluated (unreadable files, a model missing); the message says which."""


def model_paths(params: Params) -> list[str]:
    """The models of the pipeline, teacher first: ``teacher/{method}``, ``student/{method}/{quality}/{distill}`` for
    the plain student (``none``) and every distilled one (``students.distill``)."""
    found = []
    for method in params.data.methods:
        found.append(f"teacher/{method}")
        found += [f"student/{method}/{q}/{d}" for q in params.students.qualities
                  for d in (PLAIN_STUDENT, *params.students.distill)]
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
    from add.tools.predict import Scorer
    from add.training.runtime import log

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


def is_demo_set(entry: CrossEntry) -> bool:
    """Whether ``entry`` scores the demo's cross set, which stage cross_demo builds for ``data.source: demo`` only."""
    return os.path.normpath(entry.root) == os.path.normpath(CROSS_DEMO_ROOT)


def settings(params: Params) -> tuple[tuple[CrossEntry, ...], list[str], tuple[CrossEntry, ...]]:
    """All the stage reads from the params: the datasets, the models to score (``data.methods``, ``students.*``),
    and the entries skipped (the demo's cross set when ``data.source`` is not demo)."""
    entries = params.cross
    skipped = tuple(e for e in entries if is_demo_set(e)) if entries and params.data.source != "demo" else ()
    entries = tuple(e for e in entries if e not in skipped)
    return entries, model_paths(params) if entries else [], skipped


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
    entries, paths, skipped = settings(params)
    for entry in (e for e in skipped if not args.name or e.name in args.name):
        print(f"add cross: params 'cross' entry {entry.name!r} skipped: {entry.root} is the demo's cross set, built "
              f"only with data.source: demo (here {params.data.source!r}); remove the entry to silence this")
    if args.name:
        unknown = sorted(set(args.name) - {e.name for e in (*entries, *skipped)})
        if unknown:
            parser.error(f"--name {unknown}: not in params 'cross' ({[e.name for e in entries]})")
        entries = tuple(e for e in entries if e.name in args.name)
    for folder in (Path(args.metrics) / "cross", Path(args.plots) / "cross"):
        folder.mkdir(parents=True, exist_ok=True)  # DVC's outputs of this stage, even when there is nothing to do
    if not entries:
        print(f"add cross: params 'cross' lists no{' other' if skipped else ''} dataset; nothing to evaluate")
        return 0
    models = trained_models(paths, args.models)
    for entry in entries:
        evaluate_entry(entry, models, cache_root=args.cache, metrics_root=args.metrics, plots_root=args.plots,
                           jobs=args.jobs, device=args.device)
    return 0
