"""DFDC preview (DFDC-P): ``dataset.json`` maps a video path (relative to the root) to ``{"label": "real" | "fake",
"set": "train" | "test", ...}``; the ``test`` set is evaluated."""

from __future__ import annotations

from pathlib import Path

from add.data.datasets.records import (
    FAKE,
    REAL,
    DatasetError,
    Item,
    Record,
    apply_missing,
    check_unique,
    escapes,
    json_line,
    read_json,
    record,
    where,
)
from add.data.datasets.registry import Format, register

DATASET = "dataset.json"
LABEL = {"real": REAL, "fake": FAKE}
SETS = ("train", "test")


def read(root: str | Path, subset: str = "test") -> tuple[list[Record], Path]:
    root = Path(root)
    path = root / DATASET
    meta, text = read_json(path, 'a mapping "<path>.mp4": {"label": "real" | "fake", "set": "train" | "test"}')
    if not isinstance(meta, dict):
        raise DatasetError(f"{path}: expected a mapping of video paths to entries, got {type(meta).__name__}")
    records = []
    for relpath, entry in meta.items():
        ok = isinstance(entry, dict) and entry.get("label") in LABEL and entry.get("set") in SETS
        if escapes(relpath) or not ok:
            raise DatasetError(f"{where(path, json_line(text, relpath))}: entry {relpath!r}: expected a relative "
                               f'path mapped to {{"label": "real" | "fake", "set": "train" | "test"}}, got {entry!r}')
        if entry["set"] == subset:
            records.append(record(root, relpath, LABEL[entry["label"]]))
    if not records:
        raise DatasetError(f"{path}: no video in the {subset!r} set")
    check_unique(records, path)
    return records, path


def items(root: Path, *, missing: str, quality: str, face_ties: bool, skip: str) -> tuple[list[Item], int]:
    """Both sets: ``test`` fixed to test, ``train`` left to train/val."""
    found, lacking = [], 0
    for subset in SETS:
        records, source = read(root, subset)
        present, absent = apply_missing(records, missing, source, skip=skip)
        lacking += absent
        found += [Item(r, "test" if subset == "test" else None, (r.group,), None) for r in present]
    return found, lacking


FORMAT = register(Format("dfdcp", read, labels=f'{DATASET}: "label": "real" | "fake"', fixes_test=True, items=items))
