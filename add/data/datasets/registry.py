"""The dataset formats' registry: a format is a module of :mod:`add.data.datasets.formats` named as the format.

The module reads its format's files and declares itself once, the way timm's ``register_model`` does::

    FORMAT = register(Format("celebdf", read, labels="1 = real, 0 = fake (List_of_testing_videos.txt)",
                             fixes_test=True, items=items))

:func:`names` lists the formats from the module files without importing any (:data:`add.core.registry.FORMATS`, the
registry params validation reads too); :func:`get` imports only the module of the format asked for. Params,
``add lists`` (choices, help, which formats fix the test set), the readers (:mod:`add.data.datasets.read`), the
training lists (:mod:`add.data.datasets.read`) and the cross stage all read the formats from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from add.core.registry import FORMATS
from add.data.datasets import formats  # noqa: F401  the package of the entries, each loaded on demand
from add.data.datasets.records import DatasetError, Item, Record


@dataclass(frozen=True)
class Format:
    """One dataset format.

    ``read(root, **options)``: ``(records of the test files, the file or folder that lists them)``; ``labels``: the
    format's own label convention, in words; ``fixes_test``: its own files say which videos are the test set (``add
    lists`` then draws no test split); ``options``: the keyword options ``read`` takes (``quality``: FF++'s quality
    folder); ``items(root, *, missing, quality, face_ties, skip)``: ``(training items, files missing)`` with the
    ties and fixed splits the format knows (:mod:`add.data.datasets.read`); None: the records, untied.
    """

    name: str
    read: Callable[..., tuple[list[Record], Path]]
    labels: str
    fixes_test: bool = False
    options: tuple[str, ...] = ()
    items: Callable[..., tuple[list[Item], int]] | None = None


def register(fmt: Format) -> Format:
    """Record ``fmt`` (a format module calls this once, under its own module name); returns it."""
    return FORMATS.register(fmt.name)(fmt)


def names() -> tuple[str, ...]:
    """The formats, sorted: the modules of add/data/datasets/formats/ (none imported)."""
    return FORMATS.names()


def get(name: str) -> Format:
    """The format ``name``, its module imported on first use; an unknown name raises a :class:`DatasetError`."""
    if name not in FORMATS:
        raise DatasetError(f"unknown dataset format {name!r}; choose from {list(names())}")
    try:
        return FORMATS.load(name)
    except ValueError as e:  # the module registered no format under its own name
        raise DatasetError(str(e)) from None


def all_formats() -> tuple[Format, ...]:
    """Every format, each module imported."""
    return tuple(get(n) for n in names())
