"""Stage ``cross_demo``: the demo's cross-dataset set under ``data/demo_cross`` (:mod:`add.data.demo.cross`).

    add cross_demo                   # params.yaml: data.source, seed, demo.pairs, demo.strength

With ``data.source: demo`` it builds the set from the seed (its faces are those the training demo's plan does not
draw, from ``seed`` and ``demo.pairs``; its swaps use ``demo.strength``); with ``data.source: ffpp`` the folder (a
DVC output) is left empty.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from add.data.demo.cross import MARKER, build_cross_demo
from add.data.demo.planning import DemoConfig
from add.errors import AddError
from add.layout import CROSS_DEMO_ROOT
from add.params import Params, load_params
from add.stage_args import stage_parser


def settings(params: Params) -> DemoConfig | None:
    """All the stage reads from the params: None for FF++, else the training demo's seed, pairs and strength."""
    if params.data.source != "demo":
        return None
    return DemoConfig(seed=params.seed, pairs=tuple(params.demo.pairs), strength=params.demo.strength)


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add cross_demo", __doc__)
    parser.add_argument("--out", default=CROSS_DEMO_ROOT, help="folder to build it in (default: %(default)s)")
    args = parser.parse_args(argv)
    demo = settings(load_params(args.params))
    root = Path(args.out)
    if demo is not None:
        build_cross_demo(root, seed=demo.seed, demo=demo)
        print(f"demo cross set: {root}")
        return 0
    if root.exists() and any(root.iterdir()) and not (root / MARKER).is_file():
        raise AddError(f"{root}: not the demo's cross set (no {MARKER}); refusing to empty it")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    print(f"demo cross set: none (data.source is not demo); {root} left empty")
    return 0
