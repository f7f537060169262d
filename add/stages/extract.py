"""Stage ``extract``: detect faces and crop aligned raw/c23/c40 triplets, video by video (resumable).

    add extract                      # params.yaml: seed, data.frames_per_video, data.image_size, data.detect_*, ...

Writes ``data/faces/{method}/{video}.tar``, ``data/manifest.parquet`` and ``metrics/extract.json``; details in
:mod:`add.data.extract`.
"""

from __future__ import annotations

from add.data.extract import stage as extraction
from add.data.extract.config import ExtractConfig
from add.layout import EXTRACT_METRICS, FACES, MANIFEST, VIDEOS
from add.params import load_params
from add.stage_args import stage_parser

settings = ExtractConfig.from_params  # all the stage reads from the params


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add extract", extraction.__doc__)
    parser.add_argument("--videos", default=VIDEOS, help="videos table written by the videos stage")
    parser.add_argument("--out-dir", default=FACES, help="folder of per-video face tars")
    parser.add_argument("--manifest", default=MANIFEST, help="parquet of every frame decision")
    parser.add_argument("--metrics", default=EXTRACT_METRICS, help="flat JSON totals")
    parser.add_argument("--force", action="store_true", help="re-extract every video, ignoring complete outputs")
    args = parser.parse_args(argv)
    totals = extraction.run(load_params(args.params), args.videos, args.out_dir, args.manifest, args.metrics,
                            force=args.force)
    print(f"extract: {totals['videos_kept']}/{totals['videos']} videos kept, {totals['frames_kept']} frames "
          f"({totals['frames_fallback']} fallback), {totals['videos_dropped']} dropped, "
          f"{totals['videos_resumed']} resumed; details in {args.manifest}")
    return 0
