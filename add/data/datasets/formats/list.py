"""A CSV list of labelled files: the header ``path,label`` (optional third column ``group``), one file per line;
``label`` is ``real`` or ``fake`` in any case (:func:`add.core.layout.parse_label`, as ``data.list``); paths are
relative to the CSV's folder and may not leave it. ``group`` pools several files (e.g. the images of one subject) into
one "video" for the video-level metrics (default: each file alone)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from add.core.layout import parse_label
from add.data.datasets.records import DatasetError, Record, check_unique, escapes, read_text, record
from add.data.datasets.registry import Format, register

HEADERS = (["path", "label"], ["path", "label", "group"])


def read(path: str | Path) -> tuple[list[Record], Path]:
    """The records of the CSV at ``path``."""
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"{path}: is a folder; a list dataset's root is its CSV file (path,label[,group])")
    text = read_text(path, "a CSV list with the header path,label[,group]")
    rows = list(csv.reader(io.StringIO(text)))
    header = [c.strip() for c in rows[0]] if rows else []
    if header not in HEADERS:
        raise DatasetError(f"{path}: line 1: expected the header path,label or path,label,group, got "
                           f"{','.join(header)!r}")
    grouped = len(header) == 3
    records = []
    for number, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        cells = [c.strip() for c in row]
        expected = "expected <path>,<real|fake>" + (",<group>" if grouped else "")
        if len(cells) != len(header):
            raise DatasetError(f"{path}: line {number}: {','.join(row)!r}: {len(cells)} column(s), {expected}")
        relpath, label = cells[0], parse_label(cells[1])
        if label is None:
            raise DatasetError(f"{path}: line {number}: label {cells[1]!r}: {expected}")
        if escapes(relpath):
            raise DatasetError(f"{path}: line {number}: path {relpath!r} leaves the CSV's folder; {expected} with "
                               f"the path relative to {path.parent}")
        group = cells[2] if grouped and cells[2] else None
        if grouped and not group:
            raise DatasetError(f"{path}: line {number}: empty group: {expected}")
        records.append(record(path.parent, relpath, label, group))
    if not records:
        raise DatasetError(f"{path}: no files listed")
    check_unique(records, path)
    groups: dict[str, int] = {}
    for r in records:
        if groups.setdefault(r.group, r.label) != r.label:
            raise DatasetError(f"{path}: group {r.group!r} holds both real and fake files; a group is one subject's "
                               f"real or fake files")
    return records, path


FORMAT = register(Format("list", read, labels="the label column: real | fake (any case)"))
