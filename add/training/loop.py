"""The training loop shared by ``add teacher`` and ``add student`` (one training spec, add.training.spec).

Paper settings (Experiment Settings) and the authors' ``train.py``: Adam (0.9, 0.999, eps 1e-8), lr 2e-4 on a
one-cycle schedule (torch's ``OneCycleLR`` over all steps, rising for the first ``train.pct_start`` of them, 0.05 as
the authors; ``cycle_momentum=False`` so Adam's betas stay the paper's), batch 144, validation ``val_per_epoch`` times
per epoch, the best checkpoint by validation ACC (strictly better replaces it), early stopping after ``patience``
validations without improvement. Optional head-only warm-up: during the first ``warmup_epochs`` only the classifier
(and the distiller's own parameters) get gradients, and, as in the authors' code, nothing is validated: validation,
the best checkpoint and the early-stopping count start with the first full-model epoch (so a short patience cannot
stop a run before its backbone ever trains). At the warm-up's validation points ``last.pt`` and the training means
are still written; a run whose last step (``train.max_steps``) falls inside the warm-up validates at that step, so
that it still leaves a ``best.pt``.

A student step: the frozen teacher (eval mode, no grad) sees the raw crops, the student the compressed crops of the
same samples; loss = CE + the distiller's already-weighted terms.

Which term drives training: on the last step before each validation, the L2 norm of each term's gradient on the
backbone (every parameter but the classifier; CE's and each weighted distillation term's, from
``torch.autograd.grad`` on the same graph, which changes no weight) is logged as ``grad/{term}`` beside the
validation (DVCLive metrics, and the history in ``last.pt``). A term that does not depend on the weights (a zero
weight) logs 0. Not measured during the head-only warm-up (the backbone is frozen) nor under torchrun.

Resuming: ``last.pt`` is written after every validation with the model, distiller, optimiser, scheduler, counters,
the best metric, the early-stop counter, the RNG states and a copy of ``best.pt`` (rewritten on resume, as DVC removes
a stage's non-persistent outputs before rerunning it); a rerun with the same config resumes from it, replays
the loader of the interrupted epoch (its order is a function of seed and epoch) up to where it stopped, and ends with
the same weights as an uninterrupted run (CPU). A different config (params, data index, teacher) starts afresh.
Checkpoints are plain tensors and Python values, loaded with ``weights_only=True``.

Runtime: CPU (deterministic algorithms) or CUDA (bf16 autocast, channels_last). ``torchrun`` (``WORLD_SIZE`` > 1)
initialises torch.distributed from the environment and wraps the student (+ distiller) in DistributedDataParallel;
the loader splits the training shards by rank; every rank validates the whole validation split and rank 0's result
decides; only rank 0 writes files and logs.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from add.core.layout import BEST, LAST
from add.core.qualities import DEFAULT_TEACHER_QUALITY
from add.models.detector import Detector
from add.models.metrics import MetricWarning, accuracy, roc_auc
from add.training.checkpoints import CHECKPOINT_FORMAT, TrainingError, cpu_state, load_checkpoint, save_checkpoint
from add.training.config import TrainConfig, fingerprint
from add.training.predictions import predict
from add.training.runtime import Runtime, log

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def term_grad_norms(terms: dict[str, torch.Tensor], params: list[nn.Parameter]) -> dict[str, float]:
    """The L2 norm of each term's gradient on ``params`` (the graph is kept for the step's backward); 0 for a term
    that does not depend on them."""
    out = {}
    for name, term in terms.items():
        if not term.requires_grad:
            out[name] = 0.0
            continue
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        out[name] = math.sqrt(sum(float(g.detach().double().pow(2).sum()) for g in grads if g is not None))
    return out


class TrainStep(nn.Module):
    """The trained modules (model + distiller) and one forward to the loss terms, so DDP wraps them together."""

    def __init__(self, model: Detector, distiller: nn.Module | None, runtime: Runtime):
        super().__init__()
        self.model, self.distiller = model, distiller
        self.runtime = runtime

    def forward(self, x: torch.Tensor, labels: torch.Tensor, teacher_feats: list[torch.Tensor] | None = None,
                teacher_logits: torch.Tensor | None = None, generator: torch.Generator | None = None
                ) -> dict[str, torch.Tensor]:
        uses_features = self.distiller is not None and getattr(self.distiller, "uses_features", True)
        with self.runtime.autocast():
            if uses_features:
                logits, feats, _ = self.model(x, features=True)
            else:
                logits, feats = self.model(x), None
        logits = logits.float()
        terms = {"ce": F.cross_entropy(logits, labels)}
        if self.distiller is not None:
            feats = None if feats is None else [f.float() for f in feats]
            terms.update(self.distiller(feats, teacher_feats, logits, teacher_logits, labels, generator=generator))
        return terms


def teacher_outputs(teacher: Detector, x: torch.Tensor, runtime: Runtime
                    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The frozen teacher's ``(logits, features)`` on ``x`` (no grad), float32: what a student step distils from."""
    with torch.no_grad(), runtime.autocast():
        logits, feats, _ = teacher(x, features=True)
    return logits.float(), [f.float() for f in feats]


@dataclass
class TrainState:
    epoch: int = 0
    batch_in_epoch: int = 0  # batches of ``epoch`` already trained on
    step: int = 0
    validations: int = 0
    best_acc: float = -1.0
    best_step: int = -1
    bad_validations: int = 0
    finished: bool = False
    stop_reason: str = ""
    train_seconds: float = 0.0


@dataclass
class FitResult:
    best_acc: float
    best_step: int
    steps: int
    epochs_done: float
    stop_reason: str
    history: list[dict] = field(default_factory=list)


def one_cycle(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int
              ) -> torch.optim.lr_scheduler.OneCycleLR:
    """The one-cycle schedule over ``total_steps``: up to ``cfg.lr`` over the first ``cfg.pct_start``, then down."""
    pct_start = cfg.pct_start
    if float(pct_start * total_steps) - 1 == 0:
        # a rising phase of exactly one step ends at step 0, and torch then divides by its length 0; a hair less
        # gives the same schedule (the peak at step 0)
        pct_start = math.nextafter(pct_start, 0.0)
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total_steps,
                                               pct_start=pct_start, cycle_momentum=False)


def validation_points(steps_per_epoch: int, val_per_epoch: int) -> set[int]:
    """Batch counts within an epoch after which to validate: ``val_per_epoch`` evenly spaced, the last at the end."""
    return {-(-(j + 1) * steps_per_epoch // val_per_epoch) for j in range(val_per_epoch)}


class Trainer:
    """Fits ``model`` on ``train_batches(epoch)`` (an iterable of loader-format dicts with ``len``).

    ``input_key`` picks the model's input (``raw`` for the teacher, ``c23``/``c40`` for students); with a ``teacher``
    (frozen here) and a ``distiller``, the teacher sees ``teacher_key``. ``out_dir`` gets ``best.pt`` and ``last.pt``;
    ``live_dir`` (optional) the DVCLive logs. ``meta`` is stored in the checkpoints (model name, method, ...);
    ``config`` decides whether an existing ``last.pt`` is resumed.
    """

    def __init__(self, model: Detector, cfg: TrainConfig, runtime: Runtime, *,
                 train_batches: Callable[[int], Iterable[dict]], val_batches: Callable[[], Iterable[dict]],
                 input_key: str, out_dir: str | os.PathLike, meta: dict, config: dict,
                 live_dir: str | os.PathLike | None = None, teacher: Detector | None = None,
                 teacher_key: str = DEFAULT_TEACHER_QUALITY, distiller: nn.Module | None = None, resume: bool = True,
                 name: str = "train"):
        self.cfg, self.runtime, self.name = cfg, runtime, name
        self.model = runtime.prepare(model).train()
        self.distiller = None if distiller is None else distiller.to(runtime.device).train()
        self.teacher = None
        if teacher is not None and (distiller is None or getattr(distiller, "needs_teacher", True)):
            self.teacher = runtime.prepare(teacher).eval().requires_grad_(False)
        self.train_batches, self.val_batches = train_batches, val_batches
        self.input_key, self.teacher_key = input_key, teacher_key
        self.out_dir = Path(out_dir)
        self.live_dir = None if live_dir is None else Path(live_dir)
        self.meta = {**meta, "model": model.name}
        self.config_digest = fingerprint(config)
        self.resume = resume
        self.step_module = TrainStep(self.model, self.distiller, runtime)
        params = [{"params": list(self.model.parameters())}]
        if self.distiller is not None and any(True for _ in self.distiller.parameters()):
            params.append({"params": list(self.distiller.parameters())})
        self.optimizer = torch.optim.Adam(params, lr=cfg.lr, betas=ADAM_BETAS, eps=ADAM_EPS)
        self.generator = torch.Generator(device=runtime.device).manual_seed(cfg.seed + 1_000_003 * runtime.rank)
        self.state = TrainState()
        self.scheduler: torch.optim.lr_scheduler.OneCycleLR | None = None
        self.wrapped: nn.Module = self.step_module
        self.phase: str | None = None
        self.live = None
        self.history: list[dict] = []
        self.best: dict | None = None  # the best.pt payload, also kept in last.pt
        self.measure_grads = True  # grad/{term} norms at each validation (module docstring)
        self.grad_norms: dict[str, float] = {}

    # ------------------------------------------------------------------------------------------------- pieces

    def set_phase(self, epoch: int) -> None:
        """Head-only during the warm-up epochs, everything after; (re)wraps DDP when the trainable set changes."""
        phase = "warmup" if epoch < self.cfg.warmup_epochs else "full"
        if phase == self.phase:
            return
        head = {id(p) for p in self.model.head_parameters()}
        for p in self.model.parameters():
            p.requires_grad_(phase == "full" or id(p) in head)
        self.phase = phase
        if self.runtime.distributed:
            device_ids = [self.runtime.device.index] if self.runtime.cuda else None
            self.wrapped = nn.parallel.DistributedDataParallel(self.step_module, device_ids=device_ids)
        if self.runtime.is_main and self.cfg.warmup_epochs:
            log(f"{self.name}: {'head-only warm-up' if phase == 'warmup' else 'training all layers'} "
                f"from epoch {epoch + 1}")

    def backbone_parameters(self) -> list[nn.Parameter]:
        head = {id(p) for p in self.model.head_parameters()}
        return [p for p in self.model.parameters() if id(p) not in head and p.requires_grad]

    def train_step(self, batch: dict, measure: bool = False) -> dict[str, float]:
        runtime = self.runtime
        x = runtime.to_input(batch[self.input_key])
        labels = batch["label"].to(runtime.device)
        teacher_logits, teacher_feats = None, None
        if self.teacher is not None:
            teacher_logits, teacher_feats = teacher_outputs(self.teacher, runtime.to_input(batch[self.teacher_key]),
                                                            runtime)
        self.optimizer.zero_grad(set_to_none=True)
        terms = self.wrapped(x, labels, teacher_feats, teacher_logits, self.generator)
        loss = sum(terms.values())
        values = {k: float(v.detach()) for k, v in terms.items()}
        if not math.isfinite(float(loss.detach())):
            raise TrainingError(f"{self.name}: step {self.state.step + 1}: the loss is not finite ({values}); "
                                f"{self.out_dir / LAST} keeps the last good state. Lower train.lr or the "
                                f"distillation weights, or check the data")
        if measure and self.measure_grads and self.phase == "full" and not self.runtime.distributed:
            self.grad_norms = term_grad_norms(terms, self.backbone_parameters())
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        values["loss"] = float(loss.detach())
        return values

    def validate(self) -> dict[str, float]:
        preds = predict(self.model, self.val_batches(), self.input_key, self.runtime,
                        desc=f"{self.name} validation")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MetricWarning)
            result = {"acc": accuracy(preds.labels, preds.probs), "auc": roc_auc(preds.labels, preds.probs),
                      "loss": preds.loss}
        if math.isnan(result["acc"]):
            raise TrainingError(f"{self.name}: the validation split is empty")
        if self.runtime.distributed:  # rank 0 decides, so every rank takes the same early-stop/best decisions
            values = torch.tensor([result["acc"], result["auc"], result["loss"]], dtype=torch.float64,
                                  device=self.runtime.device)
            torch.distributed.broadcast(values, 0)
            result = dict(zip(("acc", "auc", "loss"), values.tolist(), strict=True))
        return result

    def rng_state(self) -> dict:
        state = {"torch": torch.get_rng_state(), "generator": self.generator.get_state()}
        if self.runtime.cuda:
            state["cuda"] = torch.cuda.get_rng_state(self.runtime.device)
        return state

    def set_rng_state(self, state: dict) -> None:
        torch.set_rng_state(state["torch"])
        self.generator.set_state(state["generator"])
        if self.runtime.cuda and "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], self.runtime.device)

    def checkpoint(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT, "config": self.config_digest, "meta": self.meta,
            "model": cpu_state(self.model),
            "distiller": {} if self.distiller is None else cpu_state(self.distiller),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            # no wall time in last.pt: it is part of a DVC output whose hash dvc.lock (tracked in git) records
            "state": {k: v for k, v in dataclasses.asdict(self.state).items() if k != "train_seconds"},
            "rng": self.rng_state(), "history": self.history,
            "best": self.best,
        }

    def save_best(self, val: dict[str, float]) -> None:
        meta = {**self.meta, "val_acc": val["acc"], "val_auc": val["auc"], "step": self.state.step,
                "epoch": self.state.epoch, "config": self.config_digest}
        self.best = {"format": CHECKPOINT_FORMAT, "meta": meta, "model": cpu_state(self.model)}
        save_checkpoint(self.out_dir / BEST, self.best)

    def try_resume(self) -> bool:
        path = self.out_dir / LAST
        if not (self.resume and path.is_file()):
            return False
        payload = load_checkpoint(path)
        if payload.get("config") != self.config_digest:
            if self.runtime.is_main:
                log(f"{self.name}: {path} was written with other params/data; starting afresh")
            return False
        self.state = TrainState(**payload["state"])
        self.best = payload.get("best")
        if self.best is not None:  # this run's meta (e.g. a model card added since, add.models.card) describes it too
            self.best["meta"] = {**self.best["meta"], **self.meta}
        if self.best is not None and self.runtime.is_main:  # DVC may have removed best.pt before the rerun
            save_checkpoint(self.out_dir / BEST, self.best)
        self.set_phase(self.state.epoch)
        self.model.load_state_dict(payload["model"])
        if self.distiller is not None:
            self.distiller.load_state_dict(payload["distiller"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.set_rng_state(payload["rng"])
        self.history = list(payload.get("history", []))
        if self.runtime.is_main:
            log(f"{self.name}: resuming from {path} at step {self.state.step} (epoch {self.state.epoch + 1}, "
                f"batch {self.state.batch_in_epoch})")
        return True

    def open_live(self, resumed: bool):
        if self.live_dir is None or not self.runtime.is_main:
            return None
        from dvclive import Live

        return Live(dir=str(self.live_dir), resume=resumed, save_dvc_exp=False, dvcyaml=None)

    # -------------------------------------------------------------------------------------------------- loop

    def fit(self) -> FitResult:
        cfg, st = self.cfg, self.state
        steps_per_epoch = len(self.train_batches(0))
        if steps_per_epoch < 1:
            raise TrainingError(f"{self.name}: the training loader has no batch")
        total_steps = cfg.epochs * steps_per_epoch
        if cfg.max_steps is not None:
            total_steps = min(total_steps, cfg.max_steps)
        points = validation_points(steps_per_epoch, cfg.val_per_epoch)
        self.scheduler = one_cycle(self.optimizer, cfg, total_steps)
        resumed = self.try_resume()
        if not resumed and self.runtime.is_main:
            (self.out_dir / BEST).unlink(missing_ok=True)  # a stale best.pt of other params must not survive
        st = self.state
        self.set_phase(st.epoch)
        self.live = self.open_live(resumed)
        if self.runtime.is_main:
            log(f"{self.name}: {total_steps} steps max ({steps_per_epoch}/epoch x {cfg.epochs} epochs"
                f"{f', capped by train.max_steps={cfg.max_steps}' if cfg.max_steps else ''}), validating after "
                f"batches {sorted(points)} of each epoch"
                f"{f' from epoch {cfg.warmup_epochs + 1} (after the head-only warm-up)' if cfg.warmup_epochs else ''}"
                f", on {self.runtime.device}"
                f"{f' x {self.runtime.world_size} ranks' if self.runtime.distributed else ''}")
        sums: dict[str, float] = {}
        count = 0
        while not st.finished:
            self.set_phase(st.epoch)
            batches = self.train_batches(st.epoch)
            if len(batches) != steps_per_epoch:
                raise TrainingError(f"{self.name}: epoch {st.epoch + 1} has {len(batches)} batches, epoch 1 had "
                                    f"{steps_per_epoch}")
            iterator = iter(batches)
            for _ in range(st.batch_in_epoch):  # replay the interrupted epoch up to where it stopped
                next(iterator)
            epoch_done = False
            started = time.perf_counter()
            with tqdm(total=steps_per_epoch, initial=st.batch_in_epoch, leave=False, unit="step",
                      desc=f"{self.name} epoch {st.epoch + 1}/{cfg.epochs}",
                      disable=not self.runtime.is_main) as bar:
                for batch in iterator:
                    # the step before a validation point measures each term's gradient norm
                    measure = st.batch_in_epoch + 1 in points or st.step + 1 >= total_steps
                    values = self.train_step(batch, measure=measure)
                    for k, v in values.items():
                        sums[k] = sums.get(k, 0.0) + v
                    count += 1
                    st.step += 1
                    st.batch_in_epoch += 1
                    bar.update()
                    bar.set_postfix(loss=f"{values['loss']:.4f}")
                    point = st.batch_in_epoch in points or st.step >= total_steps
                    head_only = self.phase == "warmup" and st.step < total_steps  # nothing to validate yet
                    epoch_done = st.batch_in_epoch == steps_per_epoch
                    if epoch_done:
                        st.epoch, st.batch_in_epoch = st.epoch + 1, 0
                    if point:
                        st.train_seconds += time.perf_counter() - started
                        started = time.perf_counter()
                        means = {k: v / count for k, v in sums.items()}
                        if head_only:
                            self.after_warmup_point(means, steps_per_epoch)
                        else:
                            self.after_validation(self.validate(), means, total_steps, steps_per_epoch)
                        sums, count = {}, 0
                    if st.finished or epoch_done:
                        break
            if not (st.finished or epoch_done):
                raise TrainingError(f"{self.name}: the training loader stopped after {st.batch_in_epoch} batches "
                                    f"of epoch {st.epoch + 1}; its len() promised {steps_per_epoch}")
        if self.live is not None:
            self.live.summary["best"] = {"val_acc": st.best_acc, "step": st.best_step}
            # no wall time here: metrics.json is tracked in git and must not change when the results do not
            self.live.summary.setdefault("train", {}).update({"steps": st.step})
            self.live.end()
        if self.runtime.is_main:
            log(f"{self.name}: done after {st.step} steps ({st.stop_reason}, {st.train_seconds:.1f} s training); "
                f"best val ACC {st.best_acc:.4f} at "
                f"step {st.best_step} -> {self.out_dir / BEST}")
        return FitResult(st.best_acc, st.best_step, st.step, st.step / steps_per_epoch, st.stop_reason,
                         list(self.history))

    def after_validation(self, val: dict[str, float], train_means: dict[str, float], total_steps: int,
                         steps_per_epoch: int) -> None:
        st, main = self.state, self.runtime.is_main
        st.validations += 1
        improved = val["acc"] > st.best_acc
        if improved:
            st.best_acc, st.best_step, st.bad_validations = val["acc"], st.step, 0
            if main:
                self.save_best(val)
        else:
            st.bad_validations += 1
        if st.bad_validations >= self.cfg.patience:
            st.finished, st.stop_reason = True, f"early stop: {st.bad_validations} validations without improvement"
        elif st.step >= total_steps:
            st.finished, st.stop_reason = True, "last step"
        record = self._record(train_means, steps_per_epoch, {f"val/{k}": v for k, v in val.items()})
        self._save_and_log(record, f"val acc {val['acc']:.4f} auc {val['auc']:.4f}{' *' if improved else ''}")

    def after_warmup_point(self, train_means: dict[str, float], steps_per_epoch: int) -> None:
        """A validation point of the head-only warm-up: training means and ``last.pt``, no validation."""
        record = self._record(train_means, steps_per_epoch, {})
        self._save_and_log(record, "(head-only warm-up: not validated)")

    def _record(self, train_means: dict[str, float], steps_per_epoch: int, val: dict[str, float]) -> dict:
        step = self.state.step
        record = {"step": step, "epoch": step / steps_per_epoch, "lr": self.scheduler.get_last_lr()[0],
                  **{f"train/{k}": v for k, v in train_means.items()},
                  **{f"grad/{k}": v for k, v in self.grad_norms.items()}, **val}
        self.grad_norms = {}
        self.history.append(record)
        return record

    def _save_and_log(self, record: dict, message: str) -> None:
        if self.runtime.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            save_checkpoint(self.out_dir / LAST, self.checkpoint())
            if self.live is not None:
                self.live.step = record["step"]  # x axis of the DVCLive plots: the optimiser step
                for k, v in record.items():
                    if k != "step" and math.isfinite(v):
                        self.live.log_metric(k, v)
                self.live.next_step()
            log(f"{self.name}: step {record['step']} epoch {record['epoch']:.2f} loss "
                f"{record.get('train/loss', math.nan):.4f} {message}")
        self.runtime.barrier()
