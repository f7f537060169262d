"""``add lists``: a labelled dataset (Celeb-DF, DFDC, DFDC-P, DFD, real/fake folders, a path,label[,group] CSV) as a
``data.list`` CSV for ``data.source: list`` (:mod:`add.data.list_source`), split by group
(:mod:`add.tools.splits`).

    uv run add lists --format celebdf --root /datasets/Celeb-DF-v2 --out data/celebdf_list.csv

The CSV has the columns ``path,label,split,group,original``, one video a line sorted by path; ``group`` names the
tied videos' component, ``original`` the real a fake was made from (the fake then reuses its face boxes). Paths are
relative to the CSV's folder when the dataset lies under it, absolute otherwise. The same dataset and seed give the
same bytes.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from add.core.errors import AddError
from add.core.io import atomic_write_text, check_output_file
from add.data.datasets.read import read_training
from add.data.datasets.records import MISSING_POLICIES, Item
from add.data.datasets.registry import all_formats, get, names
from add.data.list_source import ListError, read_list
from add.tools.splits import assign_splits

HEADER = ("path", "label", "split", "group", "original")
SKIP = "pass --missing skip to list the videos that are there (the summary counts the others)"


def list_text(items: Sequence[Item], splits: Sequence[str], groups: Sequence[str], out: Path) -> str:
    """The CSV text for ``items`` written to ``out``."""
    base = out.parent.resolve()

    def where(path: Path) -> str:
        path = Path(os.path.abspath(path))
        return path.relative_to(base).as_posix() if path.is_relative_to(base) else path.as_posix()

    paths = {i.record.video: where(i.record.path) for i in items}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    rows = [(paths[i.record.video], "fake" if i.record.label else "real", split, group,
             paths[i.original] if i.original else "")
            for i, split, group in zip(items, splits, groups, strict=True)]
    writer.writerows(sorted(rows))
    return buffer.getvalue()


def write_list(format: str, root: str | Path, out: str | Path, *, val: float = 0.15, test: float = 0.15,
               seed: int = 0, missing: str = "error", quality: str = "c23", face_ties: bool = False) -> dict:
    """Write the list of the ``format`` dataset at ``root`` to ``out`` (atomically); returns a summary."""
    out = Path(out)
    items, lacking, images = read_training(format, root, missing=missing, quality=quality, face_ties=face_ties,
                                           skip=SKIP)
    splits, groups = assign_splits(items, val=val, test=0.0 if get(format).fixes_test else test, seed=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, list_text(items, splits, groups, out))
    try:
        read_list(out)  # what data.source: list reads: never leave a list it would refuse
    except ListError:
        out.unlink()
        raise
    return {"videos": len(items), "groups": len(set(groups)), "splits": Counter(splits), "missing": lacking,
            "images": images, "originals": sum(i.original is not None for i in items)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="add lists", description="Write a data.list CSV (data.source: list) from a labelled dataset, split by "
        "group so that tied videos (one identity's footage, a fake and its original) never straddle splits.")
    fixes_test = ", ".join(f.name for f in all_formats() if f.fixes_test)
    parser.add_argument("--format", required=True, choices=names(), help="the dataset's layout")
    parser.add_argument("--root", required=True, help="the dataset's root folder (for list: its CSV file)")
    parser.add_argument("--out", required=True, help="the CSV to write (e.g. data/celebdf_list.csv)")
    parser.add_argument("--val", type=float, default=0.15, help="fraction of the open videos for val (0.15)")
    parser.add_argument("--test", type=float, default=0.15, help="fraction of the open videos for test (0.15; "
                        f"ignored for {fixes_test}, whose own files fix the test set)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the group-to-split draw (0)")
    parser.add_argument("--missing", choices=MISSING_POLICIES, default="error",
                        help="a listed file that is not there: error (default) or skip it")
    parser.add_argument("--quality", choices=("raw", "c23", "c40"), default="c23", help="dfd: the FF++ quality folder")
    parser.add_argument("--face-ties", action="store_true", help="celebdf, dfd: also tie a fake to the identity whose "
                        "face it shows (on Celeb-DF this joins nearly every identity into one group)")
    args = parser.parse_args(argv)
    if not (0 <= args.val < 1 and 0 <= args.test < 1 and args.val + args.test < 1):
        parser.error(f"--val and --test must be fractions in [0, 1) summing to under 1, got {args.val} and {args.test}")
    if Path(args.out).resolve() == Path(args.root).resolve():
        parser.error(f"--out {args.out} is the dataset's own list (--root); write the data.list elsewhere")
    try:
        check_output_file(args.out, "--out")  # before the dataset is read: a bad --out loses no work
    except AddError as e:
        print(f"add lists: error: {e}", file=sys.stderr)
        return 2
    summary = write_list(args.format, args.root, args.out, val=args.val, test=args.test, seed=args.seed,
                         missing=args.missing, quality=args.quality, face_ties=args.face_ties)
    counts = ", ".join(f"{s} {summary['splits'][s]}" for s in ("train", "val", "test"))
    print(f"{args.out}: {summary['videos']} videos in {summary['groups']} groups ({counts}); "
          f"{summary['originals']} fakes name their original; {summary['missing']} missing file(s) skipped; "
          f"{summary['images']} image(s) left out")
    asked = {"train": 1.0, "val": args.val, "test": args.test}
    for split, fraction in asked.items():
        if fraction and not summary["splits"][split]:
            print(f"add lists: warning: no video in {split}; the tied groups are too few or too large for the "
                  f"fractions", flush=True)
    return 0

