"""Checkpoints: ``best.pt`` (the model of the best validation and its metadata) and ``last.pt`` (the resumable
state, :mod:`add.training.loop`). Plain tensors and Python values, written atomically, read with ``weights_only=True``.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import torch
from torch import nn

from add.core.errors import AddError
from add.core.io import atomic_write
from add.models.detector import DEFAULT_MODEL, Detector, create_detector
from add.training.runtime import Runtime

CHECKPOINT_FORMAT = 1


class TrainingError(AddError):
    """Training cannot go on (non-finite loss, a loader that breaks its length, an unreadable checkpoint)."""


def save_checkpoint(path: str | os.PathLike, payload: dict) -> None:
    # Through a file object, not the temp file's name: torch.save names the zip's root folder after a file name, so
    # the random temp name would make every checkpoint's bytes differ. From a file object the root is fixed.
    with atomic_write(path) as f:
        torch.save(_unshared(payload), f)


def _unshared(obj):
    """A copy of the payload's containers and strings, so that no two places share one object. pickle writes a
    shared object once and refers to it after ("memo"), so which strings happen to be one object (a meta merged
    from a resumed ``last.pt``, interned literals) would change the bytes of equal checkpoints; tensors are kept."""
    if isinstance(obj, dict):
        return {_unshared(k): _unshared(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unshared(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_unshared(v) for v in obj)
    if isinstance(obj, str) and len(obj) > 1:
        return obj.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")  # a new object
    return obj


def load_checkpoint(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: checkpoint not found (run the stage that trains it first)")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip; anything else would get torch's pickle advice
        raise TrainingError(f"{path}: not a checkpoint (add teacher / add student write best.pt/last.pt as PyTorch zip "
                            "files; this file is not one)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise TrainingError(f"{path}: unreadable checkpoint ({type(e).__name__}: {first}); delete it to retrain"
                            ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT or "model" not in payload:
        raise TrainingError(f"{path}: not an add checkpoint (format {CHECKPOINT_FORMAT})")
    return payload


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}


def load_detector(path: str | os.PathLike, runtime: Runtime | None = None) -> tuple[Detector, dict]:
    """The detector of a ``best.pt``/``last.pt`` checkpoint (in eval mode) and its metadata."""
    payload = load_checkpoint(path)
    meta = payload.get("meta", {})
    model = create_detector(meta.get("model", DEFAULT_MODEL))
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as e:
        raise TrainingError(f"{path}: weights do not fit model {meta.get('model')!r}: {e}") from None
    if runtime is not None:
        model = runtime.prepare(model)
    return model.eval(), meta
