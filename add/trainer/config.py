"""The model and training settings of params.yaml (``model.*``, ``train.*`` and ``seed``), checked at start-up."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from add.models import DEFAULT_MODEL, Detector, check_model_name, create_detector
from add.params import ParamsError, get_bool, get_float, get_int, get_seed, get_str, section


@dataclass(frozen=True)
class ModelConfig:
    name: str = DEFAULT_MODEL
    pretrained: bool = False
    weights: str | None = None

    @classmethod
    def from_params(cls, params: dict) -> ModelConfig:
        cfg = section(params, "model")
        name = check_model_name(get_str(cfg, "name", DEFAULT_MODEL, where="model"), key="model.name")
        return cls(name=name, pretrained=get_bool(cfg, "pretrained", False, where="model"),
                   weights=get_str(cfg, "weights", None, where="model", allow_none=True))

    def create(self) -> Detector:
        return create_detector(self.name, pretrained=self.pretrained, weights=self.weights)


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    epochs: int = 10
    batch_size: int = 144
    lr: float = 2e-4
    val_per_epoch: int = 10
    patience: int = 10
    warmup_epochs: int = 0
    num_workers: int = 0
    max_steps: int | None = None
    pct_start: float = 0.05

    @classmethod
    def from_params(cls, params: dict) -> TrainConfig:
        seed = get_seed(params)
        cfg = section(params, "train")
        d = cls()
        epochs = get_int(cfg, "epochs", d.epochs, where="train", min=1)
        lr = get_float(cfg, "lr", d.lr, where="train", min=0.0)
        if lr == 0:
            raise ParamsError("params 'train.lr' must be > 0, got 0")
        warmup = get_int(cfg, "warmup_epochs", d.warmup_epochs, where="train", min=0)
        if warmup >= epochs:
            raise ParamsError(f"params 'train.warmup_epochs' ({warmup}) must be < train.epochs ({epochs}): "
                              f"the warm-up trains the head only")
        pct_start = get_float(cfg, "pct_start", d.pct_start, where="train", min=0.0, max=1.0)
        if not 0 < pct_start < 1:
            raise ParamsError(f"params 'train.pct_start' (the rising share of the one-cycle schedule) must be in "
                              f"(0, 1), got {pct_start}")
        return cls(seed=seed, epochs=epochs, lr=lr, warmup_epochs=warmup, pct_start=pct_start,
                   batch_size=get_int(cfg, "batch_size", d.batch_size, where="train", min=1),
                   val_per_epoch=get_int(cfg, "val_per_epoch", d.val_per_epoch, where="train", min=1),
                   patience=get_int(cfg, "patience", d.patience, where="train", min=1),
                   num_workers=get_int(cfg, "num_workers", d.num_workers, where="train", min=0),
                   max_steps=get_int(cfg, "max_steps", d.max_steps, where="train", min=1, allow_none=True))


def fingerprint(obj: Any) -> str:
    """A stable digest of a JSON-able config (decides whether ``last.pt`` may be resumed)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
