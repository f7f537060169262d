"""The interval arithmetic of the seeded study (bench/study.py, issue 20): paired differences over student seeds.

The study trains K students per distiller on ONE dataset and teacher, differing only in ``train.seed``; every
distiller shares the K seeds, so ``d_s = metric(distiller, s) − metric(none, s)`` is a paired difference.

- :func:`t_interval`: the mean of the d_s with its 95 % t interval over seeds (mean ± t_{0.975, K−1} · sd / √K):
  the uncertainty from training noise on this fixed test set.
- :func:`bootstrap_paired`: a percentile interval for the same mean difference that resamples the test set's
  identity pairs (:func:`pair_groups`: an original and the fakes made from it belong together) with replacement,
  the same resample for every seed and both models: the uncertainty from which faces happen to be in the test split.
- :func:`seeds_needed`: K from a pilot's SD σ_d of the paired differences so that the t interval's half-width is at
  most ``h``: the smallest K ≥ minimum (issue 20: 8) with t_{0.975, K−1} · σ_d / √K ≤ h. Issue 20's shorthand
  K ≈ (2σ_d / h)² puts 2 for t, which at K ≈ 8 is 2.36: it undersizes by a seed or two.
- :func:`better_worse`: how many seeds the distiller is better / worse on.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from add.core.registry import PLAIN_STUDENT

__all__ = ["Frames", "Interval", "better_worse", "bootstrap_paired", "pair_groups", "paired_differences",
           "seeds_needed", "t_interval"]


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    n: int
    sd: float = math.nan  # of the values (t interval), NaN for a bootstrap

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def t_quantile(confidence: float, df: int) -> float:
    from scipy.stats import t  # scipy: a dependency of scikit-image

    return float(t.ppf(0.5 + confidence / 2, df))


def t_interval(values: Iterable[float], confidence: float = 0.95) -> Interval:
    """Mean ± t_{(1+c)/2, n−1} · sd / √n of ``values`` (n ≥ 2; NaN bounds for one value)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("t_interval: no values")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Interval(mean, math.nan, math.nan, len(values))
    sd = statistics.stdev(values)
    half = t_quantile(confidence, len(values) - 1) * sd / math.sqrt(len(values))
    return Interval(mean, mean - half, mean + half, len(values), sd)


def seeds_needed(sd: float, half_width: float, minimum: int = 8, confidence: float = 0.95) -> int:
    """The smallest K ≥ ``minimum`` (and ≥ 2) with t_{(1+c)/2, K−1} · sd / √K ≤ ``half_width`` (same units): seeds
    for a t interval of at most ± ``half_width`` if the SD is ``sd``."""
    if half_width <= 0 or not math.isfinite(sd) or sd < 0:
        raise ValueError(f"seeds_needed: sd must be finite and >= 0 and half_width > 0, got {sd}, {half_width}")
    k = max(minimum, 2)
    while t_quantile(confidence, k - 1) * sd / math.sqrt(k) > half_width:
        k += 1
    return k


def paired_differences(rows: Iterable[Mapping], metric: str, *, baseline: str = PLAIN_STUDENT,
                       quality: str | None = None) -> dict[str, dict[int, float]]:
    """``{distill: {seed: row[metric] − baseline's row[metric]}}`` from result rows (``distill, seed,
    test_quality, ...``) of ``quality`` (all when None), over the seeds both have; the baseline itself is left out."""
    rows = [r for r in rows if quality is None or r["test_quality"] == quality]
    base = {r["seed"]: r[metric] for r in rows if r["distill"] == baseline and r[metric] is not None}
    out: dict[str, dict[int, float]] = {}
    for r in rows:
        if r["distill"] != baseline and r["seed"] in base and r[metric] is not None:
            out.setdefault(r["distill"], {})[r["seed"]] = float(r[metric]) - float(base[r["seed"]])
    return {d: dict(sorted(per_seed.items())) for d, per_seed in out.items()}


def better_worse(differences: Iterable[float]) -> tuple[int, int]:
    differences = list(differences)
    return sum(d > 0 for d in differences), sum(d < 0 for d in differences)


def pair_groups(videos: Sequence[str]) -> list[int]:
    """A group index per entry of ``videos`` (``method/name``, as the loader names them): the identities joined by a
    fake ``target_source`` form one group with their originals ``target`` and ``source`` (FF++ and the demo)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    names = [v.split("/", 1)[-1] for v in videos]
    for name in names:
        ids = name.split("_")
        for other in ids[1:]:
            parent[find(other)] = find(ids[0])
    roots: dict[str, int] = {}
    return [roots.setdefault(find(name.split("_")[0]), len(roots)) for name in names]


@dataclass(frozen=True)
class Frames:
    """Per-frame test predictions of one model: ``keys`` identify the frames (the same for every model)."""

    keys: Sequence[str]
    videos: Sequence[str]
    labels: np.ndarray
    probs: np.ndarray

    def aligned(self, keys: Sequence[str]) -> Frames:
        """These predictions in the order of ``keys`` (ValueError when the frames differ)."""
        if list(self.keys) == list(keys):
            return self
        where = {k: i for i, k in enumerate(self.keys)}
        if set(where) != set(keys):
            raise ValueError("bootstrap_paired: the models were tested on different frames")
        order = np.array([where[k] for k in keys])
        return Frames(list(keys), [self.videos[i] for i in order], self.labels[order], self.probs[order])


def bootstrap_paired(pairs: Sequence[tuple[Frames, Frames]], metric: Callable[[np.ndarray, np.ndarray], float], *,
                     resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> Interval:
    """Percentile interval of mean_s [metric(a_s) − metric(b_s)] over ``pairs`` (one (distiller, baseline) pair of
    predictions per student seed), resampling the test identity pairs with replacement; deterministic given
    ``seed``. ``metric(labels, probs)``."""
    if not pairs:
        raise ValueError("bootstrap_paired: no pairs")
    keys = list(pairs[0][0].keys)
    pairs = [(a.aligned(keys), b.aligned(keys)) for a, b in pairs]
    reference = pairs[0][0]
    groups = np.asarray(pair_groups(reference.videos))
    members = [np.flatnonzero(groups == g) for g in range(int(groups.max()) + 1)]

    def statistic(index: np.ndarray) -> float:
        return statistics.fmean(metric(a.labels[index], a.probs[index]) - metric(b.labels[index], b.probs[index])
                                for a, b in pairs)

    estimate = statistic(np.arange(len(keys)))
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for i in range(resamples):
        drawn = rng.integers(0, len(members), size=len(members))
        values[i] = statistic(np.concatenate([members[g] for g in drawn]))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high), len(pairs))
