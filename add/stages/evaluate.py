"""Stage ``evaluate``: test metrics and plots of one best checkpoint (never used to select anything).

    add evaluate --kind teacher --method Deepfakes --test-quality raw
    add evaluate --kind student --method Deepfakes --quality c40 --distill add

Writes ``metrics/{teacher,student}/...json`` and ``plots/{teacher,student}/.../{roc,confusion}.{csv,png}``; the
metrics are defined in :mod:`add.evaluate`.
"""

from __future__ import annotations

from pathlib import Path

from add import evaluate
from add.io import atomic_write_json
from add.layout import KINDS, METRICS, PLOTS, QUALITIES, evaluation_paths
from add.params import Params, load_params
from add.qualities import check_test_quality
from add.stage_args import add_method, add_models, add_shards, add_student_quality, default_method, stage_parser
from add.trainer.runtime import log


def settings(params: Params, kind: str = "teacher", test_quality: str | None = None
             ) -> tuple[evaluate.EvalSettings, str | None]:
    """All the stage reads from the params: how batches are made, and ``teacher.quality`` (a teacher is tested on
    its own quality by default; nothing better than it was extracted). Returns the settings and the test quality."""
    teacher = params.teacher.quality
    if kind == "teacher" and test_quality is None:
        test_quality = teacher
    if test_quality is not None:
        check_test_quality(teacher, test_quality, key="--test-quality")
    return evaluate.EvalSettings.from_params(params), test_quality


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add evaluate", evaluate.__doc__)
    parser.add_argument("--kind", choices=KINDS, default="teacher")
    add_method(parser)
    add_student_quality(parser, None, "student: the quality it was trained on")
    parser.add_argument("--distill", default=None, help="student: its distiller name")
    parser.add_argument("--test-quality", default=None, choices=QUALITIES,
                        help="test crops (default: the model's training quality)")
    parser.add_argument("--checkpoint", default=None, help="override the checkpoint path")
    add_shards(parser)
    add_models(parser)
    parser.add_argument("--metrics", default=METRICS, help="metrics root (default: %(default)s)")
    parser.add_argument("--plots", default=PLOTS, help="plots root (default: %(default)s)")
    parser.add_argument("--predictions", default=None,
                        help="also write each test frame's key, video, label and P(fake) to this CSV")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    method = args.method or default_method(params)
    _, test_quality = settings(params, args.kind, args.test_quality)
    checkpoint, metrics_path, plots_dir = evaluation_paths(args.kind, method, args.quality, args.distill,
                                                        test_quality, args.models, args.metrics, args.plots)
    checkpoint = Path(args.checkpoint) if args.checkpoint else checkpoint
    metrics, curves = evaluate.evaluate_checkpoint(params, checkpoint, quality=test_quality, shards=args.shards)
    atomic_write_json(metrics_path, metrics)
    evaluate.write_plots(plots_dir, curves)
    if args.predictions:
        evaluate.write_predictions(args.predictions, curves)
    log(f"evaluate: {metrics_path}: " + ", ".join(f"{k} {v}" for k, v in metrics.items()))
    return 0
