"""Stage ``extract``: detect faces and crop aligned raw/c23/c40 triplets, video by video (resumable).

    add extract                      # params.yaml: seed, data.frames_per_video, data.image_size, data.detect_*, ...
    add extract --part 2/8           # one of 8 shares of the videos (add.data.extract.parts), no manifest

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
    parser.add_argument("--part", default=None, metavar="i/N",
                        help="extract only part i (0..N-1) of N shares of the videos, writing no manifest: N machines "
                             "sharing the folder each run one, then the whole stage writes the manifest")
    args = parser.parse_args(argv)
    if args.part is not None:
        done = extraction.run_part(load_params(args.params), args.part, args.videos, args.out_dir, force=args.force)
        print(f"extract --part {args.part}: {done['videos']} videos ({done['videos_resumed']} resumed); run the "
              f"whole stage once every part is done to write {args.manifest}")
        return 0
    totals = extraction.run(load_params(args.params), args.videos, args.out_dir, args.manifest, args.metrics,
                            force=args.force)
    print(f"extract: {totals['videos_kept']}/{totals['videos']} videos kept, {totals['frames_kept']} frames "
          f"({totals['frames_fallback']} fallback), {totals['videos_dropped']} dropped, "
          f"{totals['videos_resumed']} resumed; details in {args.manifest}")
    return 0
