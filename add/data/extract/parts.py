"""``add extract --part i/N``: one of N deterministic shares of the videos, for N machines sharing a filesystem.

Each part extracts its videos into the same per-video outputs as a whole run (tar + fingerprinted sidecar), and
writes no manifest and no metrics; the ordinary stage run afterwards (``dvc repro``) finds every video done, reads
them back from their sidecars and only writes the manifest. A video's part follows its footage (the id whose frames
it shows, ``VideoJob.footage``): a fake always lands in the part of the original whose boxes it may reuse, so no part
waits on another. The footages, in the order of videos.parquet, are dealt round-robin: part ``i`` (0-based, as a
SLURM array's ``$SLURM_ARRAY_TASK_ID`` with ``--array=0-(N-1)``) takes every N-th one from the ``i``-th.

The first part to start records N in ``{faces}/.parts.json``; a part of another N writing the same folder is
refused (its shares would overlap or leave gaps). The whole run removes the record once the manifest is written.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from add.data.extract.config import ExtractError
from add.data.extract.jobs import VideoJob

MARKER = ".parts.json"
_PART_RE = re.compile(r"(\d+)/(\d+)")


def parse_part(text: str) -> tuple[int, int]:
    """``"i/N"`` -> ``(i, N)``, with 0 <= i < N."""
    m = _PART_RE.fullmatch(text.strip())
    if m is None:
        raise ExtractError(f"--part {text!r}: expected i/N, e.g. 0/3 (part i of N, i from 0 to N-1)")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1:
        raise ExtractError(f"--part {text!r}: N must be at least 1")
    if i >= n:
        raise ExtractError(f"--part {text!r}: part {i} is out of range; parts of {n} are 0 to {n - 1}")
    return i, n


def select_part(jobs: Sequence[VideoJob], part: int, parts: int) -> list[VideoJob]:
    """The jobs of part ``part`` of ``parts``: every video whose footage is dealt to it."""
    footages: dict[str, int] = {}
    for job in jobs:
        footages.setdefault(job.footage, len(footages))
    return [job for job in jobs if footages[job.footage] % parts == part]


def claim(out_dir: str | os.PathLike, parts: int) -> None:
    """Record that parts of ``parts`` write ``out_dir``; refuse when parts of another N already do."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / MARKER
    record = json.dumps({"parts": parts}, sort_keys=True) + "\n"
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # the first part of all creates it
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(record)
        return
    try:
        found = json.loads(marker.read_text(encoding="utf-8")).get("parts")
    except (OSError, ValueError, AttributeError):
        found = None
    if found != parts:
        raise ExtractError(f"{marker}: parts of {found} are extracting into {out_dir}; a part of {parts} would "
                           f"overlap them. Run every part with the same N, or let the whole stage finish (it removes "
                           f"{MARKER}) before starting parts of another N")


def release(out_dir: str | os.PathLike) -> None:
    """Forget the parts' N (the whole stage ran to the end)."""
    (Path(out_dir) / MARKER).unlink(missing_ok=True)
