"""Where the pipeline's files live: every path a stage reads or writes, and the names those paths are made of.

The one place that knows the layout (docs/architecture.md draws it). Stage modules take their default paths from
here and never from each other; ``dvc.yaml`` lists the same paths as the stages' deps and outs.

    data/demo/                                  videos      the built-in demo tree (FF++ layout, add.data.ffpp)
    data/videos.parquet                         videos      the video index
    data/twins/{quality}/{video}.mp4            videos      c23/c40 twins of a list source's videos
    data/faces/{method}/{video}.tar             extract     face crops per video (+ .decisions.json sidecars)
    data/manifest.parquet                       extract     every frame decision (MANIFEST_COLUMNS)
    metrics/extract.json                        extract     totals
    data/shards/{method}/{split}/*.tar, index.json   shards  WebDataset shards and their index (INDEX)
    models/teacher/{method}/{best,last}.pt      train       (dvclive/teacher/{method}/: its logs)
    models/student/{method}/{quality}/{distill}/{best,last}.pt   distill   (dvclive/student/...: its logs)
    metrics/{teacher,student}/..., plots/{teacher,student}/...   evaluate  (evaluation_paths)
    plots/gradcam/{method}/{quality}.png        gallery
    plots/spectrum/{method}/{quality}.png       spectrum
    data/demo_cross/                            cross_demo  the demo's cross-dataset set (Celeb-DF layout)
    data/cross/{name}/{key}/{video}.{json,npy}  cross       cross datasets' face crops (add.evaluation.cross_faces)
    metrics/cross/{name}/{compression}/{model path}.json   cross   (model path: teacher/{method}, student/...)
    plots/cross/{name}.png                      cross       the models compared on a cross dataset

This module imports nothing heavy (no pandas, no torch): extraction workers and every stage load it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from add.core.errors import ParamsError
from add.core.io import file_sha256

# ---------------------------------------------------------------------------- the names paths are made of (FF++)

METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
QUALITIES = ("raw", "c23", "c40")
STUDENT_QUALITIES = ("c23", "c40")  # what a student may see; below teacher.quality (add.core.qualities)
ORIGINAL = "original"  # the method folder of the real videos
LIST_METHOD = "list"  # the fakes of a list source (data.source: list; add.data.list_source): data.methods [list]
METHOD_CHOICES = (*METHODS, LIST_METHOD)
SPLITS = ("train", "val", "test")
LABELS = {"real": 0, "fake": 1}  # a list's labels (data.list, a cross list), in any case: DFDC writes REAL/FAKE
KINDS = ("teacher", "student")

# --------------------------------------------------------------------------------------------------- data

DEMO_ROOT = "data/demo"
TWINS = "data/twins"  # c23/c40 re-encodings of a list source's videos (add.data.twins)
VIDEOS = "data/videos.parquet"
FACES = "data/faces"
MANIFEST = "data/manifest.parquet"
EXTRACT_METRICS = "metrics/extract.json"
SHARDS = "data/shards"
CROSS_DEMO_ROOT = "data/demo_cross"
CROSS_FACES = "data/cross"
INDEX = "index.json"  # the shard index, in SHARDS

# Columns of data/manifest.parquet, one row per frame decision (extract writes it, shards reads it).
MANIFEST_COLUMNS = ("split", "method", "video", "frame", "label", "x0", "y0", "x1", "y1", "score", "status", "reason")

# ------------------------------------------------------------------------------------------------- models

MODELS = "models"
DVCLIVE = "dvclive"
METRICS = "metrics"
PLOTS = "plots"
BEST = "best.pt"  # the best validation checkpoint: what evaluation, distillation and prediction read
LAST = "last.pt"  # the resumable state


def parse_label(text: str) -> int | None:
    """0 (real) or 1 (fake) for a list's label cell, whatever its case and surrounding spaces; None otherwise."""
    return LABELS.get(text.strip().lower())


def check_method(method: str, *, original: bool = False) -> str:
    """``method`` when it is a manipulation method (or, with ``original``, the originals' folder name)."""
    allowed = (ORIGINAL, *METHOD_CHOICES) if original else METHOD_CHOICES
    if method not in allowed:
        raise ParamsError(f"unknown method {method!r}; choose from {list(allowed)}")
    return method


def teacher_dir(root: str | os.PathLike, method: str) -> Path:
    """The teacher's folder under ``root`` (MODELS for checkpoints, DVCLIVE for logs)."""
    return Path(root) / "teacher" / method


def student_dir(root: str | os.PathLike, method: str, quality: str, distill: str) -> Path:
    """A student's folder under ``root`` (MODELS for checkpoints, DVCLIVE for logs)."""
    return Path(root) / "student" / method / quality / distill


def evaluation_paths(kind: str, method: str, quality: str | None, distill: str | None, test_quality: str | None,
                     models: str | os.PathLike = MODELS, metrics: str | os.PathLike = METRICS,
                     plots: str | os.PathLike = PLOTS) -> tuple[Path, Path, Path]:
    """``(checkpoint, metrics JSON, plots folder)`` of evaluating a teacher or a student on ``test_quality``
    (default: the quality it was trained on); a student tested on another quality is ``{distill}_on_{quality}``."""
    if kind == "teacher":
        tested = test_quality or "raw"
        return (teacher_dir(models, method) / BEST, Path(metrics) / "teacher" / method / f"{tested}.json",
                Path(plots) / "teacher" / method / tested)
    if quality is None or distill is None:
        raise ParamsError("--kind student needs --quality and --distill")
    name = distill if test_quality in (None, quality) else f"{distill}_on_{test_quality}"
    return (student_dir(models, method, quality, distill) / BEST,
            Path(metrics) / "student" / method / quality / f"{name}.json",
            Path(plots) / "student" / method / quality / name)


def gallery_png(plots: str | os.PathLike, method: str, quality: str) -> Path:
    return Path(plots) / "gradcam" / method / f"{quality}.png"


def spectrum_png(plots: str | os.PathLike, method: str, quality: str) -> Path:
    return Path(plots) / "spectrum" / method / f"{quality}.png"


def data_digest(shards: str | os.PathLike) -> str:
    """Identifies the training data for resuming: the shard index and the content of every shard it lists (new
    shards with the same paths and counts, e.g. from a recalibrated demo, must not resume a finished run)."""
    path = Path(shards) / INDEX
    if not path.is_file():
        return ""
    digest = hashlib.sha256(file_sha256(path).encode())
    for tar in sorted(Path(shards).rglob("*.tar")):
        digest.update(f"{tar.relative_to(shards).as_posix()}:{file_sha256(tar)}".encode())
    return digest.hexdigest()


def cross_metrics_path(metrics: str | os.PathLike, name: str, compression: str, model_path: str) -> Path:
    """``metrics/cross/{name}/{compression}/{model path}.json``; ``model_path`` e.g. ``teacher/Deepfakes``."""
    return Path(metrics) / "cross" / name / compression / f"{model_path}.json"


def cross_plot_png(plots: str | os.PathLike, name: str) -> Path:
    return Path(plots) / "cross" / f"{name}.png"
