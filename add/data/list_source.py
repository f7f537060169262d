"""``data.source: list``: any labelled video set as training data, from one CSV file (``data.list``).

    path,label,split[,group][,original]
    clips/alice_1.mp4,real,train,alice
    clips/alice_1_swap.mp4,fake,train,alice,clips/alice_1.mp4
    /mnt/other/bob.mp4,real,test,bob

``label`` is ``real`` or ``fake`` in any case (DFDC's ``REAL``/``FAKE`` too: :func:`add.core.layout.parse_label`, as a
cross ``list`` entry); ``split`` is ``train``, ``val`` or ``test``; a relative ``path`` is resolved against
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

The listed video fills the column of its own quality, ``data.list_quality`` (``raw``, the default: the teacher's input
under ``teacher.quality: raw``; ``c23`` for clips that already are, e.g. FF++'s c23 videos: used as they are, never
re-encoded at crf 23). Each quality below it is a twin under ``twins_dir``; a quality above it is refused. Reals are
method ``original``, fakes method ``list`` (:data:`add.core.layout.LIST_METHOD`); a fake made from a listed real is
named ``{real}_{fake}`` so extraction reuses the real's boxes, as for FF++. Column ``path`` keeps the path as the CSV
writes it beside the id. A video whose file is missing (``data.missing: skip``) keeps its row with the reason in column
``missing``; one whose file ffmpeg cannot read (an empty file, a damaged one, a twin that is not frame-aligned) with the
reason in column ``unreadable``; extraction records both in the manifest (``missing``, ``dropped_video``). Under
``data.missing: error`` either stops the stage, naming the CSV's line.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from add.core.errors import AddError, ParamsError
from add.core.io import climbs_out
from add.core.layout import LIST_METHOD, ORIGINAL, SPLITS, parse_label
from add.core.params import Data

if TYPE_CHECKING:
    import pandas as pd

    from add.data.video_io import VideoError

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


GIVEN = Data.list_quality  # the listed videos' quality by default: the params schema's (raw)


def unreadable(entry: ListEntry, twins: Sequence[tuple[Path, str]] = ()) -> str:
    """Why the listed file cannot be read as a video ("" when it can). A file whose ``(twin, quality)`` twins are
    all current was read when they were made, and is not probed again."""
    from add.data.twins import is_current
    from add.data.video_io import VideoError, probe

    try:
        if entry.path.stat().st_size == 0:
            return f"{entry.path}: empty file (0 bytes)"
    except OSError as e:
        return f"{entry.path}: cannot read it: {e.strerror or e}"
    if twins and all(is_current(entry.path, dst, q) for dst, q in twins):
        return ""
    try:
        probe(entry.path)
    except VideoError as e:
        return str(e)
    return ""


def index_list(entries: Sequence[ListEntry], qualities: Sequence[str], twins_dir: str | os.PathLike, *,
               given: str = GIVEN, missing: str = "error", jobs: int = 1, progress: bool = True) -> pd.DataFrame:
    """The rows of videos.parquet for ``entries`` at ``qualities``, the listed files being of quality ``given``,
    making (or reusing) the twins they need. An unreadable file is a row with its reason (``missing="skip"``) or a
    :class:`ListError` naming its line."""
    import pandas as pd  # here: `add lists` reads a list without pandas
    from tqdm import tqdm

    from add.core.qualities import rank
    from add.data.ffpp import INDEX_COLUMNS
    from add.data.twins import make_twins, twin_path

    better = [q for q in qualities if rank(q) < rank(given)]
    if better:
        raise ParamsError(f"data.list_quality is {given}: the list has no {better[0]} video (set teacher.quality: "
                          f"{given}, or list videos of that quality)")
    twins = [q for q in qualities if rank(q) > rank(given)]
    cache = Path(twins_dir)
    present = [e for e in entries if not e.missing]
    with ThreadPoolExecutor(max(1, jobs)) as pool:  # ffprobe-like passes of ffmpeg: the threads only wait
        found = pool.map(lambda e: unreadable(e, [(twin_path(cache, q, e.video), q) for q in twins]), present)
        reasons = {e.video: reason for e, reason in zip(present, found, strict=True) if reason}
    _stop_or_keep(entries, reasons, missing)
    readable = [(e.video, e.path) for e in present if e.video not in reasons]
    with tqdm(total=len(readable) * len(twins), desc="twins", unit="video", disable=not progress) as bar:
        made = {"encoded": 0}

        def done(encoded: bool) -> None:
            made["encoded"] += encoded
            bar.update(1)
            bar.set_postfix(made)

        def failed(video: str, error: VideoError) -> None:
            reasons.setdefault(video, str(error))

        make_twins(readable, cache, twins, jobs=jobs, done=done, failed=failed)
    _stop_or_keep(entries, reasons, missing)
    rows = []
    for e in entries:
        row = {"split": e.split, "method": ORIGINAL if e.label == 0 else LIST_METHOD, "video": e.video,
               "label": e.label, "target": e.target, "path": e.listed}
        for q in qualities:
            row[q] = str(e.path) if q == given else str(twin_path(cache.resolve(), q, e.video))
        row["missing"] = e.missing
        row["unreadable"] = f"{reasons[e.video]} ({e.where})" if e.video in reasons else ""
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*INDEX_COLUMNS, "path", *qualities, "missing", "unreadable"])
    frame["label"] = frame["label"].astype("int64")
    order = {s: i for i, s in enumerate(SPLITS)}
    frame = frame.sort_values(["split", "method", "video"], key=lambda c: c.map(order) if c.name == "split" else c)
    return frame.reset_index(drop=True)


def _stop_or_keep(entries: Sequence[ListEntry], reasons: dict[str, str], missing: str) -> None:
    """Under ``missing="error"``, a :class:`ListError` for the first listed video with a reason in ``reasons``."""
    if missing != "error":
        return
    bad = [e for e in entries if e.video in reasons]
    if bad:
        more = f"; {len(bad) - 1} more listed video(s) cannot be read either" if len(bad) > 1 else ""
        raise ListError(f"{bad[0].where}: {reasons[bad[0].video]}{more} (data.missing: skip leaves such videos "
                        f"out)")
