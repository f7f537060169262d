"""Saving a figure: the one way every stage (evaluate, gallery, spectrum) and the study write a PNG."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from add.core.io import atomic_path


def save_png(fig: Any, path: str | os.PathLike) -> Path:
    """Write the matplotlib figure ``fig`` to ``path`` as PNG, atomically (temp file + rename) and byte-reproducibly
    (no "Software" metadata: the matplotlib version is not part of the picture), then close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
    return path
