"""A model's outputs over a loader: logits and embeddings batch by batch, or P(fake) with labels and videos."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from add.models.detector import Detector
from add.training.runtime import Runtime


@torch.no_grad()
def iter_outputs(model: Detector, batches: Iterable[dict], key: str, runtime: Runtime,
                 desc: str | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor, dict]]:
    """``(logits, embedding, batch)`` per batch, float32 on the CPU, the model in eval mode."""
    was_training = model.training
    model.eval()
    try:
        total = len(batches) if hasattr(batches, "__len__") else None
        for batch in tqdm(batches, total=total, desc=desc, leave=False, disable=desc is None or not runtime.is_main):
            with runtime.autocast():
                logits, _, embedding = model(runtime.to_input(batch[key]), features=True)
            yield logits.float().cpu(), embedding.float().cpu(), batch
    finally:
        model.train(was_training)


@dataclass
class Predictions:
    probs: np.ndarray  # P(fake)
    labels: np.ndarray
    videos: list[str]
    keys: list[str]
    loss: float
    embeddings: torch.Tensor | None = None


def predict(model: Detector, batches: Iterable[dict], key: str, runtime: Runtime, *, embeddings: bool = False,
            desc: str | None = None) -> Predictions:
    probs, labels, videos, keys, embeds, loss_sum = [], [], [], [], [], 0.0
    for logits, embedding, batch in iter_outputs(model, batches, key, runtime, desc):
        label = batch["label"].to(torch.int64).cpu()
        loss_sum += F.cross_entropy(logits, label, reduction="sum").item()
        probs.append(torch.softmax(logits, dim=1)[:, 1].double().numpy())
        labels.append(label.numpy())
        videos += list(batch["video"])
        keys += list(batch["key"])
        if embeddings:
            embeds.append(embedding)
    n = sum(len(p) for p in probs)
    return Predictions(
        probs=np.concatenate(probs) if probs else np.zeros(0), labels=np.concatenate(labels) if labels else
        np.zeros(0, np.int64), videos=videos, keys=keys, loss=loss_sum / n if n else math.nan,
        embeddings=torch.cat(embeds) if embeds else None)
