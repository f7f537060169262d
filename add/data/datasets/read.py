"""Read a dataset of any format: its records (files present) and how many listed files were missing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from add.data.datasets import celebdf, dfd, dfdc, dfdcp, folder, list_csv
from add.data.datasets.records import CROSS_SKIP, DatasetError, Record, apply_missing

READERS: dict[str, Callable[..., tuple[list[Record], Path]]] = {
    "celebdf": celebdf.read,
    "dfdc": dfdc.read,
    "dfdcp": dfdcp.read,
    "dfd": dfd.read,
    "folder": folder.read,
    "list": list_csv.read,
}
FORMATS = tuple(READERS)


def check_source(format: str, root: str | Path) -> None:
    """Refuse an unknown format or a root that is not there, naming it."""
    if format not in READERS:
        raise DatasetError(f"unknown dataset format {format!r}; choose from {list(FORMATS)}")
    if not Path(root).exists():
        raise DatasetError(f"{root}: not found (the root of a {format} dataset)")


def read_dataset(format: str, root: str | Path, *, missing: str = "error", quality: str = "c23",
                 skip: str = CROSS_SKIP) -> tuple[list[Record], int]:
    """``(records whose file exists, number of listed files missing)`` of the dataset at ``root``.

    ``missing``: "error" raises a :class:`DatasetError` naming the first missing files and their count; "skip"
    leaves them out and counts them; ``skip``: how the caller's user asks for that (named in the error).
    ``quality``: DFD's FF++ quality folder.
    """
    check_source(format, root)
    records, source = READERS[format](root, quality=quality) if format == "dfd" else READERS[format](root)
    return apply_missing(records, missing, source, skip=skip)
