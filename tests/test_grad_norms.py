"""Each loss term's gradient norm on the backbone, logged beside each validation (issue 20): which term drives."""

from __future__ import annotations

import math

import pytest
import torch
from test_train import BATCH, Batches, val_batches

from add.losses import build_distiller
from add.models.detector import create_detector
from add.training.config import TrainConfig
from add.training.loop import Trainer, term_grad_norms
from add.training.runtime import setup_runtime

pytestmark = pytest.mark.usefixtures("one_thread")


def trainer(out_dir, *, measure: bool, live_dir=None) -> Trainer:
    cfg = TrainConfig(seed=3, epochs=1, batch_size=BATCH, lr=1e-3, val_per_epoch=2, patience=10)
    torch.manual_seed(cfg.seed)
    teacher = create_detector("resnet18").eval()
    model = create_detector("resnet18")
    # alpha 0: the FR term is a constant 0; MV with a small beta keeps the run quick and finite
    distiller = build_distiller("add", model.feature_channels, teacher.feature_channels,
                                {"directions": 4, "alpha": 0}, beta=1.0)
    out = Trainer(model, cfg, setup_runtime("cpu"), train_batches=lambda epoch: Batches(epoch),
                  val_batches=val_batches, input_key="c40", out_dir=out_dir, meta={"kind": "test"},
                  config={"test": 1}, live_dir=live_dir, teacher=teacher, distiller=distiller, name="test")
    out.measure_grads = measure
    return out


def test_each_validation_logs_every_terms_gradient_norm_and_training_is_unchanged(tmp_path):
    measured = trainer(tmp_path / "measured", measure=True, live_dir=tmp_path / "live")
    history = measured.fit().history
    assert len(history) == 2
    for record in history:
        norms = {k: v for k, v in record.items() if k.startswith("grad/")}
        assert set(norms) == {"grad/ce", "grad/fr", "grad/mv"}
        assert all(math.isfinite(v) for v in norms.values())
        assert norms["grad/ce"] > 0 and norms["grad/mv"] > 0
        assert norms["grad/fr"] == 0.0  # weight 0
    assert (tmp_path / "live" / "plots" / "metrics" / "grad" / "ce.tsv").is_file()

    plain = trainer(tmp_path / "plain", measure=False)
    assert not any(k.startswith("grad/") for r in plain.fit().history for k in r)
    a, b = measured.model.state_dict(), plain.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # measuring changes no weight


def test_term_grad_norms_is_the_l2_norm_of_each_terms_gradient():
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    v = torch.nn.Parameter(torch.tensor([1.0]))
    terms = {"a": (w * w).sum() / 2, "b": 2 * v.sum() + 0 * w.sum(), "zero": torch.zeros(())}
    norms = term_grad_norms(terms, [w, v])
    assert norms == {"a": pytest.approx(5.0), "b": pytest.approx(2.0), "zero": 0.0}
    sum(terms.values()).backward()  # the graph is still there for the step's own backward
    assert torch.equal(w.grad, torch.tensor([3.0, 4.0]))
