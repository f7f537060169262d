"""Stage ``train``: the teacher of one manipulation method, trained on raw crops.

    add train --method Deepfakes            # params.yaml: seed, model.*, train.*, data.methods (default method)

Writes ``models/teacher/{method}/best.pt`` (best validation ACC; what ``add distill`` and ``add evaluate`` read),
``models/teacher/{method}/last.pt`` (the resumable state: rerun after an interruption to continue) and DVCLive logs in
``dvclive/teacher/{method}/``. The test split is never read here.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from add.card import build_card
from add.data.ffpp import METHODS
from add.data.loader import INDEX, make_loader
from add.params import DEFAULT_PARAMS, ParamsError, get_list, load_params, section
from add.trainer import FitResult, ModelConfig, TrainConfig, Trainer, file_digest, seed_everything, setup_runtime

SHARDS = "data/shards"
MODELS = "models"
DVCLIVE = "dvclive"


def default_method(params: dict) -> str:
    return get_list(section(params, "data"), "methods", ["Deepfakes"], where="data", choices=METHODS)[0]


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ParamsError(f"--method must be one of {list(METHODS)}, got {method!r}")
    return method


def teacher_dir(root: str | os.PathLike, method: str) -> Path:
    return Path(root) / "teacher" / method


def student_dir(root: str | os.PathLike, method: str, quality: str, distill: str) -> Path:
    return Path(root) / "student" / method / quality / distill


def data_digest(shards: str | os.PathLike) -> str:
    """Identifies the training data for resuming: the shard index and the content of every shard it lists (new
    shards with the same paths and counts, e.g. from a recalibrated demo, must not resume a finished run)."""
    path = Path(shards) / INDEX
    if not path.is_file():
        return ""
    digest = hashlib.sha256(file_digest(path).encode())
    for tar in sorted(Path(shards).rglob("*.tar")):
        digest.update(f"{tar.relative_to(shards).as_posix()}:{file_digest(tar)}".encode())
    return digest.hexdigest()


def batch_factories(shards: str | os.PathLike, method: str, qualities: list[str], cfg: TrainConfig
                    ) -> tuple[Callable[[int], object], Callable[[], object]]:
    def train_batches(epoch: int):
        return make_loader(shards, method, "train", qualities, cfg.batch_size, train=True, seed=cfg.seed,
                           epoch=epoch, num_workers=cfg.num_workers)

    def val_batches():
        return make_loader(shards, method, "val", qualities, cfg.batch_size, train=False, seed=cfg.seed,
                           num_workers=cfg.num_workers)

    return train_batches, val_batches


def run_teacher(params: dict, method: str, *, shards: str | os.PathLike = SHARDS, models: str | os.PathLike = MODELS,
                live: str | os.PathLike | None = DVCLIVE, resume: bool = True) -> FitResult:
    method = check_method(method)
    model_cfg, train_cfg = ModelConfig.from_params(params), TrainConfig.from_params(params)
    runtime = setup_runtime()
    seed_everything(train_cfg.seed)
    model = model_cfg.create()
    train_batches, val_batches = batch_factories(shards, method, ["raw"], train_cfg)
    trained_on = {"kind": "teacher", "method": method, "quality": "raw"}
    config = {"stage": "teacher", "method": method, "model": asdict(model_cfg), "train": asdict(train_cfg),
              "data": data_digest(shards), "world_size": runtime.world_size}
    trainer = Trainer(model, train_cfg, runtime, train_batches=train_batches, val_batches=val_batches,
                      input_key="raw", out_dir=teacher_dir(models, method),
                      live_dir=None if live is None else teacher_dir(live, method),
                      meta={**trained_on, "card": build_card(params, shards, model.name, trained_on)},
                      config=config, resume=resume, name=f"teacher {method}")
    return trainer.fit()


def training_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The options ``add train`` and ``add distill`` share."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=DEFAULT_PARAMS, help="params file (default: %(default)s)")
    parser.add_argument("--method", default=None, help="manipulation method (default: the first of data.methods)")
    parser.add_argument("--shards", default=SHARDS, help="shard folder with index.json (default: %(default)s)")
    parser.add_argument("--models", default=MODELS, help="checkpoint root (default: %(default)s)")
    parser.add_argument("--dvclive", default=DVCLIVE, help="DVCLive root (default: %(default)s)")
    parser.add_argument("--no-resume", action="store_true", help="ignore an existing last.pt and start afresh")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = training_parser("add train", __doc__).parse_args(argv)
    params = load_params(args.params)
    method = args.method or default_method(params)
    run_teacher(params, method, shards=args.shards, models=args.models, live=args.dvclive,
                resume=not args.no_resume)
    return 0
