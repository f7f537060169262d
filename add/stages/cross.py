"""Stage ``cross``: every trained model scored on the test-only datasets of ``cross:`` in params.yaml.

    add cross [--name NAME ...] [--jobs N]

Writes ``metrics/cross/<name>/<compression>/<model path>.json`` and ``plots/cross/<name>.png``; the face crops are
cached under ``data/cross/`` (a new model re-uses them, a killed run resumes). Details in :mod:`add.cross.run`.
"""

from __future__ import annotations

from pathlib import Path

from add.cross import run
from add.layout import CROSS_FACES, METRICS, PLOTS
from add.params import CrossEntry, Params, load_params
from add.stage_args import add_models, stage_parser


def settings(params: Params) -> tuple[tuple[CrossEntry, ...], list[str]]:
    """All the stage reads from the params: the datasets and the models to score (``data.methods``,
    ``students.*``)."""
    entries = params.cross
    return entries, run.model_paths(params) if entries else []


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
    entries, paths = settings(load_params(args.params))
    if args.name:
        unknown = sorted(set(args.name) - {e.name for e in entries})
        if unknown:
            parser.error(f"--name {unknown}: not in params 'cross' ({[e.name for e in entries]})")
        entries = tuple(e for e in entries if e.name in args.name)
    for folder in (Path(args.metrics) / "cross", Path(args.plots) / "cross"):
        folder.mkdir(parents=True, exist_ok=True)  # DVC's outputs of this stage, even when there is nothing to do
    if not entries:
        print("add cross: params 'cross' lists no dataset; nothing to evaluate")
        return 0
    models = run.trained_models(paths, args.models)
    for entry in entries:
        run.evaluate_entry(entry, models, cache_root=args.cache, metrics_root=args.metrics, plots_root=args.plots,
                           jobs=args.jobs, device=args.device)
    return 0
