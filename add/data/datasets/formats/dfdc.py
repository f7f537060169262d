"""DFDC (Facebook's Deepfake Detection Challenge), either layout:

- training parts: folders (``dfdc_train_part_0/`` ...), each with a ``metadata.json`` mapping ``"<name>.mp4"`` to
  ``{"label": "REAL" | "FAKE", "split": ..., "original": ...}`` and the videos beside it. ``root`` is one part or a
  folder of parts;
- the public test set: ``labels.csv`` with the columns ``filename,label`` (1 = fake), the videos beside it or in
  ``videos/``.
"""

from __future__ import annotations

import csv
import io
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
    read_text,
    record,
    where,
    with_original,
)
from add.data.datasets.registry import Format, register

METADATA = "metadata.json"
LABELS = "labels.csv"
META_LABEL = {"REAL": REAL, "FAKE": FAKE}
CSV_LABEL = {"0": REAL, "1": FAKE}


def read(root: str | Path) -> tuple[list[Record], Path]:
    root = Path(root)
    if (root / LABELS).is_file():
        return read_labels(root / LABELS), root / LABELS
    parts = [root] if (root / METADATA).is_file() else sorted(p.parent for p in root.glob(f"*/{METADATA}"))
    if not parts:
        raise DatasetError(f"{root}: not a DFDC folder: no {LABELS} (public test set), no {METADATA} (a part) and "
                           f"no part folders with a {METADATA}")
    records = [r for part in parts for r in read_metadata(part / METADATA, root)]
    check_unique(records, root)
    return records, root


def read_metadata(path: Path, root: Path) -> list[Record]:
    meta, text = read_json(path, 'a mapping "<name>.mp4": {"label": "REAL" | "FAKE", ...}')
    if not isinstance(meta, dict):
        raise DatasetError(f"{path}: expected a mapping of video names to entries, got {type(meta).__name__}")
    part = path.parent.relative_to(root).as_posix()
    records = []
    for name, entry in meta.items():
        label = entry.get("label") if isinstance(entry, dict) else None
        if escapes(name) or "/" in name or label not in META_LABEL:
            raise DatasetError(f"{where(path, json_line(text, name))}: entry {name!r}: expected a file name mapped "
                               f'to {{"label": "REAL" | "FAKE", ...}}, got {entry!r}')
        records.append(record(root, name if part == "." else f"{part}/{name}", META_LABEL[label]))
    return records


def read_labels(path: Path) -> list[Record]:
    text = read_text(path, "DFDC's test labels (filename,label)")
    folder = path.parent / "videos" if (path.parent / "videos").is_dir() else path.parent
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip() for c in rows[0]][:2] != ["filename", "label"]:
        got = ",".join(rows[0]) if rows else ""
        raise DatasetError(f"{path}: line 1: expected the header filename,label, got {got!r}")
    records = []
    for number, row in enumerate(rows[1:], 2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) < 2 or escapes(row[0].strip()) or row[1].strip() not in CSV_LABEL:
            raise DatasetError(f"{path}: line {number}: {','.join(row)!r}: expected <name>.mp4,<label> with label "
                               f"0 (real) or 1 (fake)")
        relpath = row[0].strip()
        rec = record(folder, relpath, CSV_LABEL[row[1].strip()])
        records.append(rec)
    if not records:
        raise DatasetError(f"{path}: no videos listed")
    check_unique(records, path)
    return records


def items(root: Path, *, missing: str, quality: str, face_ties: bool, skip: str) -> tuple[list[Item], int]:
    """The records; ``metadata.json``'s ``original`` ties a fake to its real (and names it as the fake's original)."""
    found, source = read(root)
    records, lacking = apply_missing(found, missing, source, skip=skip)
    if (root / LABELS).is_file():  # the public test set names no originals
        parts = []
    elif (root / METADATA).is_file():
        parts = [root]
    else:
        parts = sorted(p.parent for p in root.glob(f"*/{METADATA}"))
    originals: dict[str, str] = {}
    for part in parts:
        meta, _ = read_json(part / METADATA, "DFDC metadata")
        prefix = "" if part == root else f"{part.relative_to(root).as_posix()}/"
        for name, entry in meta.items():
            if entry.get("label") == "FAKE" and isinstance(entry.get("original"), str) and entry["original"]:
                originals[prefix + name] = prefix + entry["original"]
    tied = []
    for r in records:
        original = originals.get(r.video)
        tied.append(Item(r, None, (r.group, original) if original else (r.group,), original))
    return with_original(tied), lacking


FORMAT = register(Format("dfdc", read, labels=f"{METADATA}: REAL | FAKE; {LABELS}: 1 = fake", items=items))
