"""Detection metrics: ACC, ROC/AUC, EER, AP, confusion matrix, R@1 and video-level aggregation (numpy/torch only).

Conventions: label 1 = fake; scores are P(fake); a sample is predicted fake when its score is > 0.5 (the argmax of
the two logits, ties going to "real"). AUC, EER and AP need both classes: on a one-class set each is NaN, with a
warning (AP without a real sample would be 1.0 for any scores; without a fake, 0/0). ACC stays defined (the share of
the one class called right). :func:`undefined_note` says which class is missing, for the metrics files.

EER (equal error rate): the rate where the false positive rate equals the false negative rate 1 − TPR, on the ROC
curve linearly interpolated between its points (``roc_curve``). AP (average precision, as sklearn's
``average_precision_score``): Σ_n (R_n − R_{n−1}) · P_n over the distinct thresholds, recall R and precision P of
"fake" at score >= threshold. DeepfakeBench reports both, at frame and video level.

R@1 (as the authors' code computes the paper's): for each query (test) embedding, its nearest reference (training)
embedding by Euclidean distance (``metric="euclidean"``, the default) or by cosine similarity (``"cosine"``); R@1 is
the fraction of queries whose neighbour has the query's label. Ties go to the earliest reference. ``NearestNeighbor``
streams the references chunk by chunk, so memory is O(queries x (dim + chunk)), never queries x references.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch

THRESHOLD = 0.5


class MetricWarning(UserWarning):
    """A metric is undefined on this data (e.g. AUC on a one-class set) and is reported as NaN."""


def _arrays(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).astype(np.int64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores differ in length: {labels.shape[0]} vs {scores.shape[0]}")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0 (real) or 1 (fake), got {np.unique(labels).tolist()}")
    if not np.isfinite(scores).all():
        raise ValueError(f"scores contain {int((~np.isfinite(scores)).sum())} non-finite value(s)")
    return labels, scores


def predictions(scores, threshold: float = THRESHOLD) -> np.ndarray:
    return (np.asarray(scores, dtype=np.float64) > threshold).astype(np.int64)


def accuracy(labels, scores, threshold: float = THRESHOLD) -> float:
    """Fraction of samples whose thresholded score equals the label (NaN for an empty set)."""
    labels, scores = _arrays(labels, scores)
    if labels.size == 0:
        return math.nan
    return float((predictions(scores, threshold) == labels).mean())


# The metrics that need both classes (null in a metrics file when one is missing; undefined_note says why).
TWO_CLASS_KEYS = ("auc", "eer", "ap", "video_auc", "video_eer", "video_ap")


def _one_class(name: str, labels: np.ndarray) -> bool:
    """Whether ``labels`` lack a class, warning that ``name`` is then NaN (the caller returns it)."""
    positives = int(labels.sum())
    if 0 < positives < labels.size:
        return False
    warnings.warn(f"{name} is undefined with {positives} fake and {labels.size - positives} real sample(s); "
                  f"reporting NaN", MetricWarning, stacklevel=3)
    return True


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve = P(score of a random fake > score of a random real), ties counting 1/2."""
    labels, scores = _arrays(labels, scores)
    if _one_class("AUC", labels):
        return math.nan
    positives = int(labels.sum())
    negatives = labels.size - positives
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    first_rank = np.cumsum(counts) - counts  # 0-based rank of each distinct score's first occurrence
    ranks = first_rank[inverse] + (counts[inverse] + 1) / 2.0  # 1-based average ranks (ties share)
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def _counts(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives (float64) at every distinct score as threshold, descending, and those scores."""
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last_of_value = np.r_[np.nonzero(np.diff(scores))[0], scores.size - 1] if scores.size else np.array([], int)
    tps = np.cumsum(labels)[last_of_value] if scores.size else np.array([])
    fps = (last_of_value + 1) - tps
    return tps.astype(np.float64), fps.astype(np.float64), scores[last_of_value]


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)`` at every distinct score, descending, starting at (0, 0) with threshold inf.

    A sample counts as positive at threshold t when score >= t (sklearn's convention, with every point kept).
    A rate whose class is absent is NaN (with a warning).
    """
    labels, scores = _arrays(labels, scores)
    tps, fps, distinct = _counts(labels, scores)
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    thresholds = np.r_[np.inf, distinct]
    positives, negatives = tps[-1], fps[-1]
    if positives == 0 or negatives == 0:
        warnings.warn(f"ROC curve is undefined with {int(positives)} fake and {int(negatives)} real sample(s)",
                      MetricWarning, stacklevel=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        fpr = fps / negatives if negatives else np.full_like(fps, np.nan)
        tpr = tps / positives if positives else np.full_like(tps, np.nan)
    return fpr, tpr, thresholds


def equal_error_rate(labels, scores) -> float:
    """EER: where FPR = 1 − TPR on the linearly interpolated ROC curve (NaN, with a warning, on a one-class set)."""
    labels, scores = _arrays(labels, scores)
    if _one_class("EER", labels):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        fpr, tpr, _ = roc_curve(labels, scores)
    # gap = FPR − FNR rises along the curve (FPR and TPR never fall), from −1 at (0, 0) to 1 at (1, 1)
    gap = fpr - (1 - tpr)
    i = int(np.argmax(gap >= 0))  # the first point at or past the crossing (i >= 1: gap[0] = −1)
    t = -gap[i - 1] / (gap[i] - gap[i - 1])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def average_precision(labels, scores) -> float:
    """AP = Σ_n (R_n − R_{n−1}) P_n over distinct thresholds (sklearn's); NaN, with a warning, on a one-class set
    (sklearn gives 1.0 without reals, where every precision is 1 whatever the scores)."""
    labels, scores = _arrays(labels, scores)
    if _one_class("AP", labels):
        return math.nan
    positives = int(labels.sum())
    tps, fps, _ = _counts(labels, scores)
    recall = np.r_[0.0, tps / positives]
    precision = tps / (tps + fps)
    return float(np.sum(np.diff(recall) * precision))


def finite_or_none(value: float | None) -> float | None:
    """A metric as a metrics file holds it: rounded to 6 decimals, None for NaN (undefined) or missing."""
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def undefined_note(labels, keys: Sequence[str] = TWO_CLASS_KEYS) -> str | None:
    """Why the metrics ``keys`` (those that need both classes) are null: the class(es) ``labels`` lack; None when
    both are present (the metrics files then carry no note)."""
    labels = np.asarray(labels)
    missing = [name for value, name in ((0, "real"), (1, "fake")) if not (labels == value).any()]
    if not missing:
        return None
    if len(missing) == 2:
        return "nothing was scored: every metric is null"
    return f"no {missing[0]} video was scored: {', '.join(keys)} need both real and fake and are null"


def confusion_matrix(labels, scores, threshold: float = THRESHOLD) -> np.ndarray:
    """2 x 2 counts, rows = actual (real, fake), columns = predicted (real, fake)."""
    labels, scores = _arrays(labels, scores)
    matrix = np.zeros((2, 2), dtype=np.int64)
    np.add.at(matrix, (labels, predictions(scores, threshold)), 1)
    return matrix


def video_level(videos: Sequence[str], labels, scores) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Per video (sorted by name): its label and the mean score of its frames.

    Raises ValueError when a video's frames disagree on the label.
    """
    labels, scores = _arrays(labels, scores)
    if len(videos) != labels.size:
        raise ValueError(f"{len(videos)} video names for {labels.size} scores")
    names, inverse = np.unique(np.asarray(videos, dtype=object).astype(str), return_inverse=True)
    counts = np.bincount(inverse, minlength=names.size)
    mean_scores = np.bincount(inverse, weights=scores, minlength=names.size) / counts
    fake_frames = np.bincount(inverse, weights=labels, minlength=names.size)
    mixed = names[(fake_frames != 0) & (fake_frames != counts)]
    if mixed.size:
        raise ValueError(f"video(s) with both real and fake frames: {mixed[:5].tolist()}")
    return names.tolist(), (fake_frames > 0).astype(np.int64), mean_scores


METRICS = ("euclidean", "cosine")


class NearestNeighbor:
    """Streaming nearest reference (Euclidean distance or cosine similarity) for a fixed set of query embeddings."""

    def __init__(self, queries: torch.Tensor, query_labels, chunk_size: int = 4096, metric: str = "euclidean"):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
        self.metric = metric
        self.queries = self._prepare(torch.as_tensor(queries, dtype=torch.float32))
        self.query_labels = torch.as_tensor(np.asarray(query_labels), dtype=torch.int64)
        if self.queries.ndim != 2 or self.queries.shape[0] != self.query_labels.numel():
            raise ValueError(f"queries must be N x D with N labels, got {tuple(self.queries.shape)} and "
                             f"{self.query_labels.numel()} labels")
        self.chunk_size = chunk_size
        n = self.queries.shape[0]
        self.best_similarity = torch.full((n,), -math.inf)  # cosine, or −(‖r‖² − 2⟨q, r⟩) = ‖q‖² − ‖q − r‖²
        self.best_label = torch.full((n,), -1, dtype=torch.int64)
        self.references = 0

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(x, dim=1) if self.metric == "cosine" and x.ndim == 2 else x

    def _similarity(self, chunk: torch.Tensor) -> torch.Tensor:
        if self.metric == "cosine":
            return self.queries @ chunk.T
        # larger is nearer: −‖q − r‖² up to the query's own ‖q‖², which does not change its ranking
        return 2 * (self.queries @ chunk.T) - chunk.square().sum(dim=1)

    def update(self, references: torch.Tensor, reference_labels) -> None:
        references = torch.as_tensor(references, dtype=torch.float32)
        reference_labels = torch.as_tensor(np.asarray(reference_labels), dtype=torch.int64)
        if references.ndim != 2 or references.shape[1] != self.queries.shape[1]:
            raise ValueError(f"references must be M x {self.queries.shape[1]}, got {tuple(references.shape)}")
        references = self._prepare(references)
        for start in range(0, references.shape[0], self.chunk_size):
            chunk = references[start:start + self.chunk_size]
            similarity, index = self._similarity(chunk).max(dim=1)  # first max on ties
            better = similarity > self.best_similarity  # strict: earlier references win ties
            self.best_similarity = torch.where(better, similarity, self.best_similarity)
            self.best_label = torch.where(better, reference_labels[start:start + self.chunk_size][index],
                                          self.best_label)
        self.references += references.shape[0]

    def recall_at_1(self) -> float:
        if self.references == 0 or self.query_labels.numel() == 0:
            return math.nan
        return float((self.best_label == self.query_labels).double().mean())


def recall_at_1(queries, query_labels, references, reference_labels, chunk_size: int = 4096,
                metric: str = "euclidean") -> float:
    """R@1 of ``queries`` against ``references`` (``metric``: euclidean or cosine), see the module docstring."""
    nn_ = NearestNeighbor(torch.as_tensor(queries), query_labels, chunk_size=chunk_size, metric=metric)
    nn_.update(torch.as_tensor(references), reference_labels)
    return nn_.recall_at_1()
