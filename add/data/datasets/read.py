"""Read a dataset of any format: its records (files present) and how many listed files were missing."""

from __future__ import annotations

from pathlib import Path

from add.data.datasets.records import CROSS_SKIP, DatasetError, Record, apply_missing
from add.data.datasets.registry import get, names

FORMATS = names()  # the modules of add/data/datasets/formats/ (add.data.datasets.registry)


def check_source(format: str, root: str | Path) -> None:
    """Refuse an unknown format or a root that is not there, naming it."""
    get(format)
    if not Path(root).exists():
        raise DatasetError(f"{root}: not found (the root of a {format} dataset)")


def read_dataset(format: str, root: str | Path, *, missing: str = "error", quality: str = "c23",
                 skip: str = CROSS_SKIP) -> tuple[list[Record], int]:
    """``(records whose file exists, number of listed files missing)`` of the dataset at ``root``.

    ``missing``: "error" raises a :class:`DatasetError` naming the first missing files and their count; "skip"
    leaves them out and counts them; ``skip``: how the caller's user asks for that (named in the error).
    ``quality``: FF++'s quality folder, for the formats that take it (``Format.options``).
    """
    check_source(format, root)
    fmt = get(format)
    records, source = fmt.read(root, **{k: v for k, v in {"quality": quality}.items() if k in fmt.options})
    return apply_missing(records, missing, source, skip=skip)

