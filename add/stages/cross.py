"""Stage ``cross``: every trained model scored on the test-only datasets of ``cross:`` in params.yaml.

    add cross [--name NAME ...] [--jobs N]

Writes ``metrics/cross/<name>/<compression>/<model path>.json`` and ``plots/cross/<name>.png``; the face crops are
cached under ``data/cross/`` (a new model re-uses them, a killed run resumes). Details in :mod:`add.cross.run`.
An entry whose root is the demo's cross set (``data/demo_cross``, stage ``cross_demo``) applies to
``data.source: demo`` only: with another source that folder is left empty, and the entry is skipped, saying so.
"""

from __future__ import annotations

import os
from pathlib import Path

from add.cross import run
from add.layout import CROSS_DEMO_ROOT, CROSS_FACES, METRICS, PLOTS
from add.params import CrossEntry, Params, load_params
from add.stage_args import add_models, stage_parser


def is_demo_set(entry: CrossEntry) -> bool:
    """Whether ``entry`` scores the demo's cross set, which stage cross_demo builds for ``data.source: demo`` only."""
    return os.path.normpath(entry.root) == os.path.normpath(CROSS_DEMO_ROOT)


def settings(params: Params) -> tuple[tuple[CrossEntry, ...], list[str], tuple[CrossEntry, ...]]:
    """All the stage reads from the params: the datasets, the models to score (``data.methods``, ``students.*``),
    and the entries skipped (the demo's cross set when ``data.source`` is not demo)."""
    entries = params.cross
    skipped = tuple(e for e in entries if is_demo_set(e)) if entries and params.data.source != "demo" else ()
    entries = tuple(e for e in entries if e not in skipped)
    return entries, run.model_paths(params) if entries else [], skipped


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
    models = run.trained_models(paths, args.models)
    for entry in entries:
        run.evaluate_entry(entry, models, cache_root=args.cache, metrics_root=args.metrics, plots_root=args.plots,
                           jobs=args.jobs, device=args.device)
    return 0
