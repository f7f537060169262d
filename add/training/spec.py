"""One training spec for the teacher and the students: a detector of one method trained on one input quality with
one distiller. The teacher is the model of ``teacher.quality`` crops (raw, or c23: :mod:`add.core.qualities`) with
distiller ``none``; a student sees a lower quality (c23 or c40) and, unless its distiller is ``none``, learns from the
frozen teacher's outputs on the teacher's crops of the same frames.

:func:`read_settings` is everything a training run reads from the params (and all it reads: the params-read test
records it); :func:`fit` runs it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from add.core.layout import BEST, STUDENT_QUALITIES, check_method, data_digest, student_dir, teacher_dir
from add.core.params import Distill, Params, ParamsError, read_whole
from add.core.qualities import DEFAULT_TEACHER_QUALITY, check_student_quality
from add.core.registry import PLAIN_STUDENT
from add.data.faces import FaceSettings
from add.data.loader import batch_factories
from add.losses import build_distiller, check_distiller, needs_teacher
from add.models.card import build_card
from add.training.checkpoints import load_detector
from add.training.config import ModelConfig, TrainConfig
from add.training.loop import FitResult, Trainer
from add.training.runtime import seed_everything, setup_runtime


@dataclass(frozen=True)
class TrainingSpec:
    kind: str  # teacher | student
    method: str
    quality: str  # the model's input crops: teacher.quality for the teacher
    distill: str = PLAIN_STUDENT
    teacher_quality: str = DEFAULT_TEACHER_QUALITY  # teacher.quality: the teacher's input (a student's must be lower)

    @classmethod
    def teacher(cls, method: str, quality: str = DEFAULT_TEACHER_QUALITY) -> TrainingSpec:
        return cls("teacher", check_method(method), quality, PLAIN_STUDENT, quality)

    @classmethod
    def student(cls, method: str, quality: str, distill: str,
                teacher_quality: str = DEFAULT_TEACHER_QUALITY) -> TrainingSpec:
        if quality not in STUDENT_QUALITIES:
            raise ParamsError(f"--quality must be one of {list(STUDENT_QUALITIES)}, got {quality!r}")
        check_student_quality(teacher_quality, quality)
        return cls("student", check_method(method), quality, check_distiller(distill), teacher_quality)

    @property
    def name(self) -> str:
        return f"teacher {self.method}" if self.kind == "teacher" else \
            f"student {self.method}/{self.quality}/{self.distill}"

    def folder(self, root: str | os.PathLike) -> Path:
        """Its folder under ``root`` (MODELS for checkpoints, DVCLIVE for logs)."""
        if self.kind == "teacher":
            return teacher_dir(root, self.method)
        return student_dir(root, self.method, self.quality, self.distill)

    def trained_on(self) -> dict[str, str]:
        if self.kind == "teacher":
            return {"kind": "teacher", "method": self.method, "quality": self.quality}
        return {"kind": "student", "method": self.method, "quality": self.quality, "distill": self.distill}


@dataclass(frozen=True)
class TrainingSettings:
    """The params a run of ``spec`` reads: a distiller's section and β only when it has one, the teacher only when
    the student starts from it (``distill.init_from_teacher``) or learns from it; ``train.seed`` (the students'
    seed, null: ``seed``) only for a student: the teacher and the data always take the top-level ``seed``."""

    model: ModelConfig
    train: TrainConfig
    distill: Distill | None
    beta: float | None
    init_from_teacher: bool
    faces: FaceSettings

    def fingerprint_part(self) -> dict[str, Any]:
        out = {"model": asdict(self.model), "train": asdict(self.train), "init_from_teacher": self.init_from_teacher}
        if self.distill is not None:
            out["distill"] = {**self.distill.to_dict(), "beta": self.beta}
        return out


def read_settings(params: Params, spec: TrainingSpec) -> TrainingSettings:
    distilled = spec.distill != PLAIN_STUDENT
    return TrainingSettings(
        model=ModelConfig.from_params(params), train=TrainConfig.from_params(params, student=spec.kind == "student"),
        distill=read_whole(params.distill) if distilled else None, beta=params.beta if distilled else None,
        init_from_teacher=spec.kind == "student" and params.distill.init_from_teacher,
        faces=FaceSettings.from_params(params))


def weights_digest(model: torch.nn.Module) -> str:
    """The teacher's identity in a student's resume config: its weights only, so that rewriting its checkpoint's
    metadata (a model card added, :mod:`add.models.card`) does not restart its students."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def fit(params: Params, spec: TrainingSpec, *, shards: str | os.PathLike, models: str | os.PathLike,
        live: str | os.PathLike | None, teacher: str | os.PathLike | None = None, resume: bool = True) -> FitResult:
    """Train ``spec`` on ``shards``: ``{models}/.../{best,last}.pt`` and DVCLive logs under ``live``."""
    settings = read_settings(params, spec)
    runtime = setup_runtime()
    teacher_model, teacher_info = None, None
    if spec.kind == "student" and (needs_teacher(spec.distill) or settings.init_from_teacher):
        teacher_path = Path(teacher) if teacher is not None else teacher_dir(models, spec.method) / BEST
        teacher_model, teacher_meta = load_detector(teacher_path)
        if teacher_meta.get("quality", spec.teacher_quality) != spec.teacher_quality:
            raise ParamsError(f"{teacher_path}: the teacher was trained on {teacher_meta['quality']} crops but "
                              f"teacher.quality is {spec.teacher_quality!r}; retrain it (add teacher) or set "
                              f"teacher.quality")
        teacher_info = {"path": str(teacher_path), "weights": weights_digest(teacher_model),
                        "model": teacher_meta.get("model")}
    seed_everything(settings.train.seed)
    model = settings.model.create()
    if settings.init_from_teacher:
        # Start the student where the teacher is (as ImageNet-pretrained teacher and student both start from the
        # same weights in the paper): the distillation terms then start near zero instead of swamping CE.
        try:
            model.load_state_dict(teacher_model.state_dict())
        except RuntimeError as e:
            raise ParamsError(f"distill.init_from_teacher: the teacher's weights do not fit model "
                              f"{settings.model.name!r}: {e}") from None
    if not needs_teacher(spec.distill):
        teacher_model = None
    teacher_channels = model.feature_channels if teacher_model is None else teacher_model.feature_channels
    distiller = build_distiller(spec.distill, model.feature_channels, teacher_channels,
                                settings.distill or Distill(), beta=settings.beta or 0.0, model=settings.model.name)
    # one key when teacher and student see the same quality (bench/study.py's information-matched control)
    qualities = list(dict.fromkeys([spec.quality] if teacher_model is None else [spec.teacher_quality, spec.quality]))
    train_batches, val_batches = batch_factories(shards, spec.method, qualities, settings.train)
    config = {"stage": spec.kind, "method": spec.method, "quality": spec.quality, "distill": spec.distill,
              **settings.fingerprint_part(), "teacher": teacher_info, "data": data_digest(shards),
              "world_size": runtime.world_size}
    trainer = Trainer(model, settings.train, runtime, train_batches=train_batches, val_batches=val_batches,
                      input_key=spec.quality, teacher=teacher_model, teacher_key=spec.teacher_quality,
                      distiller=distiller,
                      out_dir=spec.folder(models), live_dir=None if live is None else spec.folder(live),
                      meta={**spec.trained_on(), "card": build_card(params, shards, model.name, spec.trained_on())},
                      config=config, resume=resume, name=spec.name)
    return trainer.fit()
