"""Stage ``train``: the teacher of one manipulation method, trained on raw crops (``teacher.quality``: raw, or c23).

    add train --method Deepfakes            # params.yaml: seed, model.*, train.*, data.methods (default method)

Writes ``models/teacher/{method}/best.pt`` (best validation ACC; what ``add distill`` and ``add evaluate`` read),
``models/teacher/{method}/last.pt`` (the resumable state: rerun after an interruption to continue) and DVCLive logs in
``dvclive/teacher/{method}/``. The test split is never read here.
"""

from __future__ import annotations

import os
from dataclasses import asdict

from add.card import build_card
from add.data.loader import batch_factories
from add.layout import DVCLIVE, MODELS, SHARDS, check_method, data_digest, teacher_dir
from add.params import load_params
from add.qualities import teacher_quality_param
from add.stage_args import default_method, training_parser
from add.trainer.config import ModelConfig, TrainConfig
from add.trainer.loop import FitResult, Trainer
from add.trainer.runtime import seed_everything, setup_runtime


def run_teacher(params: dict, method: str, *, shards: str | os.PathLike = SHARDS, models: str | os.PathLike = MODELS,
                live: str | os.PathLike | None = DVCLIVE, resume: bool = True) -> FitResult:
    method = check_method(method)
    model_cfg, train_cfg = ModelConfig.from_params(params), TrainConfig.from_params(params)
    runtime = setup_runtime()
    seed_everything(train_cfg.seed)
    model = model_cfg.create()
    quality = teacher_quality_param(params)
    train_batches, val_batches = batch_factories(shards, method, [quality], train_cfg)
    trained_on = {"kind": "teacher", "method": method, "quality": quality}
    config = {"stage": "teacher", "method": method, "model": asdict(model_cfg), "train": asdict(train_cfg),
              "data": data_digest(shards), "world_size": runtime.world_size}
    trainer = Trainer(model, train_cfg, runtime, train_batches=train_batches, val_batches=val_batches,
                      input_key=quality, out_dir=teacher_dir(models, method),
                      live_dir=None if live is None else teacher_dir(live, method),
                      meta={**trained_on, "card": build_card(params, shards, model.name, trained_on)},
                      config=config, resume=resume, name=f"teacher {method}")
    return trainer.fit()


def main(argv: list[str] | None = None) -> int:
    args = training_parser("add train", __doc__).parse_args(argv)
    params = load_params(args.params)
    method = args.method or default_method(params)
    run_teacher(params, method, shards=args.shards, models=args.models, live=args.dvclive,
                resume=not args.no_resume)
    return 0
