"""add.evaluation.study_stats on hand-made tables with hand-computed values: t interval, K, paired differences, identity
pairs and the paired bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from add.evaluation.study_stats import (
    Frames,
    better_worse,
    bootstrap_paired,
    pair_groups,
    paired_differences,
    seeds_needed,
    t_interval,
)
from add.models.metrics import accuracy

ROWS = [  # a hand-made results table: none and add over four student seeds, plus a c40/raw teacher row
    {"distill": "teacher", "seed": 0, "test_quality": "raw", "acc": 0.97},
    *({"distill": "none", "seed": s, "test_quality": "c40", "acc": a} for s, a in enumerate([0.70, 0.72, 0.68, 0.74])),
    *({"distill": "add", "seed": s, "test_quality": "c40", "acc": a} for s, a in enumerate([0.71, 0.74, 0.71, 0.78])),
]


def test_t_interval_by_hand():
    # values 1, 2, 3, 4: mean 2.5, sd sqrt(5/3) = 1.290994, se 0.645497; t(0.975, 3) = 3.182446 -> half 2.054260
    interval = t_interval([1, 2, 3, 4])
    assert interval.estimate == 2.5 and interval.n == 4
    assert interval.sd == pytest.approx(1.290994, abs=1e-6)
    assert interval.half_width == pytest.approx(2.054260, abs=1e-6)
    assert (interval.low, interval.high) == pytest.approx((2.5 - 2.054260, 2.5 + 2.054260), abs=1e-6)
    single = t_interval([0.3])
    assert single.estimate == 0.3 and math.isnan(single.low) and math.isnan(single.high)


def test_paired_differences_and_counts_by_hand():
    diffs = paired_differences(ROWS, "acc", quality="c40")
    assert list(diffs) == ["add"]
    assert diffs["add"] == pytest.approx({0: 0.01, 1: 0.02, 2: 0.03, 3: 0.04})
    assert better_worse(diffs["add"].values()) == (4, 0)
    assert better_worse([0.1, -0.2, 0.0, -0.1]) == (1, 2)
    # d = 0.01 .. 0.04: mean 0.025, sd 0.0129099, half 3.182446 * 0.0129099 / 2 = 0.0205426
    interval = t_interval(diffs["add"].values())
    assert interval.estimate == pytest.approx(0.025)
    assert interval.half_width == pytest.approx(0.0205426, abs=1e-7)


def test_seeds_needed_puts_the_t_interval_within_the_half_width():
    # smallest K >= minimum with t_{0.975, K-1} * sd / sqrt(K) <= h (scipy's t quantiles)
    assert seeds_needed(0.06, 0.03) == 18            # K=17: 2.120 * 6 / 4.123 = 3.085; K=18: 2.984
    assert seeds_needed(0.096, 0.03) == 42           # the (2 * 9.6 / 3)^2 = 40.96 -> 41 is one short
    assert seeds_needed(0.0387, 0.03) == 9           # the pilot's: K=8 gives 2.365 * 3.87 / 2.828 = 3.24 > 3
    assert seeds_needed(0.02, 0.03) == 8             # at least 8
    assert seeds_needed(3.7, 3.0, minimum=4) == 9    # in points: K=8 gives 3.09
    assert seeds_needed(0.0, 0.03, minimum=1) == 2   # a t interval needs two seeds
    with pytest.raises(ValueError):
        seeds_needed(0.05, 0)


def test_pair_groups_join_originals_and_their_fakes():
    videos = ["original/001", "Deepfakes/001_002", "original/002", "Deepfakes/002_001", "original/003",
              "Deepfakes/003_004", "original/004", "original/001"]
    assert pair_groups(videos) == [0, 0, 0, 0, 1, 1, 1, 0]


def frames(correct_first_pair: bool, correct_second_pair: bool = True) -> Frames:
    """Two identity pairs of two frames each (one real, one fake); a model right or wrong on each pair."""
    videos = ["original/001", "Deepfakes/001_002", "original/003", "Deepfakes/003_004"]
    labels = np.array([0, 1, 0, 1])
    right = np.array([0.1, 0.9, 0.1, 0.9])
    probs = np.where(np.array([correct_first_pair] * 2 + [correct_second_pair] * 2), right, 1 - right)
    return Frames([f"k{i}" for i in range(4)], videos, labels, probs)


def test_bootstrap_over_identity_pairs_by_hand():
    # a right everywhere, b wrong on pair 1: a resample of the 2 pairs holds pair 1 0, 1 or 2 times (p 1/4, 1/2,
    # 1/4), so the ACC difference is 0, 0.5 or 1: the 95 % percentile interval is [0, 1] around the estimate 0.5
    interval = bootstrap_paired([(frames(True), frames(False))], accuracy, resamples=400, seed=0)
    assert interval.estimate == 0.5 and (interval.low, interval.high) == (0.0, 1.0)
    same = bootstrap_paired([(frames(True), frames(True))], accuracy, resamples=50)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    # the mean over seeds: seed 0 differs by 0.5, seed 1 (b wrong on both pairs) by 1 in every resample's half
    two = bootstrap_paired([(frames(True), frames(False)), (frames(True), frames(False, False))], accuracy,
                           resamples=50)
    assert two.estimate == 0.75 and two.n == 2


def test_bootstrap_is_deterministic_given_its_seed_and_aligns_frames_by_key():
    rng = np.random.default_rng(5)
    videos = [f"original/{i:03d}" if j == 0 else f"Deepfakes/{i:03d}_{i + 100:03d}" for i in range(10) for j in (0, 1)]
    labels = np.array([0, 1] * 10)
    keys = [f"k{i}" for i in range(20)]
    a = Frames(keys, videos, labels, rng.random(20))
    b = Frames(keys, videos, labels, rng.random(20))
    first = bootstrap_paired([(a, b)], accuracy, resamples=200, seed=1)
    assert first == bootstrap_paired([(a, b)], accuracy, resamples=200, seed=1)
    assert first != bootstrap_paired([(a, b)], accuracy, resamples=200, seed=2)
    order = rng.permutation(20)
    shuffled = Frames([keys[i] for i in order], [videos[i] for i in order], labels[order], b.probs[order])
    assert bootstrap_paired([(a, shuffled)], accuracy, resamples=200, seed=1) == first
    with pytest.raises(ValueError, match="different frames"):
        bootstrap_paired([(a, Frames(keys[:-1], videos[:-1], labels[:-1], b.probs[:-1]))], accuracy)
