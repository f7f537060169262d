"""The Table 1 baselines (FitNet, AT, non-local) and Hinton KD against slow float64 loops."""

import math

import pytest
import torch
import torch.nn.functional as F
from loss_inputs import wave

from add.losses import (
    FitNetLoss,
    NonLocalBlock,
    NonLocalLoss,
    attention_transfer_loss,
    fitnet_cosine_loss,
    hinton_kd_loss,
)


def reference_attention_transfer(student, teacher):
    """Same spatial size: Q = vec(mean_c A²)/‖·‖ per sample, then the mean squared difference."""
    def q(feat):
        out = []
        for sample in feat.tolist():
            plane = [sum(ch[h][w] ** 2 for ch in sample) / len(sample)
                     for h in range(len(sample[0])) for w in range(len(sample[0][0]))]
            norm = math.sqrt(sum(v * v for v in plane))
            out.append([v / norm for v in plane])
        return out

    qs, qt = q(student), q(teacher)
    diffs = [(a - b) ** 2 for rs, rt in zip(qs, qt, strict=True) for a, b in zip(rs, rt, strict=True)]
    return sum(diffs) / len(diffs)


def test_attention_transfer_matches_the_loop():
    student, teacher = wave(2, 3, 4, 5), wave(2, 6, 4, 5, phase=0.8)  # channel counts may differ
    expected = reference_attention_transfer(student, teacher)
    assert attention_transfer_loss(student, teacher).item() == pytest.approx(expected, rel=1e-10)
    assert attention_transfer_loss(student * 1e3, teacher).item() == pytest.approx(expected, rel=1e-10)
    assert attention_transfer_loss(student, student.clone()).item() == 0.0


def test_attention_transfer_pools_the_larger_map():
    student, teacher = wave(2, 3, 8, 8), wave(2, 4, 4, 4, phase=0.3)
    expected = reference_attention_transfer(F.avg_pool2d(student, 2), teacher)
    assert attention_transfer_loss(student, teacher).item() == pytest.approx(expected, rel=1e-10)


def test_fitnet_cosine_matches_the_loop():
    student, teacher = wave(3, 5, 2, 2), wave(3, 5, 2, 2, phase=1.1)
    expected = 0.0
    for s, t in zip(student.mean(dim=(2, 3)).tolist(), teacher.mean(dim=(2, 3)).tolist(), strict=True):
        dot = sum(a * b for a, b in zip(s, t, strict=True))
        expected += 2 - 2 * dot / math.sqrt(sum(a * a for a in s) * sum(b * b for b in t))
    assert fitnet_cosine_loss(student, teacher).item() == pytest.approx(expected / 3, rel=1e-10)
    assert FitNetLoss(5, 5, "cosine").double()(student, teacher).item() == pytest.approx(expected / 3, rel=1e-10)
    assert fitnet_cosine_loss(student, student * 3).item() == pytest.approx(0.0, abs=1e-12)


def test_fitnet_hint_is_the_mse_of_the_regressed_student():
    torch.manual_seed(0)
    loss = FitNetLoss(3, 5, "hint").double()
    student, teacher = wave(2, 3, 4, 4), wave(2, 5, 4, 4, phase=0.6)
    weight, bias = loss.regressor.weight[:, :, 0, 0], loss.regressor.bias
    regressed = torch.einsum("oc,bchw->bohw", weight, student) + bias[None, :, None, None]
    assert loss(student, teacher).item() == pytest.approx(((regressed - teacher) ** 2).mean().item(), rel=1e-10)
    with torch.no_grad():  # identity regressor and student = teacher: zero
        same = FitNetLoss(3, 3, "hint").double()
        same.regressor.weight.copy_(torch.eye(3)[:, :, None, None])
        same.regressor.bias.zero_()
    assert same(student, student.clone()).item() == 0.0


def test_fitnet_hint_trains_the_regressor_and_pools_to_the_teacher():
    loss = FitNetLoss(3, 5, "hint")
    student = torch.randn(2, 3, 8, 8, requires_grad=True)
    teacher = torch.randn(2, 5, 4, 4, requires_grad=True)
    loss(student, teacher).backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
    assert loss.regressor.weight.grad.abs().sum() > 0


def test_non_local_block_is_the_identity_at_init_and_learns():
    torch.manual_seed(0)
    block = NonLocalBlock(16)
    x = torch.randn(2, 16, 3, 4)
    assert torch.equal(block(x), x)
    loss = NonLocalLoss(16, 16)
    student, teacher = torch.randn(2, 16, 3, 4, requires_grad=True), torch.randn(2, 16, 3, 4, requires_grad=True)
    value = loss(student, teacher)
    assert value.item() == pytest.approx(F.mse_loss(student, teacher).item(), rel=1e-6)
    value.backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
    assert loss.block.project.weight.grad.abs().sum() > 0


def test_non_local_attention_matches_a_loop():
    torch.manual_seed(1)
    block = NonLocalBlock(8).double()
    with torch.no_grad():
        block.project.weight.normal_()
    x = torch.randn(1, 8, 2, 3, dtype=torch.float64)
    q = block.query(x).flatten(2)[0].T.tolist()   # HW × C/8
    k = block.key(x).flatten(2)[0].T.tolist()
    v = block.value(x).flatten(2)[0].T.tolist()   # HW × C/2
    context = []
    for qi in q:
        logits = [sum(a * b for a, b in zip(qi, kj, strict=True)) for kj in k]
        top = max(logits)
        weights = [math.exp(z - top) for z in logits]
        total = sum(weights)
        context.append([sum(w / total * vj[d] for w, vj in zip(weights, v, strict=True)) for d in range(len(v[0]))])
    context = torch.tensor(context, dtype=torch.float64).T.reshape(1, -1, 2, 3)
    expected = x + block.project(context)
    assert torch.allclose(block(x), expected, rtol=1e-10, atol=1e-12)


def test_non_local_adapts_other_channel_counts_and_sizes():
    loss = NonLocalLoss(4, 6)
    student, teacher = torch.randn(2, 4, 6, 6, requires_grad=True), torch.randn(2, 6, 3, 3)
    loss(student, teacher).backward()
    assert student.grad.abs().sum() > 0 and loss.adapter.weight.grad is not None


def test_hinton_kd_matches_the_formula():
    student, teacher = wave(3, 4, scale=3.0), wave(3, 4, phase=2.0, scale=5.0)
    temperature = 4.0
    expected = 0.0
    for s, t in zip(student.tolist(), teacher.tolist(), strict=True):
        zs = sum(math.exp(a / temperature) for a in s)
        zt = sum(math.exp(b / temperature) for b in t)
        for a, b in zip(s, t, strict=True):
            ps, pt = math.exp(a / temperature) / zs, math.exp(b / temperature) / zt
            expected += pt * math.log(pt / ps)
    expected *= temperature**2 / 3
    assert hinton_kd_loss(student, teacher, temperature).item() == pytest.approx(expected, rel=1e-10)
    assert hinton_kd_loss(student, student.clone()).item() == pytest.approx(0.0, abs=1e-12)
    huge = hinton_kd_loss(student * 1e6, teacher * 1e6)
    assert torch.isfinite(huge)
    with pytest.raises(ValueError, match="temperature"):
        hinton_kd_loss(student, teacher, 0.0)
    with pytest.raises(ValueError, match="logits"):
        hinton_kd_loss(student, teacher[:, :2])
