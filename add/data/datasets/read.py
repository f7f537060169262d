"""Read a dataset of any format: its test records (files present) and how many listed files were missing
(:func:`read_dataset`, the cross stage), or every labelled video with what ties it to other videos
(:func:`read_training`, ``add lists``).

A training list needs all of a dataset's labelled videos, the split the format itself fixes (if any), and the keys
that must keep videos in one split. Each format declares them in its own module (``Format.items``,
:mod:`add.data.datasets.formats`: Celeb-DF's test list and identities, DFDC's ``original``, DFDC-P's ``set``, DFD's
actors); a format without ``items`` gives its records with no ties but their ``group`` (``folder``, ``list``). Images
are left out (training takes videos).
"""

from __future__ import annotations

from pathlib import Path

from add.data.datasets.records import CROSS_SKIP, DatasetError, Item, Record, apply_missing
from add.data.datasets.registry import get, names

FORMATS = names()  # the modules of add/data/datasets/formats/ (add.data.datasets.registry)


def check_source(format: str, root: str | Path) -> None:
    """Refuse an unknown format or a root that is not there, naming it."""
    get(format)
    if not Path(root).exists():
        raise DatasetError(f"{root}: not found (the root of a {format} dataset)")


def read_dataset(format: str, root: str | Path, *, missing: str = "error", quality: str = "c23",
                 skip: str = CROSS_SKIP) -> tuple[list[Record], int]:
    """``(records whose file exists, number of listed files missing)`` of the dataset at ``root``.

    ``missing``: "error" raises a :class:`DatasetError` naming the first missing files and their count; "skip"
    leaves them out and counts them; ``skip``: how the caller's user asks for that (named in the error).
    ``quality``: FF++'s quality folder, for the formats that take it (``Format.options``).
    """
    check_source(format, root)
    fmt = get(format)
    records, source = fmt.read(root, **{k: v for k, v in {"quality": quality}.items() if k in fmt.options})
    return apply_missing(records, missing, source, skip=skip)


def read_training(format: str, root: str | Path, *, missing: str = "error", quality: str = "c23",
                  face_ties: bool = False, skip: str = CROSS_SKIP) -> tuple[list[Item], int, int]:
    """``(items, files missing, images left out)`` of the dataset at ``root``; see the module's docstring. ``skip``:
    how the caller's user leaves missing files out (named in the error,
    :func:`add.data.datasets.records.apply_missing`)."""
    check_source(format, root)
    root = Path(root)
    fmt = get(format)
    if fmt.items is not None:
        items, lacking = fmt.items(root, missing=missing, quality=quality, face_ties=face_ties, skip=skip)
    else:
        records, lacking = read_dataset(format, root, missing=missing, quality=quality, skip=skip)
        items = [Item(r, None, (r.group,), None) for r in records]
    videos = [i for i in items if not i.record.is_image]
    if not videos:
        raise DatasetError(f"{root}: no labelled videos to train on ({format} format)")
    return videos, lacking, len(items) - len(videos)
