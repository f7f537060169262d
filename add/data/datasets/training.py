"""The labelled dataset formats read as TRAINING data: every labelled video with what ties it to other videos.

The evaluation readers (:mod:`add.data.datasets.read`) return a dataset's test files; a training list needs all of its
labelled videos, the split the format itself fixes (if any), and the keys that must keep videos in one split. Each
format declares them in its own module (``Format.items``, :mod:`add.data.datasets.formats`: Celeb-DF's test list and
identities, DFDC's ``original``, DFDC-P's ``set``, DFD's actors); a format without ``items`` gives its records with no
ties but their ``group`` (``folder``, ``list``). Images are left out (training takes videos).
"""

from __future__ import annotations

from pathlib import Path

from add.data.datasets.read import check_source, read_dataset
from add.data.datasets.records import CROSS_SKIP, DatasetError, Item
from add.data.datasets.registry import get

__all__ = ["Item", "read_training"]


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
