"""Stage ``gallery``: the paper's Grad-CAM comparison, teacher vs plain vs ADD student on the same test faces.

    add gallery --method Deepfakes --quality c40      # -> plots/gradcam/Deepfakes/c40.png

Details in :mod:`add.gallery`.
"""

from __future__ import annotations

from pathlib import Path

from add import gallery
from add.layout import PLOTS, gallery_png
from add.params import Params, load_params
from add.qualities import check_student_quality
from add.stage_args import add_method, add_models, add_shards, add_student_quality, default_method, stage_parser


def settings(params: Params, quality: str = "c40") -> tuple[int, str]:
    """All the stage reads from the params: the faces per class and the teacher's quality (its column)."""
    reference = params.teacher.quality
    check_student_quality(reference, quality, key="--quality")
    return gallery.faces_per_class(params), reference


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add gallery", gallery.__doc__)
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
    gallery.gallery(args.shards, args.models, method, args.quality, per_class, out, reference)
    print(f"gallery: {out}")
    return 0
