"""Stage ``cross_demo``: the demo's cross-dataset set (:mod:`add.data.demo.cross`) under ``data/demo_cross``.

With ``data.source: demo`` it builds the set from the seed and the demo params (its identities are those the
training demo does not use); with ``data.source: ffpp`` the folder (a DVC output) is left empty.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from add.data import ffpp
from add.data.demo.cross import MARKER, build_cross_demo
from add.data.demo.planning import DemoConfig
from add.errors import AddError
from add.layout import CROSS_DEMO_ROOT
from add.params import load_params
from add.stage_args import stage_parser


def run(params: dict, root: str = CROSS_DEMO_ROOT) -> Path:
    cfg = ffpp.FFPPConfig.from_params(params)
    root_path = Path(root)
    if cfg.source == "demo":
        demo = DemoConfig.from_params(params)
        return build_cross_demo(root_path, seed=demo.seed, demo=demo, methods=cfg.methods)
    if root_path.exists() and any(root_path.iterdir()) and not (root_path / MARKER).is_file():
        raise AddError(f"{root_path}: not the demo's cross set (no {MARKER}); refusing to empty it")
    shutil.rmtree(root_path, ignore_errors=True)
    root_path.mkdir(parents=True)
    return root_path


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add cross_demo", __doc__)
    parser.add_argument("--out", default=CROSS_DEMO_ROOT, help="folder to build it in (default: %(default)s)")
    args = parser.parse_args(argv)
    root = run(load_params(args.params), args.out)
    print(f"demo cross set: {root}")
    return 0
