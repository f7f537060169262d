"""Stage ``shards``: pack the face triplets into WebDataset shards, one seeded shuffle per method and split.

    add shards                       # params.yaml: seed, shards.max_samples_per_shard

Writes ``data/shards/{method}/{split}/*.tar`` and ``data/shards/index.json``; details in :mod:`add.data.shards`.
"""

from __future__ import annotations

import contextlib
import sys

from add.data import shards
from add.layout import FACES, MANIFEST, SHARDS
from add.params import load_params
from add.stage_args import stage_parser

settings = shards.settings  # all the stage reads from the params


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add shards", shards.__doc__)
    parser.add_argument("--faces", default=FACES, help="folder of per-video face tars")
    parser.add_argument("--manifest", default=MANIFEST)
    parser.add_argument("--out", default=SHARDS, help="output folder (shards + index.json)")
    args = parser.parse_args(argv)
    index = shards.run(load_params(args.params), args.faces, args.manifest, args.out)
    with contextlib.suppress(BrokenPipeError):
        print("\n".join(shards.summary(index)), file=sys.stdout)
    return 0
