"""The record every dataset reader returns, the errors they raise and the missing-file policy they share."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from add.core.errors import AddError
from add.core.io import climbs_out
from add.data.images import is_image, is_media

REAL, FAKE = 0, 1  # the project's labels (add.models.metrics: 1 = fake)
MISSING_POLICIES = ("error", "skip")
SHOWN = 5  # missing files named in a message; the rest are counted
# How a cross entry leaves missing files out; other readers' callers (add lists) name their own option.
CROSS_SKIP = "set missing: skip in this cross entry to evaluate without them (they are counted in videos_missing)"


class DatasetError(AddError):
    """A dataset's own file is malformed or lists files that are not there; the message names file and line."""


@dataclass(frozen=True)
class Record:
    """One labelled input: ``path`` (a video or an image), ``label`` (0 real, 1 fake), ``video`` (its id, unique in
    the dataset: the path relative to the dataset root, POSIX) and ``group`` (the "video" the video-level metrics
    pool it into: itself, or e.g. the subject of a list of images)."""

    path: Path
    label: int
    video: str
    group: str

    @property
    def is_image(self) -> bool:
        return is_image(self.path)


def record(root: Path, relpath: str, label: int, group: str | None = None) -> Record:
    """A record for ``relpath`` under ``root`` (``relpath`` must not escape ``root``: checked by the callers)."""
    relpath = Path(relpath).as_posix()
    return Record(root / relpath, label, relpath, group or relpath)


def record_root(r: Record) -> Path:
    """The folder ``r.video`` is relative to (``r.path`` without the id's parts)."""
    return Path(*r.path.parts[:len(r.path.parts) - len(PurePosixPath(r.video).parts)])


def escapes(relpath: str) -> bool:
    """True for an absolute path or one that climbs out of its folder (``..``)."""
    if not relpath or os.path.isabs(relpath) or relpath.startswith(("/", "\\")) or "\x00" in relpath:
        return True
    return climbs_out(relpath)


def read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise DatasetError(f"{path}: not found ({what})")
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read it as UTF-8 text: {e}") from None


def read_json(path: Path, what: str) -> tuple[Any, str]:
    """The parsed JSON of ``path`` and its text; a malformed file names its line and column."""
    text = read_text(path, what)
    try:
        return json.loads(text), text
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: line {e.lineno}: not valid JSON ({e.msg}, column {e.colno}); expected "
                           f"{what}") from None


def json_line(text: str, key: str) -> int:
    """The line of ``text`` where the JSON key ``key`` first appears (1-based; 0 when not found)."""
    at = text.find(json.dumps(key))
    return text.count("\n", 0, at) + 1 if at >= 0 else 0


def where(path: Path, line: int) -> str:
    return f"{path}: line {line}" if line else str(path)


def split_missing(records: Sequence[Record]) -> tuple[list[Record], list[Record]]:
    """``(present, missing)``: records whose file exists, and the others."""
    present, missing = [], []
    for r in records:
        (present if r.path.is_file() else missing).append(r)
    return present, missing


def apply_missing(records: Sequence[Record], policy: str, source: Path | str, *, skip: str = CROSS_SKIP
                  ) -> tuple[list[Record], int]:
    """The records whose file exists and how many were skipped; with ``policy`` "error" a missing file raises a
    :class:`DatasetError` naming the first few, the folder their names are relative to and ``skip``, the caller's
    own way to leave them out (``source``: the file or folder that listed them)."""
    if policy not in MISSING_POLICIES:
        raise ValueError(f"missing policy must be one of {MISSING_POLICIES}, got {policy!r}")
    present, missing = split_missing(records)
    if missing and policy == "error":
        shown = ", ".join(r.video for r in missing[:SHOWN])
        more = f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else ""
        under = " and ".join(sorted({str(record_root(r)) for r in missing[:SHOWN]}))
        raise DatasetError(f"{source}: {len(missing)} of {len(records)} listed file(s) are missing: {shown}{more} "
                           f"(under {under}); restore them, or {skip}")
    return present, len(missing)


def check_unique(records: Sequence[Record], source: Path | str) -> None:
    seen: set[str] = set()
    for r in records:
        if r.video in seen:
            raise DatasetError(f"{source}: {r.video} is listed twice")
        seen.add(r.video)


def walk_media(folder: Path) -> list[Path]:
    """Video and image files under ``folder``, recursively, sorted; hidden files and folders skipped."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_media(p)
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


@dataclass(frozen=True)
class Item:
    """One training video: its record, the split its format fixes (None: open), the keys tying it to other videos
    (always including its own group) and the video id of the real it was made from (None: not known)."""

    record: Record
    fixed: str | None
    ties: tuple[str, ...]
    original: str | None


def with_original(items: list[Item]) -> list[Item]:
    """Drop an original that is not a listed real video of the same fixed split (missing, or across the split)."""
    reals = {i.record.video: i.fixed for i in items if i.record.label == 0}
    return [i if i.original is None or reals.get(i.original, "?") == i.fixed
            else Item(i.record, i.fixed, i.ties, None) for i in items]
