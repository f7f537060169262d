"""The videos stage for ``data.source: list``: the CSV's videos (:mod:`add.data.listing`) and their c23/c40 twins
(:mod:`add.data.twins`) as the rows of ``data/videos.parquet``, in the same form an FF++ tree gives.

The listed video fills the column of its own quality, ``data.list_quality`` (``raw``, the default: the teacher's
input under ``teacher.quality: raw``; ``c23`` for clips that already are, e.g. FF++'s c23 videos: used as they are,
never re-encoded at crf 23). Each quality below it is a twin under ``twins_dir``; a quality above it is refused.
Reals are method ``original``, fakes method ``list`` (:data:`add.layout.LIST_METHOD`); a fake made from a listed real
is named ``{real}_{fake}`` so extraction reuses the real's boxes, as for FF++. Column ``path`` keeps the path as the
CSV writes it beside the id. A video whose file is missing (``data.missing: skip``) keeps its row with the reason in
column ``missing``; one whose file ffmpeg cannot read (an empty file, a damaged one, a twin that is not
frame-aligned) with the reason in column ``unreadable``; extraction records both in the manifest (``missing``,
``dropped_video``). Under ``data.missing: error`` either stops the stage, naming the CSV's line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from add.data.ffpp import INDEX_COLUMNS
from add.data.listing import ListEntry, ListError
from add.data.twins import is_current, make_twins, twin_path
from add.data.video import VideoError, probe
from add.errors import ParamsError
from add.layout import LIST_METHOD, ORIGINAL, SPLITS
from add.qualities import rank

GIVEN = "raw"  # the default quality of the listed videos (data.list_quality)
LIST_QUALITIES = ("raw", "c23")


def unreadable(entry: ListEntry, twins: Sequence[tuple[Path, str]] = ()) -> str:
    """Why the listed file cannot be read as a video ("" when it can). A file whose ``(twin, quality)`` twins are
    all current was read when they were made, and is not probed again."""
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
    if given not in LIST_QUALITIES:
        raise ParamsError(f"params 'data.list_quality' must be one of {list(LIST_QUALITIES)}, got {given!r}")
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
