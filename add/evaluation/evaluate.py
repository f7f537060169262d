"""Stage ``evaluate``: test metrics of one best checkpoint (never used to select anything).

    add evaluate --kind teacher --method Deepfakes                      # teacher on raw test crops
    add evaluate --kind student --method Deepfakes --quality c40 --distill add

Metrics (flat JSON for ``dvc metrics show/diff``; NaN written as null):
- ``acc``, ``auc``, ``eer``, ``ap``: frame level, on P(fake) (fake when P > 0.5); EER and average precision as
  DeepfakeBench reports them (definitions in ``add.models.metrics``);
- ``r_at_1``: for each test frame, its nearest TRAINING frame (same method and quality) in the penultimate-feature
  space by Euclidean distance; the fraction whose neighbour has the same label (the paper's R@1, as the authors'
  code computes it). ``r_at_1_cosine``: the same with cosine similarity. The training embeddings are streamed batch
  by batch, never all held;
- ``video_acc``, ``video_auc``, ``video_eer``, ``video_ap``: per video, on the mean P(fake) of its frames;
- counts (``frames``, ``videos``, ``real_frames``, ``fake_frames``) and, from the checkpoint, ``val_acc`` and
  ``step`` of the best validation;
- ``undefined``, only when the test split lacks a class: which one, and that the metrics needing both (AUC, EER, AP,
  frame and video) are null.

Plots (in ``--plots``): ``roc.csv`` (fpr, tpr, threshold) and ``confusion.csv`` (actual, predicted per frame) for
DVC plot templates (``simple``/``linear`` with x=fpr y=tpr; ``confusion`` with x=actual y=predicted), and
``roc.png`` / ``confusion.png``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from add.core.args import add_method, add_models, add_shards, add_student_quality, default_method, stage_parser
from add.core.errors import AddError
from add.core.io import atomic_write_json, atomic_write_text
from add.core.layout import KINDS, METRICS, PLOTS, QUALITIES, SHARDS, evaluation_paths
from add.core.params import Params, ParamsError, as_params, load_params
from add.core.qualities import check_test_quality
from add.data.loader import make_loader
from add.evaluation.figures import save_png
from add.models.metrics import (
    MetricWarning,
    NearestNeighbor,
    accuracy,
    average_precision,
    confusion_matrix,
    equal_error_rate,
    finite_or_none,
    roc_auc,
    roc_curve,
    undefined_note,
    video_level,
)
from add.training.checkpoints import load_detector
from add.training.predictions import iter_outputs, predict
from add.training.runtime import log, setup_runtime

CLASS_NAMES = ("real", "fake")


class EvaluationError(AddError):
    """The predictions cannot be scored (non-finite outputs, an empty test split, mixed video labels)."""



@dataclass(frozen=True)
class EvalSettings:
    """What evaluation reads from the params: how batches are made (never what a model learnt)."""

    seed: int
    batch_size: int
    num_workers: int

    @classmethod
    def from_params(cls, params: Params | dict) -> EvalSettings:
        params = as_params(params)
        return cls(params.seed, params.train.batch_size, params.train.num_workers)


def evaluate_checkpoint(params: Params | dict, checkpoint: str | os.PathLike, *, quality: str | None = None,
                        shards: str | os.PathLike = SHARDS) -> tuple[dict, dict]:
    """``(metrics, curves)`` of ``checkpoint`` on the test split of its method at ``quality`` (default: its own)."""
    cfg = EvalSettings.from_params(params)
    runtime = setup_runtime()
    model, meta = load_detector(checkpoint, runtime)
    method = meta.get("method")
    quality = quality or meta.get("quality")
    if quality not in QUALITIES:
        raise ParamsError(f"{checkpoint}: test quality must be one of {list(QUALITIES)}, got {quality!r}")

    def loader(split: str):
        return make_loader(shards, method, split, [quality], cfg.batch_size, train=False, seed=cfg.seed,
                           num_workers=cfg.num_workers)

    test = predict(model, loader("test"), quality, runtime, embeddings=True, desc=f"test {method}/{quality}")
    if test.labels.size == 0:
        raise EvaluationError(f"{shards}: the test split of {method} is empty")
    if not np.isfinite(test.probs).all():
        raise EvaluationError(f"{checkpoint}: the model gives non-finite outputs on "
                              f"{int((~np.isfinite(test.probs)).sum())} test frame(s)")
    neighbours = {metric: NearestNeighbor(test.embeddings, test.labels, metric=metric)
                  for metric in ("euclidean", "cosine")}
    for _, embedding, batch in iter_outputs(model, loader("train"), quality, runtime,
                                            desc=f"R@1 reference: train {method}/{quality}"):
        for tracker in neighbours.values():
            tracker.update(embedding, batch["label"].numpy())
    try:
        videos, video_labels, video_scores = video_level(test.videos, test.labels, test.probs)
    except ValueError as e:
        raise EvaluationError(f"{shards}: {method}/test: {e}") from None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MetricWarning)
        metrics = {
            "acc": accuracy(test.labels, test.probs),
            "auc": roc_auc(test.labels, test.probs),
            "eer": equal_error_rate(test.labels, test.probs),
            "ap": average_precision(test.labels, test.probs),
            "r_at_1": neighbours["euclidean"].recall_at_1(),
            "r_at_1_cosine": neighbours["cosine"].recall_at_1(),
            "video_acc": accuracy(video_labels, video_scores),
            "video_auc": roc_auc(video_labels, video_scores),
            "video_eer": equal_error_rate(video_labels, video_scores),
            "video_ap": average_precision(video_labels, video_scores),
        }
        fpr, tpr, thresholds = roc_curve(test.labels, test.probs)
    for warning in {str(w.message) for w in caught}:
        log(f"evaluate {method}/{quality}: warning: {warning}")
    metrics = {k: finite_or_none(v) for k, v in metrics.items()}
    metrics.update({"frames": int(test.labels.size), "videos": len(videos),
                    "real_frames": int((test.labels == 0).sum()), "fake_frames": int((test.labels == 1).sum()),
                    "val_acc": finite_or_none(meta.get("val_acc", math.nan)), "step": int(meta.get("step", -1))})
    note = undefined_note(test.labels)
    if note is not None:  # only then: a two-class split's metrics file keeps its fields
        metrics["undefined"] = note
    title = " ".join(str(part) for part in (meta.get("kind", "model"), method, meta.get("distill"), "on", quality)
                     if part)
    curves = {"fpr": fpr, "tpr": tpr, "thresholds": thresholds, "labels": test.labels, "probs": test.probs,
              "videos": test.videos, "keys": test.keys,
              "confusion": confusion_matrix(test.labels, test.probs), "title": title}
    return metrics, curves


def write_plots(plots: str | os.PathLike, curves: dict) -> None:
    plots = Path(plots)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["fpr", "tpr", "threshold"])
    for f, t, th in zip(curves["fpr"], curves["tpr"], curves["thresholds"], strict=True):
        writer.writerow([f"{f:.6g}", f"{t:.6g}", "inf" if math.isinf(th) else f"{th:.6g}"])
    atomic_write_text(plots / "roc.csv", buffer.getvalue())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["actual", "predicted"])
    predicted = (curves["probs"] > 0.5).astype(int)
    for actual, pred in zip(curves["labels"], predicted, strict=True):
        writer.writerow([CLASS_NAMES[int(actual)], CLASS_NAMES[int(pred)]])
    atomic_write_text(plots / "confusion.csv", buffer.getvalue())
    write_figures(plots, curves)


def write_predictions(path: str | os.PathLike, curves: dict) -> None:
    """Per test frame ``key, video, label, prob`` (P(fake)) as CSV: what the seeded study's bootstrap resamples."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["key", "video", "label", "prob"])
    for key, video, label, prob in zip(curves["keys"], curves["videos"], curves["labels"], curves["probs"],
                                       strict=True):
        writer.writerow([key, video, int(label), f"{float(prob):.9g}"])
    atomic_write_text(path, buffer.getvalue())


def write_figures(plots: Path, curves: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.plot(curves["fpr"], curves["tpr"], lw=1.5)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01),
           title=f"ROC: {curves['title']}")
    ax.title.set_fontsize(9)
    fig.tight_layout()
    save_png(fig, plots / "roc.png")

    matrix = curves["confusion"]
    fig, ax = plt.subplots(figsize=(3.4, 3), dpi=100)
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if count > matrix.max() / 2 else "black")
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES, xlabel="predicted",
           ylabel="actual", title=f"confusion: {curves['title']}")
    ax.title.set_fontsize(8)
    fig.tight_layout()
    save_png(fig, plots / "confusion.png")


def settings(params: Params, kind: str = "teacher", test_quality: str | None = None
             ) -> tuple[EvalSettings, str | None]:
    """All the stage reads from the params: how batches are made, and ``teacher.quality`` (a teacher is tested on
    its own quality by default; nothing better than it was extracted). Returns the settings and the test quality."""
    teacher = params.teacher.quality
    if kind == "teacher" and test_quality is None:
        test_quality = teacher
    if test_quality is not None:
        check_test_quality(teacher, test_quality, key="--test-quality")
    return EvalSettings.from_params(params), test_quality


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add evaluate", __doc__)
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
    metrics, curves = evaluate_checkpoint(params, checkpoint, quality=test_quality, shards=args.shards)
    atomic_write_json(metrics_path, metrics)
    write_plots(plots_dir, curves)
    if args.predictions:
        write_predictions(args.predictions, curves)
    log(f"evaluate: {metrics_path}: " + ", ".join(f"{k} {v}" for k, v in metrics.items()))
    return 0
