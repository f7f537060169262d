"""Stage ``videos``: make the videos exist (the demo, or FF++ downloaded/validated), then index them.

    add videos                       # params.yaml: data.source, data.root, data.*, demo.*, seed

Writes ``data/videos.parquet`` (and the demo tree under ``data/demo``); details in :mod:`add.data.sources`.
"""

from __future__ import annotations

from add.data import sources
from add.layout import DEMO_ROOT, TWINS, VIDEOS
from add.params import Params, load_params
from add.stage_args import stage_parser

settings = sources.settings  # all the stage reads from the params


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add videos", sources.__doc__)
    parser.add_argument("--out", default=VIDEOS, help="video index to write (parquet)")
    parser.add_argument("--demo-root", default=DEMO_ROOT)
    parser.add_argument("--twins", default=TWINS, help="c23/c40 twins of a list source's videos (cached)")
    args = parser.parse_args(argv)
    params: Params = load_params(args.params)
    sources.run(params, args.out, args.demo_root, args.twins)
    return 0
