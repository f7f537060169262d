"""The videos stage for ``data.source: list``: the CSV's videos (:mod:`add.data.listing`) and their c23/c40 twins
(:mod:`add.data.twins`) as the rows of ``data/videos.parquet``, in the same form an FF++ tree gives.

The listed video fills the best quality column (``raw``: the teacher's input under ``teacher.quality: raw``);
c23 and c40 are its twins under ``twins_dir``. Reals are method ``original``, fakes method ``list``
(:data:`add.layout.LIST_METHOD`); a fake made from a listed real is named ``{real}_{fake}`` so extraction reuses the
real's boxes, as for FF++. A video whose file is missing (``data.missing: skip``) keeps its row with the reason in
column ``missing``; extraction records it in the manifest.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from add.data.ffpp import INDEX_COLUMNS
from add.data.listing import ListEntry
from add.data.twins import make_twins, twin_path
from add.layout import LIST_METHOD, ORIGINAL, SPLITS

GIVEN = "raw"  # the column of the video as listed: the best quality there is


def index_list(entries: Sequence[ListEntry], qualities: Sequence[str], twins_dir: str | os.PathLike, *,
               jobs: int = 1, progress: bool = True) -> pd.DataFrame:
    """The rows of videos.parquet for ``entries`` at ``qualities``, making (or reusing) the twins they need."""
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
