"""Your own labelled files: ``real/`` and ``fake/`` under the root, walked recursively (videos and images; hidden
files and folders skipped). Each file is its own "video" for the video-level metrics."""

from __future__ import annotations

from pathlib import Path

from add.data.datasets.records import FAKE, REAL, DatasetError, Record, record, walk_media
from add.data.datasets.registry import Format, register

FOLDERS = {"real": REAL, "fake": FAKE}


def read(root: str | Path) -> tuple[list[Record], Path]:
    root = Path(root)
    records = []
    for name, label in FOLDERS.items():
        folder = root / name
        if not folder.is_dir():
            raise DatasetError(f"{folder}: not found; a folder dataset has real/ and fake/ subfolders")
        files = walk_media(folder)
        if not files:
            raise DatasetError(f"{folder}: no video or image files")
        records += [record(root, p.relative_to(root).as_posix(), label) for p in files]
    return records, root


FORMAT = register(Format("folder", read, labels="the folder: real/ or fake/"))
