"""Stage ``spectrum``: the paper's Fig. 1, mean log spectra of raw and compressed test crops.

    add spectrum --method Deepfakes --quality c40     # -> plots/spectrum/Deepfakes/c40.png

Details in :mod:`add.spectrum`.
"""

from __future__ import annotations

from pathlib import Path

from add import spectrum
from add.layout import PLOTS, spectrum_png
from add.params import Params, load_params
from add.qualities import check_student_quality
from add.stage_args import add_method, add_shards, add_student_quality, default_method, stage_parser


def settings(params: Params, quality: str = "c40") -> str:
    """All the stage reads from the params: the teacher's quality, the spectra's reference (``data.methods`` only
    for a missing --method)."""
    reference = params.teacher.quality
    check_student_quality(reference, quality, key="--quality")
    return reference


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add spectrum", spectrum.__doc__)
    add_method(parser)
    add_student_quality(parser, "c40", "compressed crops compared with raw (default: %(default)s)")
    add_shards(parser)
    parser.add_argument("--out", default=None, help="PNG (default: plots/spectrum/{method}/{quality}.png)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    method = args.method or default_method(params)
    reference = settings(params, args.quality)
    out = Path(args.out) if args.out else spectrum_png(PLOTS, method, args.quality)
    spectrum.draw(spectrum.mean_spectra(args.shards, method, args.quality, reference), method, args.quality, out)
    print(f"spectrum: {out}")
    return 0
