"""Random streams keyed by the seed and names, the same in every process and on every run."""

from __future__ import annotations

import zlib

import numpy as np


def rng_for(seed: int, *tags: str | int) -> np.random.Generator:
    """A generator keyed by the seed and string/int tags, stable across processes and runs (no ``hash()``, whose
    value for a str is salted per process; crc32 is not)."""
    words = [seed] + [zlib.crc32(t.encode()) if isinstance(t, str) else int(t) for t in tags]
    return np.random.default_rng(np.random.SeedSequence(words))
