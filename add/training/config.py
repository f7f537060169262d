"""The model and training settings of params.yaml (``model.*``, ``train.*`` and ``seed``), checked at start-up."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any

from add.core.params import Params, as_params
from add.models.detector import DEFAULT_MODEL, Detector, check_model_name, create_detector


@dataclass(frozen=True)
class ModelConfig:
    name: str = DEFAULT_MODEL
    pretrained: bool = False
    weights: str | None = None

    @classmethod
    def from_params(cls, params: Params | dict) -> ModelConfig:
        model = as_params(params).model
        return cls(name=check_model_name(model.name, key="model.name"), pretrained=model.pretrained,
                   weights=model.weights)

    def create(self) -> Detector:
        return create_detector(self.name, pretrained=self.pretrained, weights=self.weights)


@dataclass(frozen=True)
class TrainConfig:
    """What the training loop reads: the ``train`` section's loop settings and the seed: the top-level ``seed`` for
    the teacher, ``train.seed`` (null: ``seed``) for a student."""

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
    def from_params(cls, params: Params | dict, *, student: bool = False) -> TrainConfig:
        params = as_params(params)
        seed = params.train.seed if student else None
        return cls(seed=params.seed if seed is None else seed,
                   **{f.name: getattr(params.train, f.name) for f in fields(cls) if f.name != "seed"})


def fingerprint(obj: Any) -> str:
    """A stable digest of a JSON-able config (decides whether ``last.pt`` may be resumed)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
