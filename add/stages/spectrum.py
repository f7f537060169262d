"""Stage ``spectrum``: the paper's Fig. 1, mean log spectra of raw and compressed test crops.

    add spectrum --method Deepfakes --quality c40     # -> plots/spectrum/Deepfakes/c40.png

Details in :mod:`add.spectrum`.
"""

from __future__ import annotations

from pathlib import Path

from add import spectrum
from add.layout import PLOTS, spectrum_png
from add.params import Params, load_params
from add.stage_args import add_method, add_shards, add_student_quality, default_method, stage_parser


def settings(params: Params) -> None:
    """The stage reads no params (``data.methods`` only for a missing --method)."""


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add spectrum", spectrum.__doc__)
    add_method(parser)
    add_student_quality(parser, "c40", "compressed crops compared with raw (default: %(default)s)")
    add_shards(parser)
    parser.add_argument("--out", default=None, help="PNG (default: plots/spectrum/{method}/{quality}.png)")
    args = parser.parse_args(argv)
    method = args.method or default_method(load_params(args.params))
    out = Path(args.out) if args.out else spectrum_png(PLOTS, method, args.quality)
    spectrum.draw(spectrum.mean_spectra(args.shards, method, args.quality), method, args.quality, out)
    print(f"spectrum: {out}")
    return 0
