"""Which frames of a video are read: :func:`sample_indices`, shared by extraction (``data.frames_per_video``,
``data.sampling``), the cross datasets' faces and ``add predict``."""

from __future__ import annotations

import numpy as np


def sample_indices(n_frames: int, wanted: int, sampling: str = "even", seed: int = 0) -> list[int]:
    """Sorted, unique frame indices: all frames when ``n_frames <= wanted``; else ``wanted`` of them, evenly spaced
    (the centre of each of ``wanted`` equal segments) or drawn at random with ``seed``."""
    if n_frames < 1 or wanted < 1:
        raise ValueError(f"need n_frames >= 1 and wanted >= 1, got {n_frames}, {wanted}")
    if n_frames <= wanted:
        return list(range(n_frames))
    if sampling == "even":
        return [int((2 * i + 1) * n_frames // (2 * wanted)) for i in range(wanted)]
    if sampling == "random":
        rng = np.random.default_rng(seed)
        return sorted(int(i) for i in rng.choice(n_frames, size=wanted, replace=False))
    raise ValueError(f"unknown sampling {sampling!r}; choose even or random")
