"""Train/val/test splits by GROUP: videos tied together (same group, a fake and its original, one identity's footage)
never straddle two splits.

Union-find joins every video with its tie keys (:attr:`add.data.datasets.records.Item.ties`), within the split its
format fixes (a tie never pulls a video out of its format's own test set). A fixed component keeps its split; the
open ones are visited in the order of a seeded hash of their name and each goes to the split furthest below its
share of the open videos, so the fractions are met as closely as whole components allow, the same for one seed and
different for another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from add.data.datasets.records import Item

SPLIT_ORDER = ("test", "val", "train")  # ties between equal shortfalls go to the first


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def components(items: Sequence[Item]) -> list[str]:
    """Each item's component, named by the smallest video id in it."""
    uf = _UnionFind()
    nodes = []
    for item in items:
        scope = f"{item.fixed or ''}\x00"  # ties join only within one fixed split
        node = scope + "video\x00" + item.record.video
        nodes.append(node)
        for tie in item.ties:
            uf.union(node, scope + "tie\x00" + tie)
    roots = [uf.find(n) for n in nodes]
    name: dict[str, str] = {}
    for root, item in zip(roots, items, strict=True):
        name[root] = min(name.get(root, item.record.video), item.record.video)
    return [name[r] for r in roots]


def assign_splits(items: Sequence[Item], *, val: float, test: float, seed: int) -> tuple[list[str], list[str]]:
    """``(split, group)`` of each item; ``val`` and ``test`` are fractions of the videos their format leaves open
    (``test`` is 0 when the format fixes its own test set)."""
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise ValueError(f"val and test must be fractions in [0, 1) with val + test < 1, got {val} and {test}")
    groups = components(items)
    sizes: dict[str, int] = {}
    fixed: dict[str, str] = {}
    for group, item in zip(groups, items, strict=True):
        if item.fixed:
            fixed[group] = item.fixed
        else:
            sizes[group] = sizes.get(group, 0) + 1
    total = sum(sizes.values())
    share = {"test": test, "val": val, "train": 1 - val - test}
    filled = dict.fromkeys(SPLIT_ORDER, 0)
    chosen = dict(fixed)
    for group in sorted(sizes, key=lambda g: hashlib.sha256(f"{seed}\x00{g}".encode()).hexdigest()):
        split = max(SPLIT_ORDER, key=lambda s: share[s] * total - filled[s] if share[s] else float("-inf"))
        chosen[group] = split
        filled[split] += sizes[group]
    return [chosen[g] for g in groups], groups
