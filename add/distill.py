"""Stage ``distill``: a student on compressed crops (c23 or c40), distilled from the frozen raw-trained teacher.

    add distill --method Deepfakes --quality c40 --distill add

The teacher (``models/teacher/{method}/best.pt``) runs in eval mode without gradients on the raw crops of the same
samples; the distiller (``add.losses.build_distiller``, configured by the whole ``distill`` params section plus the
top-level ``beta``) adds its weighted terms to the student's CE, and its own parameters train with the student.
``--distill none`` trains the plain student (it reads the teacher only for ``distill.init_from_teacher``). Writes
``models/student/{method}/{quality}/{distill}/{best,last}.pt`` and ``dvclive/student/{method}/{quality}/{distill}/``.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict
from pathlib import Path

import torch

from add.card import build_card
from add.data.loader import batch_factories
from add.layout import (
    BEST,
    DVCLIVE,
    MODELS,
    SHARDS,
    STUDENT_QUALITIES,
    check_method,
    data_digest,
    student_dir,
    teacher_dir,
)
from add.losses import DISTILLERS, build_distiller, check_distiller, needs_teacher
from add.params import ParamsError, get_bool, get_choice, get_str, load_params, section
from add.qualities import check_student_quality, teacher_quality_param
from add.stage_args import add_student_quality, default_method, training_parser
from add.trainer.checkpoints import load_detector
from add.trainer.config import ModelConfig, TrainConfig
from add.trainer.loop import FitResult, Trainer
from add.trainer.runtime import seed_everything, setup_runtime

DEFAULT_DISTILL = "add"
DEFAULT_QUALITY = "c40"


def distill_defaults(params: dict) -> tuple[str, str]:
    """``(distill.method, distill.quality)`` with their defaults, validated."""
    cfg = section(params, "distill")
    name = check_distiller(get_str(cfg, "method", DEFAULT_DISTILL, where="distill"), key="distill.method")
    return name, get_choice(cfg, "quality", DEFAULT_QUALITY, STUDENT_QUALITIES, where="distill")


def distiller_config(params: dict) -> dict:
    """The ``distill`` section for ``build_distiller``, with the top-level ``beta`` copied in when set."""
    cfg = dict(section(params, "distill"))
    if "beta" in params:
        beta = params["beta"]
        if isinstance(beta, bool) or not isinstance(beta, int | float) or not math.isfinite(beta) or beta < 0:
            raise ParamsError(f"params 'beta' must be a finite number >= 0, got {beta!r}")
        cfg["beta"] = float(beta)
    return cfg


def weights_digest(model: torch.nn.Module) -> str:
    """The teacher's identity in a student's resume config: its weights only, so that rewriting its checkpoint's
    metadata (a model card added, :mod:`add.card`) does not restart its students."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def run_student(params: dict, method: str, quality: str, distill: str, *, shards: str | os.PathLike = SHARDS,
                models: str | os.PathLike = MODELS, live: str | os.PathLike | None = DVCLIVE,
                teacher: str | os.PathLike | None = None, resume: bool = True) -> FitResult:
    method = check_method(method)
    if quality not in STUDENT_QUALITIES:
        raise ParamsError(f"--quality must be one of {list(STUDENT_QUALITIES)}, got {quality!r}")
    teacher_quality = teacher_quality_param(params)
    check_student_quality(teacher_quality, quality)
    check_distiller(distill)
    model_cfg, train_cfg = ModelConfig.from_params(params), TrainConfig.from_params(params)
    distill_cfg = distiller_config(params)
    runtime = setup_runtime()
    teacher_model, teacher_info = None, None
    init_from_teacher = get_bool(section(params, "distill"), "init_from_teacher", False, where="distill")
    if needs_teacher(distill) or init_from_teacher:
        teacher_path = Path(teacher) if teacher is not None else teacher_dir(models, method) / BEST
        teacher_model, teacher_meta = load_detector(teacher_path)
        if teacher_meta.get("quality", teacher_quality) != teacher_quality:
            raise ParamsError(f"{teacher_path}: the teacher was trained on {teacher_meta['quality']} crops but "
                              f"teacher.quality is {teacher_quality!r}; retrain it (add train) or set teacher.quality")
        teacher_info = {"path": str(teacher_path), "weights": weights_digest(teacher_model),
                        "model": teacher_meta.get("model")}
    seed_everything(train_cfg.seed)
    model = model_cfg.create()
    if init_from_teacher:
        # Start the student where the teacher is (as ImageNet-pretrained teacher and student both start from the
        # same weights in the paper): the distillation terms then start near zero instead of swamping CE.
        try:
            model.load_state_dict(teacher_model.state_dict())
        except RuntimeError as e:
            raise ParamsError(f"distill.init_from_teacher: the teacher's weights do not fit model "
                              f"{model_cfg.name!r}: {e}") from None
    if not needs_teacher(distill):
        teacher_model = None
    teacher_channels = model.feature_channels if teacher_model is None else teacher_model.feature_channels
    distiller = build_distiller(distill, model.feature_channels, teacher_channels, distill_cfg)
    qualities = [quality] if teacher_model is None else [teacher_quality, quality]
    train_batches, val_batches = batch_factories(shards, method, qualities, train_cfg)
    trained_on = {"kind": "student", "method": method, "quality": quality, "distill": distill}
    config = {"stage": "student", "method": method, "quality": quality, "distill": distill,
              "distill_cfg": distill_cfg, "model": asdict(model_cfg), "train": asdict(train_cfg),
              "teacher": teacher_info, "data": data_digest(shards), "world_size": runtime.world_size}
    trainer = Trainer(model, train_cfg, runtime, train_batches=train_batches, val_batches=val_batches,
                      input_key=quality, teacher=teacher_model, teacher_key=teacher_quality, distiller=distiller,
                      out_dir=student_dir(models, method, quality, distill),
                      live_dir=None if live is None else student_dir(live, method, quality, distill),
                      meta={**trained_on, "card": build_card(params, shards, model.name, trained_on)},
                      config=config, resume=resume, name=f"student {method}/{quality}/{distill}")
    return trainer.fit()


def main(argv: list[str] | None = None) -> int:
    parser = training_parser("add distill", __doc__)
    add_student_quality(parser, None, "student input (default: distill.quality, c40)")
    parser.add_argument("--distill", default=None, choices=list(DISTILLERS), help="distiller (default: distill.method)")
    parser.add_argument("--teacher", default=None, help="teacher checkpoint (default: models/teacher/{method}/best.pt)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    default_distill, default_quality = distill_defaults(params)
    run_student(params, args.method or default_method(params), args.quality or default_quality,
                args.distill or default_distill, shards=args.shards, models=args.models, live=args.dvclive,
                teacher=args.teacher, resume=not args.no_resume)
    return 0
