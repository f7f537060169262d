"""The training loop on synthetic batches: exact resume, best/early stop, warm-up, bad losses, bad params."""

from __future__ import annotations

import json
import math

import pytest
import torch

from add.core.layout import BEST, LAST
from add.core.params import Params, ParamsError, parse_params
from add.losses import build_distiller
from add.models.detector import create_detector
from add.training.checkpoints import TrainingError, load_checkpoint
from add.training.config import ModelConfig, TrainConfig
from add.training.loop import Trainer, one_cycle, validation_points
from add.training.runtime import setup_runtime

SIZE = 32


pytestmark = pytest.mark.usefixtures("one_thread")
BATCH = 4
STEPS_PER_EPOCH = 4


def synthetic_batch(seed: int, n: int = BATCH, size: int = SIZE, qualities=("raw", "c40")) -> dict:
    """A loader-format batch where fakes carry a bright square (blurred in c40)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    raw = torch.rand(n, 3, size, size, generator=generator) * 1.2 - 0.8
    raw[labels == 1, :, size // 4: size // 2, size // 4: size // 2] += 0.6
    batch = {"raw": raw.clamp(-1, 1)}
    if "c40" in qualities:
        batch["c40"] = torch.nn.functional.avg_pool2d(batch["raw"], 3, 1, 1)
    batch["label"] = labels
    batch["video"] = [f"{'Deepfakes' if y else 'original'}/{seed}_{i}" for i, y in enumerate(labels.tolist())]
    batch["key"] = [f"k{seed}_{i}" for i in range(n)]
    return batch


class Batches:
    """An epoch of synthetic batches with ``len``; ``kill_after`` raises after that many batches (a "kill")."""

    iterated: list[int] = []

    def __init__(self, epoch: int, kill_at: tuple[int, int] | None = None, bad_batch: int | None = None):
        self.epoch, self.kill_at, self.bad_batch = epoch, kill_at, bad_batch

    def __len__(self):
        return STEPS_PER_EPOCH

    def __iter__(self):
        Batches.iterated.append(self.epoch)
        for i in range(STEPS_PER_EPOCH):
            if self.kill_at == (self.epoch, i):
                raise KeyboardInterrupt(f"killed at epoch {self.epoch} batch {i}")
            batch = synthetic_batch(1000 * self.epoch + i)
            if self.bad_batch == i:
                batch["raw"][0, 0, 0, 0] = float("nan")
            yield batch


def val_batches():
    return [synthetic_batch(-1 - i) for i in range(2)]


def make_trainer(out_dir, *, cfg: TrainConfig, distill: str | None = "add", kill_at=None, bad_batch=None,
                 live_dir=None, resume=True, trainer_cls=Trainer) -> Trainer:
    runtime = setup_runtime("cpu")
    torch.manual_seed(cfg.seed)
    teacher = create_detector("resnet18").eval()  # a random "teacher" is enough to exercise the loop
    model = create_detector("resnet18")
    distiller = None
    if distill is not None:
        distiller = build_distiller(distill, model.feature_channels, teacher.feature_channels,
                                    {"directions": 4}, beta=16.0)
    return trainer_cls(model, cfg, runtime, train_batches=lambda epoch: Batches(epoch, kill_at, bad_batch),
                       val_batches=val_batches, input_key="c40" if distill else "raw", out_dir=out_dir,
                       meta={"kind": "test"}, config={"test": 1}, live_dir=live_dir,
                       teacher=teacher if distill else None, distiller=distiller, resume=resume, name="test")


def state_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_validation_points():
    assert validation_points(100, 10) == {10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
    assert validation_points(6, 10) == {1, 2, 3, 4, 5, 6}
    assert validation_points(7, 3) == {3, 5, 7}
    assert validation_points(5, 1) == {5}


def test_resume_ends_with_the_same_weights(tmp_path):
    cfg = TrainConfig(seed=3, epochs=2, batch_size=BATCH, lr=1e-3, val_per_epoch=2, patience=10)
    full = make_trainer(tmp_path / "full", cfg=cfg)
    result = full.fit()
    assert result.steps == 2 * STEPS_PER_EPOCH and result.stop_reason == "last step"

    killed = make_trainer(tmp_path / "resumed", cfg=cfg, kill_at=(1, 3))  # after step 7; last.pt is from step 6
    with pytest.raises(KeyboardInterrupt):
        killed.fit()
    assert load_checkpoint(tmp_path / "resumed" / LAST)["state"]["step"] == 6
    (tmp_path / "resumed" / BEST).unlink()  # as DVC does to a stage's outputs before rerunning it
    Batches.iterated = []
    resumed = make_trainer(tmp_path / "resumed", cfg=cfg)
    resumed.fit()
    assert Batches.iterated == [1]  # epoch 0 was not replayed: the run really resumed (2 batches of epoch 1 were)
    state_equal(full.model.state_dict(), resumed.model.state_dict())
    state_equal(full.distiller.state_dict(), resumed.distiller.state_dict())
    for name in (LAST, BEST):
        a, b = load_checkpoint(tmp_path / "full" / name), load_checkpoint(tmp_path / "resumed" / name)
        state_equal(a["model"], b["model"])
    a, b = load_checkpoint(tmp_path / "full" / LAST), load_checkpoint(tmp_path / "resumed" / LAST)
    assert a["state"] == b["state"] and "train_seconds" not in a["state"]  # no wall time: a rerun writes equal bytes
    assert [h["val/acc"] for h in a["history"]] == [h["val/acc"] for h in b["history"]]
    for pa, pb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True):
        assert torch.equal(pa["exp_avg"], pb["exp_avg"]) and torch.equal(pa["exp_avg_sq"], pb["exp_avg_sq"])
    # a different config does not resume the stale state
    other = make_trainer(tmp_path / "resumed", cfg=TrainConfig(seed=3, epochs=1, batch_size=BATCH, lr=1e-3,
                                                               val_per_epoch=1), resume=True)
    other.config_digest = "something else"
    Batches.iterated = []
    other.fit()
    assert Batches.iterated == [0]


class ScriptedTrainer(Trainer):
    """Validation ACCs follow a script, to test best-checkpoint and early-stopping decisions."""

    script = [0.5, 0.7, 0.6, 0.7, 0.65, 0.9]

    def validate(self):
        acc = self.script[self.state.validations]
        return {"acc": acc, "auc": math.nan, "loss": 1.0}


def test_best_checkpoint_and_early_stopping(tmp_path):
    cfg = TrainConfig(seed=0, epochs=5, batch_size=BATCH, lr=1e-3, val_per_epoch=2, patience=2)
    trainer = make_trainer(tmp_path, cfg=cfg, distill=None, trainer_cls=ScriptedTrainer,
                           live_dir=tmp_path / "live")
    result = trainer.fit()
    # validations after steps 2, 4, 6, 8: best 0.7 at step 4; 0.7 again is no improvement; 2 bad -> stop at 8
    assert result.best_acc == 0.7 and result.best_step == 4 and result.steps == 8
    assert result.stop_reason.startswith("early stop")
    best = load_checkpoint(tmp_path / BEST)
    assert best["meta"]["val_acc"] == 0.7 and best["meta"]["step"] == 4 and best["meta"]["model"] == "resnet18"
    assert not any(torch.equal(best["model"][k], v) for k, v in trainer.model.state_dict().items()
                   if k.endswith("fc.weight"))  # the best weights are the step-4 ones, not the last
    # DVCLive: one row per validation, loss terms, lr and validation metrics
    rows = (tmp_path / "live" / "plots" / "metrics" / "val" / "acc.tsv").read_text().strip().splitlines()
    assert [row.split("\t")[:2] for row in rows] == [["step", "acc"], ["2", "0.5"], ["4", "0.7"], ["6", "0.6"],
                                                     ["8", "0.7"]]  # x axis: the optimiser step
    summary = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert summary["best"] == {"val_acc": 0.7, "step": 4} and summary["train"]["steps"] == 8
    for name in ("train/ce.tsv", "train/loss.tsv", "lr.tsv"):
        assert (tmp_path / "live" / "plots" / "metrics" / name).is_file()
    assert not (tmp_path / "live" / "dvc.yaml").exists()
    # rerunning a finished stage does nothing more
    Batches.iterated = []
    again = make_trainer(tmp_path, cfg=cfg, distill=None, trainer_cls=ScriptedTrainer).fit()
    assert Batches.iterated == [] and again.best_step == 4


def test_head_only_warmup(tmp_path):
    cfg = TrainConfig(seed=0, epochs=3, batch_size=BATCH, lr=1e-2, val_per_epoch=1, warmup_epochs=1,
                      max_steps=STEPS_PER_EPOCH)  # stop at the end of the warm-up epoch
    trainer = make_trainer(tmp_path, cfg=cfg, distill=None)
    before = {k: v.clone() for k, v in trainer.model.named_parameters()}
    trainer.fit()
    head = {n for n, p in trainer.model.named_parameters() if any(p is h for h in trainer.model.head_parameters())}
    assert head == {"backbone.fc.weight", "backbone.fc.bias"}
    for name, value in trainer.model.named_parameters():
        assert torch.equal(value, before[name]) != (name in head), name


class WarmupScriptedTrainer(ScriptedTrainer):
    """Validation ACCs that never improve after the first: patience 1 stops at the second validation."""

    script = [0.6, 0.5, 0.5, 0.5, 0.5, 0.5]


def test_the_head_only_warmup_is_not_validated(tmp_path):
    """As the authors' train.py: validation, best checkpoint and early stopping start with the first full epoch."""
    cfg = TrainConfig(seed=0, epochs=3, batch_size=BATCH, lr=1e-2, val_per_epoch=2, patience=1, warmup_epochs=1)
    trainer = make_trainer(tmp_path / "full", cfg=cfg, distill=None, trainer_cls=WarmupScriptedTrainer,
                           live_dir=tmp_path / "live")
    before = {k: v.clone() for k, v in trainer.model.named_parameters()}
    result = trainer.fit()
    # points after steps 2 and 4 are in the warm-up (epoch 1): not validated, so patience 1 cannot stop the run
    # there; validations after steps 6 (0.6, best) and 8 (0.5: one bad validation = patience 1) -> stop at 8
    assert result.best_step == 6 and result.steps == 8 and result.stop_reason.startswith("early stop")
    assert [h["step"] for h in result.history] == [2, 4, 6, 8]
    assert ["val/acc" in h for h in result.history] == [False, False, True, True]
    assert all("train/ce" in h for h in result.history)  # the warm-up's training means are still logged
    assert not torch.equal(trainer.model.state_dict()["backbone.conv1.weight"], before["backbone.conv1.weight"])
    assert load_checkpoint(tmp_path / "full" / BEST)["meta"]["step"] == 6
    rows = (tmp_path / "live" / "plots" / "metrics" / "val" / "acc.tsv").read_text().strip().splitlines()
    assert [row.split("\t")[0] for row in rows] == ["step", "6", "8"]
    ce_rows = (tmp_path / "live" / "plots" / "metrics" / "train" / "ce.tsv").read_text().strip().splitlines()
    assert [row.split("\t")[0] for row in ce_rows] == ["step", "2", "4", "6", "8"]
    # the lr at each point is the one-cycle schedule's with pct_start 0.05 (peak after the first step)
    reference = one_cycle(torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr), cfg, 3 * 4)
    expected = []
    for _ in range(8):
        reference.optimizer.step()
        reference.step()
        expected.append(reference.get_last_lr()[0])
    assert [h["lr"] for h in result.history] == pytest.approx([expected[s - 1] for s in (2, 4, 6, 8)], rel=1e-12)

    # a run killed inside the warm-up resumes from the warm-up's last.pt and ends where the uninterrupted one did
    killed = make_trainer(tmp_path / "resumed", cfg=cfg, distill=None, trainer_cls=WarmupScriptedTrainer,
                          kill_at=(0, 3))
    with pytest.raises(KeyboardInterrupt):
        killed.fit()
    last = load_checkpoint(tmp_path / "resumed" / LAST)
    assert last["state"]["step"] == 2 and last["state"]["validations"] == 0 and last["best"] is None
    assert not (tmp_path / "resumed" / BEST).exists()
    Batches.iterated = []
    resumed = make_trainer(tmp_path / "resumed", cfg=cfg, distill=None, trainer_cls=WarmupScriptedTrainer)
    assert resumed.fit().steps == 8 and Batches.iterated == [0, 1]
    state_equal(trainer.model.state_dict(), resumed.model.state_dict())


def test_one_cycle_schedule_follows_pct_start():
    def lrs(pct_start, total=100):
        cfg = TrainConfig(lr=1e-3, pct_start=pct_start)
        scheduler = one_cycle(torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr), cfg, total)
        out = [scheduler.get_last_lr()[0]]
        for _ in range(total - 1):
            scheduler.optimizer.step()
            scheduler.step()
            out.append(scheduler.get_last_lr()[0])
        return out

    authors = lrs(0.05)  # the default, the authors' train.py
    assert TrainConfig().pct_start == 0.05 and TrainConfig.from_params({}).pct_start == 0.05
    assert max(range(100), key=authors.__getitem__) == 4 and max(authors) == pytest.approx(1e-3)
    assert authors[0] == pytest.approx(1e-3 / 25) and authors[-1] < 1e-6  # torch's div_factor, final_div_factor
    assert all(a > b for a, b in zip(authors[4:-1], authors[5:], strict=True))  # then only down
    assert max(range(100), key=lrs(0.3).__getitem__) == 29
    short = lrs(0.05, total=20)  # a rising phase of one step (torch alone divides by zero there)
    assert short[0] == pytest.approx(1e-3) and all(a > b for a, b in zip(short[:-1], short[1:], strict=True))
    assert TrainConfig.from_params({"train": {"pct_start": 0.3}}).pct_start == 0.3


def test_non_finite_loss_stops_with_a_clear_error(tmp_path):
    cfg = TrainConfig(seed=0, epochs=1, batch_size=BATCH, lr=1e-3, val_per_epoch=2)
    trainer = make_trainer(tmp_path, cfg=cfg, distill=None, bad_batch=2)
    with pytest.raises(TrainingError, match="step 3: the loss is not finite"):
        trainer.fit()
    assert load_checkpoint(tmp_path / LAST)["state"]["step"] == 2  # the last good state is kept


@pytest.mark.parametrize("params,match", [
    ({"train": {"epochs": 0}}, "train.epochs' must be >= 1"),
    ({"train": {"lr": 0}}, "train.lr' must be > 0"),
    ({"train": {"lr": "fast"}}, "train.lr' must be a number"),
    ({"train": {"batch_size": 1.5}}, "train.batch_size' must be an integer"),
    ({"train": {"epochs": 3, "warmup_epochs": 3}}, "train.warmup_epochs' \\(3\\) must be < train.epochs"),
    ({"train": {"max_steps": -1}}, "train.max_steps' must be >= 1"),
    ({"train": {"pct_start": 0}}, "train.pct_start' must be > 0"),
    ({"train": {"pct_start": 1.5}}, "train.pct_start' must be < 1"),
    ({"train": ["epochs"]}, "'train' must be a mapping"),
    ({"seed": -1}, "'seed' must be >= 0"),
])
def test_bad_train_params(params, match):
    with pytest.raises(ParamsError, match=match):
        TrainConfig.from_params(params)


@pytest.mark.parametrize("params,match", [
    ({"model": {"name": "vgg16"}}, "model.name' must be one of"),
    ({"model": {"pretrained": "yes"}}, "model.pretrained' must be true or false"),
    ({"model": {"weights": 3}}, "model.weights' must be a non-empty string"),
])
def test_bad_model_params(params, match):
    with pytest.raises(ParamsError, match=match):
        ModelConfig.from_params(params)


def test_distill_params():
    from add.training.student import settings

    params = parse_params({"beta": "2e1", "distill": {"method": "fitnet", "quality": "c23", "alpha": 2}})
    assert (params.distill.method, params.distill.quality) == ("fitnet", "c23")
    assert (Params().distill.method, Params().distill.quality) == ("add", "c40")
    with pytest.raises(ParamsError, match="distill.method' must be one of"):
        parse_params({"distill": {"method": "magic"}})
    with pytest.raises(ParamsError, match="distill.quality' must be one of"):
        parse_params({"distill": {"quality": "raw"}})
    distilled = settings(params, distill="add")
    assert distilled.beta == 20.0 and distilled.distill.alpha == 2.0
    plain = settings(params, distill="none")  # the plain student reads no loss key and no beta
    assert plain.beta is None and plain.distill is None
    assert "beta" not in plain.fingerprint_part() and distilled.fingerprint_part()["distill"]["beta"] == 20.0


def _ddp_worker(rank: int, world_size: int, port: int, shard_dir: str, out: str) -> None:
    import os

    from add.data.loader import batch_factories

    os.environ.update({"WORLD_SIZE": str(world_size), "RANK": str(rank), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    runtime = setup_runtime("cpu")
    assert runtime.distributed and runtime.rank == rank
    cfg = TrainConfig(seed=0, epochs=2, batch_size=4, lr=1e-3, val_per_epoch=1, warmup_epochs=1)
    torch.manual_seed(rank)  # different initial weights per rank: DDP must broadcast rank 0's
    model = create_detector("resnet18")
    train_batches, val_batches = batch_factories(shard_dir, "Deepfakes", ["raw"], cfg)
    assert len(train_batches(0)) == 32 // world_size // 4  # the loader splits the training data by rank
    trainer = Trainer(model, cfg, runtime, train_batches=train_batches, val_batches=val_batches, input_key="raw",
                      out_dir=out, meta={"kind": "teacher"}, config={}, name=f"rank {rank}")
    result = trainer.fit()
    parameters = {name: p.detach() for name, p in trainer.model.named_parameters()}
    torch.save({"parameters": parameters, "steps": result.steps}, f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ddp_on_cpu_keeps_ranks_in_sync(tmp_path):
    import socket

    import torch.multiprocessing as mp
    from faces_factory import write_faces

    from add.data import shards

    faces, manifest = write_faces(tmp_path, frames=4, size=32)
    shards.run({"seed": 0, "shards": {"max_samples_per_shard": 1000}}, faces, manifest, tmp_path / "shards")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path / "shards"), str(tmp_path)), nprocs=2, join=True)
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert rank0["steps"] == rank1["steps"] == 8
    # gradients were averaged: the weights never diverged (BatchNorm running stats are per rank, as in DDP)
    state_equal(rank0["parameters"], rank1["parameters"])
    assert (tmp_path / BEST).is_file() and (tmp_path / LAST).is_file()


def test_a_checkpoint_saved_twice_is_byte_identical(tmp_path):
    """torch.save names its zip's root folder after the file it writes: through the atomic temp file's random name
    the same weights gave different .pt bytes (and DVC hashes) on every run."""
    from add.training.checkpoints import CHECKPOINT_FORMAT, save_checkpoint

    payload = {"format": CHECKPOINT_FORMAT, "model": create_detector("resnet18").state_dict(),
               "meta": {"kind": "teacher"}}
    save_checkpoint(tmp_path / "a.pt", payload)
    save_checkpoint(tmp_path / "b.pt", payload)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    loaded = load_checkpoint(tmp_path / "a.pt")["model"]
    assert all(torch.equal(loaded[k], v) for k, v in payload["model"].items())


def test_rerun_of_a_finished_training_leaves_best_pt_byte_identical(tmp_path):
    cfg = TrainConfig(seed=3, epochs=1, batch_size=BATCH, lr=1e-3, val_per_epoch=1, patience=10)
    card = {"model": "resnet18", "faces": {"threshold": 0.2}, "trained_on": {"kind": "test"}}

    def trainer(out):
        t = make_trainer(out, cfg=cfg, distill=None)
        t.meta = {**t.meta, "card": card}  # strings shared between the meta and its card, as add.models.card's are
        return t

    trainer(tmp_path / "a").fit()
    trainer(tmp_path / "b").fit()  # a fresh run elsewhere: no wall time or object identity in the bytes
    for name in (BEST, LAST):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    first = (tmp_path / "a" / BEST).read_bytes()
    (tmp_path / "a" / BEST).unlink()  # DVC removes a stage's outputs before rerunning it; last.pt persists
    trainer(tmp_path / "a").fit()
    assert (tmp_path / "a" / BEST).read_bytes() == first
