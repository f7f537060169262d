"""The labelled dataset formats read as TRAINING data: every labelled video with what ties it to other videos.

The evaluation readers (:mod:`add.data.datasets.read`) return a dataset's test files; a training list needs all of its
labelled videos, the split the format itself fixes (if any), and the keys that must keep videos in one split:

- ``celebdf``: every video in ``Celeb-real/``, ``YouTube-real/`` and ``Celeb-synthesis/``. The test list's videos are
  fixed to ``test`` (the benchmark's own split); the others are left to train/val. ``id{A}_{clip}.mp4`` and the fake
  ``id{A}_id{B}_{clip}.mp4`` (identity B's face on A's footage ``Celeb-real/id{A}_{clip}.mp4``, its original) are
  tied by identity A; identity B too with ``face_ties`` (on Celeb-DF this joins nearly all 59 identities into one
  group, so it is off by default).
- ``dfdc``: ``metadata.json``'s ``original`` ties a fake to its real (and names it as the fake's original).
- ``dfdcp``: its ``set`` decides: ``test`` is fixed to test, ``train`` is left to train/val.
- ``dfd``: actors ``{A}__{scene}.mp4`` and fakes ``{A}_{B}__{scene}__{code}.mp4`` (actor B's face on A's footage,
  original ``{A}__{scene}.mp4``) are tied by actor A (and B with ``face_ties``).
- ``folder`` and ``list``: no ties but the list's ``group``; images are left out (training takes videos).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from add.data.datasets import celebdf, dfd, dfdc, dfdcp
from add.data.datasets.read import check_source, read_dataset
from add.data.datasets.records import CROSS_SKIP, DatasetError, Record, apply_missing, read_json, record


@dataclass(frozen=True)
class Item:
    """One training video: its record, the split its format fixes (None: open), the keys tying it to other videos
    (always including its own group) and the video id of the real it was made from (None: not known)."""

    record: Record
    fixed: str | None
    ties: tuple[str, ...]
    original: str | None


CELEB_REAL = re.compile(r"Celeb-real/id(\d+)_(\d+)\.mp4")
CELEB_FAKE = re.compile(r"Celeb-synthesis/id(\d+)_id(\d+)_(\d+)\.mp4")
DFD_REAL = re.compile(r"(\d+)__([^/]+)\.mp4")
DFD_FAKE = re.compile(r"(\d+)_(\d+)__(.+)__[^_/]+\.mp4")


def read_training(format: str, root: str | Path, *, missing: str = "error", quality: str = "c23",
                  face_ties: bool = False, skip: str = CROSS_SKIP) -> tuple[list[Item], int, int]:
    """``(items, files missing, images left out)`` of the dataset at ``root``; see the module's docstring. ``skip``:
    how the caller's user leaves missing files out (named in the error,
    :func:`add.data.datasets.records.apply_missing`)."""
    check_source(format, root)
    root = Path(root)
    if format == "celebdf":
        items, lacking = _celebdf(root, missing, face_ties, skip)
    elif format == "dfdcp":
        items, lacking = [], 0
        for subset in dfdcp.SETS:
            records, source = dfdcp.read(root, subset)
            present, absent = apply_missing(records, missing, source, skip=skip)
            lacking += absent
            items += [Item(r, "test" if subset == "test" else None, (r.group,), None) for r in present]
    else:
        records, lacking = read_dataset(format, root, missing=missing, quality=quality, skip=skip)
        if format == "dfdc":
            items = _dfdc(root, records)
        elif format == "dfd":
            items = _dfd(records, face_ties)
        else:
            items = [Item(r, None, (r.group,), None) for r in records]
    videos = [i for i in items if not i.record.is_image]
    if not videos:
        raise DatasetError(f"{root}: no labelled videos to train on ({format} format)")
    return videos, lacking, len(items) - len(videos)


def _with_original(items: list[Item]) -> list[Item]:
    """Drop an original that is not a listed real video of the same fixed split (missing, or across the split)."""
    reals = {i.record.video: i.fixed for i in items if i.record.label == 0}
    return [i if i.original is None or reals.get(i.original, "?") == i.fixed
            else Item(i.record, i.fixed, i.ties, None) for i in items]


def _celebdf(root: Path, missing: str, face_ties: bool, skip: str) -> tuple[list[Item], int]:
    test, source = celebdf.read(root)
    test_videos = {r.video for r in test}
    records = list(test)
    for folder, label in celebdf.FOLDERS.items():
        records += [record(root, p.relative_to(root).as_posix(), label)
                    for p in sorted((root / folder).glob("*.mp4")) if p.relative_to(root).as_posix() not in test_videos]
    present, lacking = apply_missing(records, missing, source, skip=skip)
    items = []
    for r in sorted(present, key=lambda r: r.video):
        ties, original = [r.group], None
        if m := CELEB_REAL.fullmatch(r.video):
            ties.append(f"celebdf-id{m[1]}")
        elif m := CELEB_FAKE.fullmatch(r.video):
            ties.append(f"celebdf-id{m[1]}")
            ties += [f"celebdf-id{m[2]}"] if face_ties else []
            original = f"Celeb-real/id{m[1]}_{m[3]}.mp4"
            ties.append(original)
        items.append(Item(r, "test" if r.video in test_videos else None, tuple(ties), original))
    return _with_original(items), lacking


def _dfdc(root: Path, records: list[Record]) -> list[Item]:
    if (root / dfdc.LABELS).is_file():  # the public test set names no originals
        parts = []
    elif (root / dfdc.METADATA).is_file():
        parts = [root]
    else:
        parts = sorted(p.parent for p in root.glob(f"*/{dfdc.METADATA}"))
    originals: dict[str, str] = {}
    for part in parts:
        meta, _ = read_json(part / dfdc.METADATA, "DFDC metadata")
        prefix = "" if part == root else f"{part.relative_to(root).as_posix()}/"
        for name, entry in meta.items():
            if entry.get("label") == "FAKE" and isinstance(entry.get("original"), str) and entry["original"]:
                originals[prefix + name] = prefix + entry["original"]
    items = []
    for r in records:
        original = originals.get(r.video)
        items.append(Item(r, None, (r.group, original) if original else (r.group,), original))
    return _with_original(items)


def _dfd(records: list[Record], face_ties: bool) -> list[Item]:
    items = []
    for r in records:
        folder, name = r.video.rsplit("/", 1)
        ties, original = [r.group], None
        if r.label == 0 and (m := DFD_REAL.fullmatch(name)):
            ties.append(f"dfd-actor{m[1]}")
        elif r.label == 1 and (m := DFD_FAKE.fullmatch(name)):
            ties.append(f"dfd-actor{m[1]}")
            ties += [f"dfd-actor{m[2]}"] if face_ties else []
            quality = folder.split("/")[-2]
            original = f"{dfd.REAL_DIR.format(quality=quality)}/{m[1]}__{m[3]}.mp4"
            ties.append(original)
        items.append(Item(r, None, tuple(ties), original))
    return _with_original(items)
