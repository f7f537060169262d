"""A model's scores on a cross dataset's cached crops, and the metrics of one (dataset, compression, model).

Frame score: P(fake) of the frame's face (``faces: largest``) or the maximum over its faces (``faces: all``,
SelfBlendedImages' rule). Video score: the mean of its frames' scores, over the files of its group (a video is its
own group; a list dataset may pool a subject's images). A file without a face is counted in ``videos_no_face`` and
left out of every metric; so are missing files (``videos_missing``, with ``missing: skip``) and unreadable ones
(``videos_unreadable``, idem).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from add.data.datasets.records import Record
from add.evaluation.cross_faces import FileFaces
from add.models.metrics import (
    MetricWarning,
    accuracy,
    average_precision,
    equal_error_rate,
    finite_or_none,
    roc_auc,
    undefined_note,
    video_level,
)

METRIC_KEYS = ("acc", "auc", "eer", "ap", "video_acc", "video_auc", "video_eer", "video_ap", "videos_real",
               "videos_fake", "videos_no_face", "videos_missing", "videos_unreadable", "frames", "real_frames",
               "fake_frames")


def frame_scores(faces: FileFaces, scores: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """``(frame indices, frame scores)`` from the per-crop ``scores`` of ``faces`` (crops used by ``mode``)."""
    use = faces.chosen if mode == "largest" else faces.every
    frames, crop_scores = faces.frames[use], scores
    unique = np.unique(frames)
    return unique, np.array([crop_scores[frames == f].max() for f in unique])


def crops_for(faces: FileFaces, mode: str) -> np.ndarray:
    return faces.crops[faces.chosen if mode == "largest" else faces.every]



def cross_metrics(records: Sequence[Record], load: Callable[[Record], FileFaces],
                  score: Callable[[np.ndarray], np.ndarray], mode: str, missing: int = 0
                  ) -> tuple[dict[str, Any], list[str]]:
    """The metrics (:data:`METRIC_KEYS`, NaN as None) of ``score`` (crops -> P(fake)) on ``records`` whose faces
    ``load`` gives, and the warnings (one-class sets) to show. A set that lacks a class has
    :data:`add.models.metrics.TWO_CLASS_KEYS` null and an ``undefined`` field saying which class is missing."""
    labels, scores, groups = [], [], []
    no_face = unreadable = 0
    for record in records:
        faces = load(record)
        if faces.status == "no_face":
            no_face += 1
            continue
        if faces.status != "ok":
            unreadable += 1
            continue
        crop_scores = score(crops_for(faces, mode))
        if not np.isfinite(crop_scores).all():
            raise ValueError(f"{record.path}: the model gives non-finite outputs")
        _, per_frame = frame_scores(faces, crop_scores, mode)
        labels += [record.label] * len(per_frame)
        scores += per_frame.tolist()
        groups += [record.group] * len(per_frame)
    labels_a, scores_a = np.array(labels, np.int64), np.array(scores, np.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MetricWarning)
        if labels_a.size:
            _, video_labels, video_scores = video_level(groups, labels_a, scores_a)
            values = {"acc": accuracy(labels_a, scores_a), "auc": roc_auc(labels_a, scores_a),
                      "eer": equal_error_rate(labels_a, scores_a), "ap": average_precision(labels_a, scores_a),
                      "video_acc": accuracy(video_labels, video_scores),
                      "video_auc": roc_auc(video_labels, video_scores),
                      "video_eer": equal_error_rate(video_labels, video_scores),
                      "video_ap": average_precision(video_labels, video_scores)}
        else:
            video_labels = np.zeros(0, np.int64)
            values = dict.fromkeys(("acc", "auc", "eer", "ap", "video_acc", "video_auc", "video_eer", "video_ap"),
                                   math.nan)
    metrics: dict[str, Any] = {k: finite_or_none(v) for k, v in values.items()}
    metrics.update({"videos_real": int((video_labels == 0).sum()), "videos_fake": int((video_labels == 1).sum()),
                    "videos_no_face": no_face, "videos_missing": int(missing), "videos_unreadable": unreadable,
                    "frames": int(labels_a.size), "real_frames": int((labels_a == 0).sum()),
                    "fake_frames": int((labels_a == 1).sum())})
    result = {k: metrics[k] for k in METRIC_KEYS}
    note = undefined_note(labels_a)
    if note is not None:  # only then: a two-class set's file keeps its fields
        result["undefined"] = note
    return result, sorted({str(w.message) for w in caught})
