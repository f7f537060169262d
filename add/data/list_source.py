"""``data.source: list``: any labelled video set as training data, from one CSV file (``data.list``).

    path,label,split[,group][,original]
    clips/alice_1.mp4,real,train,alice
    clips/alice_1_swap.mp4,fake,train,alice,clips/alice_1.mp4
    /mnt/other/bob.mp4,real,test,bob

``label`` is ``real`` or ``fake``; ``split`` is ``train``, ``val`` or ``test``; a relative ``path`` is resolved against
the CSV's folder and may not climb out of it (``..``), an absolute one is taken as it is. ``group`` (optional: an
identity, a source video) keeps related videos together: a group found in two splits is refused. ``original``
(optional, fakes only) is the listed real video the fake was made from: the fake then reuses its face boxes (as FF++
fakes do, ``data.reuse_boxes``) and must be in the same split; other fakes are detected on their own.

Every bad line is one :class:`ListError` naming the file and the line. Videos are named by their line number
(``000012``; a fake ``{original's}_{own}``, or ``{own}_{own}`` without a known original), the FF++ form the rest of
the pipeline reads. A missing file is an error, or with ``missing="skip"`` the video is kept in the listing with the
reason (extraction records it as ``missing`` in the manifest).

For the videos stage, :func:`index_list` gives the CSV's videos and their c23/c40 twins (:mod:`add.data.twins`) as
the rows of ``data/videos.parquet``, in the same form an FF++ tree gives.

The listed video fills the best quality column (``raw``: the teacher's input under ``teacher.quality: raw``);
c23 and c40 are its twins under ``twins_dir``. Reals are method ``original``, fakes method ``list``
(:data:`add.core.layout.LIST_METHOD`); a fake made from a listed real is named ``{real}_{fake}`` so extraction reuses
the real's boxes, as for FF++. A video whose file is missing (``data.missing: skip``) keeps its row with the reason in
column ``missing``; extraction records it in the manifest.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from add.core.errors import AddError
from add.core.io import climbs_out
from add.core.layout import LIST_METHOD, ORIGINAL, SPLITS

if TYPE_CHECKING:
    import pandas as pd

LABELS = {"real": 0, "fake": 1}
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
        if cells["label"] not in LABELS:
            raise ListError(f"{where}: label {cells['label']!r} is not real or fake")
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
        entries.append(ListEntry(number, video, LABELS[cells["label"]], cells["split"], group, original, reason))
    return entries


GIVEN = "raw"  # the column of the video as listed: the best quality there is


def index_list(entries: Sequence[ListEntry], qualities: Sequence[str], twins_dir: str | os.PathLike, *,
               jobs: int = 1, progress: bool = True) -> pd.DataFrame:
    """The rows of videos.parquet for ``entries`` at ``qualities``, making (or reusing) the twins they need."""
    import pandas as pd  # here: `add lists` reads a list without pandas
    from tqdm import tqdm

    from add.data.ffpp import INDEX_COLUMNS
    from add.data.twins import make_twins, twin_path

    twins = [q for q in qualities if q != GIVEN]
    present = [(e.video, e.path) for e in entries if not e.missing]
    with tqdm(total=len(present) * len(twins), desc="twins", unit="video", disable=not progress) as bar:
        made = {"encoded": 0}

        def done(encoded: bool) -> None:
            made["encoded"] += encoded
            bar.update(1)
            bar.set_postfix(made)

        make_twins(present, twins_dir, twins, jobs=jobs, done=done)
    rows = []
    for e in entries:
        row = {"split": e.split, "method": ORIGINAL if e.label == 0 else LIST_METHOD, "video": e.video,
               "label": e.label, "target": e.target}
        for q in qualities:
            row[q] = str(e.path) if q == GIVEN else str(twin_path(Path(twins_dir).resolve(), q, e.video))
        row["missing"] = e.missing
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*INDEX_COLUMNS, *qualities, "missing"])
    frame["label"] = frame["label"].astype("int64")
    order = {s: i for i, s in enumerate(SPLITS)}
    frame = frame.sort_values(["split", "method", "video"], key=lambda c: c.map(order) if c.name == "split" else c)
    return frame.reset_index(drop=True)
