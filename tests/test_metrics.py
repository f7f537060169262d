"""Metric functions against sklearn on known inputs, R@1 against brute force and hand-made cases, one-class and bad
inputs."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn import metrics as sk

from add.models import metrics

CASES = {
    "separable": ([0, 0, 1, 1], [0.1, 0.4, 0.6, 0.9]),
    "ties": ([0, 1, 0, 1, 1, 0], [0.5, 0.5, 0.2, 0.8, 0.2, 0.7]),
    "inverted": ([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]),
    "all_equal": ([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]),
}


def random_case(seed: int, n: int = 300):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    scores = np.round(np.clip(rng.normal(0.35 + 0.3 * labels, 0.25), 0, 1), 2)  # rounded: many ties
    return labels, scores


@pytest.mark.parametrize("labels,scores", [*CASES.values(), random_case(0), random_case(1)])
def test_against_sklearn(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores)
    assert metrics.roc_auc(labels, scores) == pytest.approx(sk.roc_auc_score(labels, scores), abs=1e-12)
    predicted = (scores > 0.5).astype(int)
    assert metrics.accuracy(labels, scores) == pytest.approx(sk.accuracy_score(labels, predicted))
    np.testing.assert_array_equal(metrics.confusion_matrix(labels, scores),
                                  sk.confusion_matrix(labels, predicted, labels=[0, 1]))
    fpr, tpr, thresholds = metrics.roc_curve(labels, scores)
    sk_fpr, sk_tpr, sk_thresholds = sk.roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thresholds[1:], sk_thresholds[1:])
    assert math.isinf(thresholds[0])
    assert metrics.average_precision(labels, scores) == pytest.approx(
        sk.average_precision_score(labels, scores), abs=1e-12)
    assert metrics.equal_error_rate(labels, scores) == pytest.approx(sklearn_eer(labels, scores), abs=1e-9)


def sklearn_eer(labels, scores):
    """The usual EER recipe: sklearn's (thinned) ROC curve, interpolated, and the root of FNR − FPR."""
    fpr, tpr, _ = sk.roc_curve(labels, scores)
    return brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0, xtol=1e-13)


def test_eer_and_ap_known_values():
    assert metrics.equal_error_rate([0, 0, 1, 1], [0.1, 0.4, 0.6, 0.9]) == 0.0
    assert metrics.equal_error_rate([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert metrics.equal_error_rate([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5)
    # one real above one fake of four each: FPR 1/4 at TPR 3/4 is a corner of the curve where FPR = FNR
    assert metrics.equal_error_rate([0] * 4 + [1] * 4, [0.1, 0.2, 0.3, 0.8, 0.4, 0.7, 0.9, 0.95]) == 0.25
    assert metrics.average_precision([0, 0, 1, 1], [0.1, 0.4, 0.6, 0.9]) == 1.0
    assert metrics.average_precision([1, 0, 1], [0.9, 0.8, 0.1]) == pytest.approx(1 / 2 + 1 / 2 * 2 / 3)


def test_known_values():
    assert metrics.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert metrics.roc_auc(*CASES["all_equal"]) == pytest.approx(0.5)
    assert metrics.accuracy([0, 1, 1], [0.5, 0.51, 0.2]) == pytest.approx(2 / 3)  # 0.5 is "real" (argmax tie)


def test_one_class_auc_is_nan_with_warning():
    with pytest.warns(metrics.MetricWarning, match="undefined"):
        assert math.isnan(metrics.roc_auc([1, 1, 1], [0.2, 0.9, 0.6]))
    with pytest.warns(metrics.MetricWarning, match="EER is undefined"):
        assert math.isnan(metrics.equal_error_rate([1, 1, 1], [0.2, 0.9, 0.6]))
    with pytest.warns(metrics.MetricWarning, match="AP is undefined"):
        assert math.isnan(metrics.average_precision([0, 0], [0.2, 0.9]))
    with pytest.warns(metrics.MetricWarning):
        fpr, tpr, _ = metrics.roc_curve([0, 0], [0.2, 0.4])
    assert np.isnan(tpr).all() and fpr[-1] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.accuracy([1, 1, 1], [0.2, 0.9, 0.6]) == pytest.approx(2 / 3)


def test_bad_inputs():
    with pytest.raises(ValueError, match="non-finite"):
        metrics.roc_auc([0, 1], [0.2, float("nan")])
    with pytest.raises(ValueError, match="differ in length"):
        metrics.accuracy([0, 1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="0 \\(real\\) or 1"):
        metrics.accuracy([0, 2], [0.2, 0.3])
    assert math.isnan(metrics.accuracy([], []))


def test_recall_at_1_hand_made():
    # queries 0..3; references: two clusters on the x and y axes, labels 0 and 1
    references = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    reference_labels = [0, 0, 1, 1]
    queries = torch.tensor([[1.2, 0.1],    # nearest: reference 0 (label 0), query label 0 -> hit
                            [0.1, 1.3],    # nearest: reference 2 (label 1), query label 1 -> hit
                            [1.0, 0.05],   # nearest: reference 0 (label 0), query label 1 -> miss
                            [0.2, 0.9]])   # nearest: reference 3 (label 1), query label 1 -> hit
    for metric in ("euclidean", "cosine"):
        assert metrics.recall_at_1(queries, [0, 1, 1, 1], references, reference_labels,
                                   metric=metric) == pytest.approx(0.75)
    # Euclidean (the default, the authors' R@1) vs cosine: a point far out along the x axis is nearest, by
    # distance, to the reference that is furthest out, whatever its direction
    far = torch.tensor([[10.0, 1.0]])
    references = torch.tensor([[1.0, 0.1], [5.0, 5.0]])
    assert metrics.recall_at_1(far, [1], references, [0, 1]) == 1.0
    assert metrics.recall_at_1(far, [1], references, [0, 1], metric="cosine") == 0.0


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("chunk_size", [1, 3, 1000])
def test_recall_at_1_streaming_matches_brute_force(chunk_size, metric):
    generator = torch.Generator().manual_seed(0)
    queries = torch.randn(50, 8, generator=generator) * 3 + 1
    references = torch.randn(77, 8, generator=generator) * torch.rand(77, 1, generator=generator) * 4
    query_labels = torch.randint(0, 2, (50,), generator=generator)
    reference_labels = torch.randint(0, 2, (77,), generator=generator)
    q, r = queries.double(), references.double()
    if metric == "euclidean":  # brute force: every distance, in float64, the nearest reference
        nearest = torch.tensor([min(range(77), key=lambda j: ((q[i] - r[j]) ** 2).sum().item()) for i in range(50)])
    else:
        nearest = (torch.nn.functional.normalize(q, dim=1) @ torch.nn.functional.normalize(r, dim=1).T).argmax(1)
    expected = (reference_labels[nearest] == query_labels).double().mean().item()
    neighbours = metrics.NearestNeighbor(queries, query_labels, chunk_size=chunk_size, metric=metric)
    for start in range(0, 77, 10):  # references arriving batch by batch
        neighbours.update(references[start:start + 10], reference_labels[start:start + 10])
    assert neighbours.recall_at_1() == pytest.approx(expected)
    assert neighbours.references == 77
    cosine = (torch.nn.functional.normalize(q, dim=1) @ torch.nn.functional.normalize(r, dim=1).T).argmax(1)
    assert (torch.cdist(q, r).argmin(1) != cosine).sum() > 10  # the data tell the two metrics apart


def test_recall_at_1_ties_go_to_first_reference():
    references = torch.tensor([[1.0, 0.0], [2.0, 0.0]])  # the same direction: equal cosine
    assert metrics.recall_at_1(torch.tensor([[1.0, 0.0]]), [1], references, [1, 0], chunk_size=1,
                               metric="cosine") == 1.0
    references = torch.tensor([[0.0, 1.0], [0.0, -1.0]])  # equally far
    assert metrics.recall_at_1(torch.tensor([[0.0, 0.0]]), [1], references, [1, 0], chunk_size=1) == 1.0
    with pytest.raises(ValueError, match="metric"):
        metrics.NearestNeighbor(references, [0, 1], metric="manhattan")


def test_video_level():
    videos = ["Deepfakes/000_003", "original/000", "Deepfakes/000_003", "original/000", "original/001"]
    names, labels, scores = metrics.video_level(videos, [1, 0, 1, 0, 0], [0.9, 0.2, 0.5, 0.6, 0.1])
    assert names == ["Deepfakes/000_003", "original/000", "original/001"]
    np.testing.assert_array_equal(labels, [1, 0, 0])
    np.testing.assert_allclose(scores, [0.7, 0.4, 0.1])
    with pytest.raises(ValueError, match="both real and fake"):
        metrics.video_level(["a", "a"], [0, 1], [0.1, 0.2])


def test_every_metric_that_needs_both_classes_is_nan_on_a_one_class_set():
    # sklearn gives AP 1.0 without reals (every precision is 1 whatever the scores): a perfect-looking null result
    for labels in ([1, 1, 1], [0, 0, 0]):
        for fn in (metrics.roc_auc, metrics.equal_error_rate, metrics.average_precision):
            with pytest.warns(metrics.MetricWarning, match="undefined"):
                assert math.isnan(fn(labels, [0.2, 0.9, 0.6])), (fn.__name__, labels)
    assert metrics.undefined_note([0, 1, 1], ["auc"]) is None
    assert metrics.undefined_note([1, 1], ["auc", "ap"]) == "no real video was scored: auc, ap need both real and " \
                                                           "fake and are null"
    assert "no fake video" in metrics.undefined_note([0], ["ap"])
    assert "every metric is null" in metrics.undefined_note([], ["ap"])


@pytest.mark.parametrize("label,missing", [(1, "real"), (0, "fake")])
def test_a_one_class_cross_set_has_null_two_class_metrics_and_says_why(label, missing):
    from add.data.datasets.records import Record
    from add.evaluation.cross_faces import FileFaces
    from add.evaluation.cross_scoring import METRIC_KEYS, cross_metrics
    from add.models.metrics import TWO_CLASS_KEYS

    records = [Record(Path(f"v{i}.mp4"), label, f"v{i}.mp4", f"v{i}.mp4") for i in range(3)]
    faces = FileFaces("ok", np.arange(2), np.zeros((2, 4), np.int64), np.ones(2, bool), np.ones(2, bool),
                      np.zeros((2, 4, 4, 3), np.uint8))
    scores = iter([np.array([0.9, 0.8]), np.array([0.1, 0.7]), np.array([0.6, 0.6])])
    result, warned = cross_metrics(records, lambda r: faces, lambda crops: next(scores), "largest")
    assert all(result[k] is None for k in TWO_CLASS_KEYS), {k: result[k] for k in TWO_CLASS_KEYS}
    assert result["acc"] is not None and result["video_acc"] is not None  # ACC is defined on one class
    assert list(result) == [*METRIC_KEYS, "undefined"] and f"no {missing} video" in result["undefined"]
    assert warned


def test_a_two_class_cross_set_has_no_undefined_field():
    from add.data.datasets.records import Record
    from add.evaluation.cross_faces import FileFaces
    from add.evaluation.cross_scoring import METRIC_KEYS, cross_metrics

    records = [Record(Path(f"v{i}.mp4"), i % 2, f"v{i}.mp4", f"v{i}.mp4") for i in range(4)]
    faces = FileFaces("ok", np.arange(1), np.zeros((1, 4), np.int64), np.ones(1, bool), np.ones(1, bool),
                      np.zeros((1, 4, 4, 3), np.uint8))
    scores = iter([np.array([s]) for s in (0.2, 0.7, 0.4, 0.9)])
    result, warned = cross_metrics(records, lambda r: faces, lambda crops: next(scores), "largest")
    assert list(result) == list(METRIC_KEYS) and result["ap"] == 1.0 and result["auc"] == 1.0 and not warned
