"""``data.source: list``: any labelled video set as training data, from one CSV file (``data.list``).

    path,label,split[,group][,original]
    clips/alice_1.mp4,real,train,alice
    clips/alice_1_swap.mp4,fake,train,alice,clips/alice_1.mp4
    /mnt/other/bob.mp4,real,test,bob

``label`` is ``real`` or ``fake`` in any case (DFDC's ``REAL``/``FAKE`` too: :func:`add.layout.parse_label`, as a cross
``list`` entry); ``split`` is ``train``, ``val`` or ``test``; a relative ``path`` is resolved against the CSV's folder
and may not climb out of it (``..``), an absolute one is taken as it is. ``group`` (optional: an
identity, a source video) keeps related videos together: a group found in two splits is refused. ``original``
(optional, fakes only) is the listed real video the fake was made from: the fake then reuses its face boxes (as FF++
fakes do, ``data.reuse_boxes``) and must be in the same split; other fakes are detected on their own.

Every bad line is one :class:`ListError` naming the file and the line. Videos are named by their line number
(``000012``; a fake ``{original's}_{own}``, or ``{own}_{own}`` without a known original), the FF++ form the rest of
the pipeline reads. A missing file is an error, or with ``missing="skip"`` the video is kept in the listing with the
reason (extraction records it as ``missing`` in the manifest).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

from add.errors import AddError
from add.io import climbs_out
from add.layout import SPLITS, parse_label

REQUIRED = ("path", "label", "split")
OPTIONAL = ("group", "original")
MISSING_POLICIES = ("error", "skip")


class ListError(AddError):
    """The list file is unreadable or a line is bad; the message names the file and the line."""


@dataclass(frozen=True)
class ListEntry:
    line: int
    path: Path  # absolute
    label: int  # 0 real, 1 fake
    split: str
    group: str  # "" when the list has none
    original: int | None  # the line of the real video a fake was made from
    missing: str = ""  # why the video is left out ("" when its file is there)
    listed: str = ""  # the path as the list writes it (videos.parquet and the manifest keep it beside the id)
    csv: Path | None = None  # the list file

    @property
    def where(self) -> str:
        """``{list file}: line {n}``: how an error names this entry."""
        return f"{self.csv}: line {self.line}"

    @property
    def id(self) -> str:
        return f"{self.line:06d}"

    @property
    def target(self) -> str:
        """The id whose footage the video shows: its original's for a fake made from a listed real."""
        return f"{self.original:06d}" if self.original is not None else self.id

    @property
    def video(self) -> str:
        return self.id if self.label == 0 else f"{self.target}_{self.id}"


def _resolve(csv_path: Path, raw: str, where: str) -> Path:
    if not raw:
        raise ListError(f"{where}: empty path")
    if "\x00" in raw:
        raise ListError(f"{where}: path holds a NUL character")
    if os.path.isabs(raw):
        return Path(os.path.normpath(raw))
    if climbs_out(raw):
        raise ListError(f"{where}: path {raw!r} climbs out of the list's folder {csv_path.parent}; give it relative "
                        f"to that folder without '..', or absolute")
    return Path(os.path.normpath(csv_path.parent.resolve() / raw))


def read_list(path: str | os.PathLike, *, missing: str = "error") -> list[ListEntry]:
    """The entries of the list at ``path`` in file order, validated (see the module's docstring)."""
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing must be one of {MISSING_POLICIES}, got {missing!r}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ListError(f"{path}: list file not found (data.list)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ListError(f"{path}: cannot read the list as UTF-8 text: {e}") from None
    rows = list(csv.reader(io.StringIO(text)))
    header = [c.strip() for c in rows[0]] if rows else []
    if header[:3] != list(REQUIRED) or any(c not in OPTIONAL for c in header[3:]) or len(set(header)) != len(header):
        raise ListError(f"{path}: line 1: expected the header path,label,split[,group][,original], got "
                        f"{','.join(header)!r}")
    parsed: list[tuple[int, dict[str, str]]] = []
    for number, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise ListError(f"{path}: line {number}: {len(row)} column(s), expected {len(header)} "
                            f"({','.join(header)})")
        parsed.append((number, dict(zip(header, (c.strip() for c in row), strict=True))))
    if not parsed:
        raise ListError(f"{path}: lists no videos")

    by_path: dict[Path, int] = {}
    resolved: dict[int, Path] = {}
    for number, cells in parsed:
        where = f"{path}: line {number}"
        label = parse_label(cells["label"])
        if label is None:
            raise ListError(f"{where}: label {cells['label']!r} is not real or fake")
        cells["label"] = "real" if label == 0 else "fake"
        if cells["split"] not in SPLITS:
            raise ListError(f"{where}: split {cells['split']!r} is not one of {', '.join(SPLITS)}")
        if "group" in cells and not cells["group"]:
            raise ListError(f"{where}: empty group (the list has a group column: give every line one)")
        video = _resolve(path, cells["path"], where)
        if video in by_path:
            raise ListError(f"{where}: {video} is already listed on line {by_path[video]}")
        by_path[video] = number
        resolved[number] = video

    entries = []
    group_split: dict[str, tuple[str, int]] = {}
    for number, cells in parsed:
        where = f"{path}: line {number}"
        original = None
        if cells.get("original"):
            if cells["label"] != "fake":
                raise ListError(f"{where}: a real video has an original ({cells['original']!r}); only fakes do")
            source = _resolve(path, cells["original"], where)
            original = by_path.get(source)
            if original is None:
                raise ListError(f"{where}: original {cells['original']!r} ({source}) is not listed")
            other = dict(parsed)[original]
            if other["label"] != "real":
                raise ListError(f"{where}: original {cells['original']!r} (line {original}) is not a real video")
            if other["split"] != cells["split"]:
                raise ListError(f"{where}: the fake is in {cells['split']} but its original (line {original}) in "
                                f"{other['split']}: a fake and its original share a split")
        group = cells.get("group", "")
        if group:
            first = group_split.setdefault(group, (cells["split"], number))
            if first[0] != cells["split"]:
                raise ListError(f"{where}: group {group!r} is in {cells['split']} here but in {first[0]} on line "
                                f"{first[1]}: the videos of one group never go to two splits")
        video = resolved[number]
        reason = "" if video.is_file() else f"{video}: file not found ({path}: line {number})"
        if reason and missing == "error":
            raise ListError(f"{where}: {video}: file not found (data.missing: skip leaves such videos out)")
        entries.append(ListEntry(number, video, parse_label(cells["label"]), cells["split"], group, original, reason,
                                 cells["path"], path))
    return entries
