"""Stage ``videos``: make the videos exist, then index them.

    add videos                       # params.yaml: data.source, data.root, data.*, demo.*, seed

``data.source: demo`` builds the built-in demo tree (offline, from the seed) under ``data/demo``;
``data.source: ffpp`` uses the FF++ tree at ``data.root``, downloading what is missing first when
``data.download: true``; ``data.source: list`` reads the CSV ``data.list`` (:mod:`add.data.list_source`) and makes
the c23/c40 twins of its videos under ``data/twins`` (:mod:`add.data.twins`). Either way the stage ends by
listing every video of the chosen methods, qualities and splits into ``data/videos.parquet`` (schema in
docs/architecture.md) — or by reporting exactly what is missing.

The stage deletes nothing but its own output folder (``data/demo``), and only after every check passed: it
refuses, naming both paths, when ``data.root`` is that folder, lies inside it or contains it, and it never
deletes a non-empty folder there that is not a demo tree.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from add.core.args import stage_parser
from add.core.determinism import usable_cpus
from add.core.errors import AddError
from add.core.io import atomic_path, refuse_overlap
from add.core.layout import DEMO_ROOT, TWINS, VIDEOS
from add.core.params import Params, as_params, load_params
from add.data import ffpp

if TYPE_CHECKING:
    from add.data.demo.planning import DemoConfig


def settings(params: Params | dict) -> tuple[ffpp.FFPPConfig, DemoConfig | None]:
    """What the stage reads: the source (``data.*``, ``teacher.quality``) and, for the demo, ``demo.*`` and
    ``seed``."""
    params = as_params(params)
    cfg = ffpp.FFPPConfig.from_params(params)
    if cfg.source != "demo":
        return cfg, None
    from add.data.demo.planning import DemoConfig

    return cfg, DemoConfig.from_params(params)


def run(params: Params | dict, videos: str | os.PathLike = VIDEOS, demo_root: str | os.PathLike = DEMO_ROOT,
        twins: str | os.PathLike = TWINS) -> Path:
    cfg, demo = settings(params)
    demo_root = Path(demo_root)
    Path(twins).mkdir(parents=True, exist_ok=True)  # a DVC output of this stage; filled for a list source
    if demo is not None:
        from add.data.demo.build import build_demo

        build_demo(demo_root, **demo.build_kwargs(methods=cfg.methods, qualities=cfg.qualities))
        root = demo_root
        table = ffpp.list_videos(root, cfg.methods, cfg.qualities, max_videos=cfg.max_videos)
    elif cfg.source == "list":
        from add.data.list_source import index_list, read_list

        root = cfg.list
        refuse_overlap(demo_root, Path(twins), output_what="the demo folder", other_what="the twins folder")
        _check_replaceable(demo_root)
        table = index_list(read_list(cfg.list, missing=cfg.missing), cfg.qualities, twins,
                           given=cfg.list_quality, missing=cfg.missing, jobs=cfg.jobs or usable_cpus())
        if demo_root.exists():
            shutil.rmtree(demo_root)
        demo_root.mkdir(parents=True)
    else:
        root = Path(cfg.root)
        refuse_overlap(demo_root, root, output_what="the demo folder", other_what="data.root")
        _check_replaceable(demo_root)
        if cfg.download:
            from add.data.download import download

            download(cfg)
        table = cfg.list_videos()
        # DVC tracks data/demo as an output of this stage; for FF++ it is an empty folder. Emptied only now that
        # every check passed.
        if demo_root.exists():
            shutil.rmtree(demo_root)
        demo_root.mkdir(parents=True)
    table = ffpp.stamp_videos(table, cfg.qualities, content=cfg.source == "demo")
    with atomic_path(videos) as tmp:
        table.to_parquet(tmp, index=False)
    counts = table.groupby(["split", "method"]).size()
    print(f"indexed {len(table)} videos from {root}:")
    for (split, method), n in counts.items():
        print(f"  {split:5s} {method:15s} {n}")
    return Path(videos)


def _check_replaceable(demo_root: Path) -> None:
    """The demo folder may be emptied: it is absent, an empty folder or a demo tree (holds the demo marker)."""
    from add.data.demo.build import MARKER

    if demo_root.exists() and (not demo_root.is_dir() or (any(demo_root.iterdir())
                                                          and not (demo_root / MARKER).is_file())):
        raise AddError(f"{demo_root}: the videos stage empties its demo folder when data.source is ffpp, but this "
                       f"one is not a demo tree (no {MARKER}); refusing to delete it — move it away or pass another "
                       f"--demo-root")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add videos", __doc__)
    parser.add_argument("--out", default=VIDEOS, help="video index to write (parquet)")
    parser.add_argument("--demo-root", default=DEMO_ROOT)
    parser.add_argument("--twins", default=TWINS, help="c23/c40 twins of a list source's videos (cached)")
    args = parser.parse_args(argv)
    params: Params = load_params(args.params)
    run(params, args.out, args.demo_root, args.twins)
    return 0
