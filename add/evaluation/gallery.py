"""Stage ``gallery``: the paper's Grad-CAM comparison on the same test faces, real and fake.

    add gallery --method Deepfakes --quality c40      # -> plots/gradcam/Deepfakes/c40.png

Columns: the raw crop, the raw-trained teacher's Grad-CAM on it, the ``quality`` crop of the same frame, and the
Grad-CAM of the plain student (``none``) and of the ADD student (``add``) on that compressed crop (checkpoints
``models/teacher/{method}/best.pt`` and ``models/student/{method}/{quality}/{none,add}/best.pt``). Each panel gives
the model's P(fake), green when its decision is right, red when wrong; maps are for the class the model predicts
(:mod:`add.models.gradcam`). Rows: ``gallery.faces_per_class`` real then as many fake faces from the test split (fewer
when it has fewer videos), one frame per video: the first frame met of each of the first videos met in the shards'
order (a fixed, seeded shuffle).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from add.core.args import add_method, add_models, add_shards, add_student_quality, default_method, stage_parser
from add.core.errors import AddError
from add.core.layout import BEST, PLOTS, gallery_png, student_dir, teacher_dir
from add.core.params import Params, as_params, load_params
from add.core.qualities import DEFAULT_TEACHER_QUALITY, check_student_quality
from add.core.registry import PAPER_DISTILLER, PLAIN_STUDENT
from add.data.loader import make_loader
from add.evaluation.figures import save_png
from add.models.gradcam import grad_cam, overlay
from add.training.checkpoints import load_detector
from add.training.runtime import log

DEFAULT_FACES = 4
BATCH = 32
PLAIN, DISTILLED = PLAIN_STUDENT, PAPER_DISTILLER
CLASS_NAMES = ("real", "fake")


class GalleryError(AddError):
    """The test split has no video of a class."""


def faces_per_class(params: Params | dict) -> int:
    return as_params(params).gallery.faces_per_class


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Loader tensors (``B x 3 x S x S`` in [-1, 1]) back to the RGB uint8 crops they were made from."""
    return ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def pick_faces(shards: str | os.PathLike, method: str, quality: str, per_class: int,
               reference: str = DEFAULT_TEACHER_QUALITY) -> tuple[dict[str, torch.Tensor], list[int], list[str]]:
    """Up to ``per_class`` real then up to ``per_class`` fake test samples, one per video: ``({"raw": x, quality: x},
    labels, videos)``."""
    chosen: dict[int, dict[str, tuple]] = {0: {}, 1: {}}
    for batch in make_loader(shards, method, "test", [reference, quality], BATCH, train=False, seed=0):  # no shuffle
        for i, (label, video) in enumerate(zip(batch["label"].tolist(), batch["video"], strict=True)):
            if len(chosen[label]) < per_class and video not in chosen[label]:
                chosen[label][video] = (batch[reference][i], batch[quality][i])
        if all(len(c) == per_class for c in chosen.values()):
            break
    for label, got in chosen.items():
        if not got:
            raise GalleryError(f"{shards}: the {method} test split has no {CLASS_NAMES[label]} video")
        if len(got) < per_class:
            log(f"gallery: the {method} test split has {len(got)} {CLASS_NAMES[label]} video(s), fewer than "
                f"gallery.faces_per_class ({per_class}): showing {len(got)}")
    picks = [(label, video, pair) for label in (0, 1) for video, pair in chosen[label].items()]
    faces = {reference: torch.stack([p[0] for _, _, p in picks]), quality: torch.stack([p[1] for _, _, p in picks])}
    return faces, [label for label, _, _ in picks], [video for _, video, _ in picks]


def model_views(models: str | os.PathLike, method: str, quality: str, reference: str = DEFAULT_TEACHER_QUALITY
                ) -> list[tuple[str, Path, str]]:
    """(column title, checkpoint, input quality) of the three models compared."""
    return [(f"teacher on {reference}", teacher_dir(models, method) / BEST, reference),
            (f"plain student on {quality}", student_dir(models, method, quality, PLAIN) / BEST, quality),
            (f"ADD student on {quality}", student_dir(models, method, quality, DISTILLED) / BEST, quality)]


def gallery(shards: str | os.PathLike, models: str | os.PathLike, method: str, quality: str, per_class: int,
            out: str | os.PathLike, reference: str = DEFAULT_TEACHER_QUALITY) -> None:
    faces, labels, videos = pick_faces(shards, method, quality, per_class, reference)
    columns = []
    for title, checkpoint, key in model_views(models, method, quality, reference):
        model, _ = load_detector(checkpoint)
        with torch.no_grad():
            probs = torch.softmax(model(faces[key]).float(), dim=1)[:, 1].numpy()
        columns.append((title, key, probs, grad_cam(model, faces[key])))
    crops = {key: to_uint8(x) for key, x in faces.items()}
    draw(crops, columns, labels, videos, method, quality, out, reference)


def draw(crops: dict[str, np.ndarray], columns: list, labels: list[int], videos: list[str], method: str,
         quality: str, out: str | os.PathLike, reference: str = DEFAULT_TEACHER_QUALITY) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(f"{reference} crop", reference, None), *[(t, k, (p, c)) for t, k, p, c in columns[:1]],
              (f"{quality} crop", quality, None), *[(t, k, (p, c)) for t, k, p, c in columns[1:]]]
    rows = len(labels)
    fig, axes = plt.subplots(rows, len(panels), figsize=(1.75 * len(panels), 1.85 * rows + 0.5), dpi=100,
                             squeeze=False)
    for r, (label, video) in enumerate(zip(labels, videos, strict=True)):
        for c, (title, key, scored) in enumerate(panels):
            ax = axes[r, c]
            face = crops[key][r]
            ax.set_xticks([])
            ax.set_yticks([])
            if scored is None:
                ax.imshow(face)
            else:
                probs, cams = scored
                ax.imshow(overlay(face, cams[r]))
                right = (probs[r] > 0.5) == bool(label)
                ax.set_xlabel(f"P(fake) {probs[r]:.2f}", color="tab:green" if right else "tab:red", fontsize=8,
                              labelpad=2)
            if r == 0:
                ax.set_title(title, fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{CLASS_NAMES[label]}\n{video}", fontsize=7)
    fig.suptitle(f"Grad-CAM, {method} test faces (map of the predicted class; green = right, red = wrong)",
                 fontsize=9)
    fig.tight_layout()
    save_png(fig, out)


def settings(params: Params, quality: str = "c40") -> tuple[int, str]:
    """All the stage reads from the params: the faces per class and the teacher's quality (its column)."""
    reference = params.teacher.quality
    check_student_quality(reference, quality, key="--quality")
    return faces_per_class(params), reference


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add gallery", __doc__)
    add_method(parser)
    add_student_quality(parser, "c40", "the students' quality (default: %(default)s)")
    add_shards(parser)
    add_models(parser)
    parser.add_argument("--out", default=None, help="PNG (default: plots/gradcam/{method}/{quality}.png)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    method = args.method or default_method(params)
    out = Path(args.out) if args.out else gallery_png(PLOTS, method, args.quality)
    per_class, reference = settings(params, args.quality)
    gallery(args.shards, args.models, method, args.quality, per_class, out, reference)
    print(f"gallery: {out}")
    return 0
