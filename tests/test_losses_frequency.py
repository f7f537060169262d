"""Frequency attention loss (Eq. 1-3) against a slow float64 loop, and its numerical behaviour."""

import cmath
import math

import pytest
import torch
from loss_inputs import wave

from add.losses import FLOAT32_MAX_EXPONENT, frequency_attention_loss


def reference_loss(student, teacher, gamma, max_exponent=math.inf):
    """Eq. 1-3 literally: a DFT per channel by explicit sums, then the weighted sum, all in Python floats."""
    student, teacher = student.double().tolist(), teacher.double().tolist()
    batch, channels = len(student), len(student[0])
    height, width = len(student[0][0]), len(student[0][0][0])
    total = 0.0
    for b in range(batch):
        distance = [[[0.0] * width for _ in range(height)] for _ in range(channels)]
        for c in range(channels):
            for u in range(height):
                for v in range(width):
                    coefficient = 0j
                    for x in range(height):
                        for y in range(width):
                            phase = cmath.exp(-2j * math.pi * (u * x / height + v * y / width))
                            coefficient += (student[b][c][x][y] - teacher[b][c][x][y]) * phase
                    distance[c][u][v] = abs(coefficient / (height * width)) ** 2
        for u in range(height):
            for v in range(width):
                mean = sum(distance[c][u][v] for c in range(channels)) / channels
                weight = math.exp(min(gamma * mean, max_exponent))
                total += sum(weight * distance[c][u][v] for c in range(channels))
    return total / batch


@pytest.mark.parametrize("gamma", [0.0, 1.0, 7.5])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 2, 1, 3), (3, 1, 2, 2), (2, 2, 3, 1), (1, 2, 3, 6)])
def test_matches_the_float64_loop(shape, gamma):
    student, teacher = wave(*shape), wave(*shape, phase=1.3, scale=0.8)
    expected = reference_loss(student, teacher, gamma)
    assert frequency_attention_loss(student, teacher, gamma).item() == pytest.approx(expected, rel=1e-10)
    got32 = frequency_attention_loss(student.float(), teacher.float(), gamma).item()
    assert got32 == pytest.approx(expected, rel=1e-5)


def test_equals_the_formula_up_to_the_float32_overflow_edge():
    # scaled so that the largest exponent γ·mean_c d is just below log(float32 max): no clamping may happen
    student, teacher = wave(2, 3, 4, 4), wave(2, 3, 4, 4, phase=2.0)
    largest = _largest_exponent(student, teacher, 1.0)
    scale = math.sqrt(0.98 * FLOAT32_MAX_EXPONENT / largest)
    student, teacher = student * scale, teacher * scale
    assert 0.97 * FLOAT32_MAX_EXPONENT < _largest_exponent(student, teacher, 1.0) < FLOAT32_MAX_EXPONENT
    expected = reference_loss(student, teacher, 1.0)
    assert expected > torch.finfo(torch.float32).max  # the value itself is beyond float32, yet exp is not
    got = frequency_attention_loss(student.float(), teacher.float(), 1.0)
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(expected, rel=1e-5)


def _largest_exponent(student, teacher, gamma):
    diff = torch.fft.fft2(student, norm="forward") - torch.fft.fft2(teacher, norm="forward")
    return (gamma * diff.abs().square().mean(dim=1)).max().item()


def test_clamps_only_beyond_the_overflow_edge():
    student, teacher = wave(2, 3, 4, 4) * 40, wave(2, 3, 4, 4, phase=2.0) * 40
    assert _largest_exponent(student, teacher, 1.0) > FLOAT32_MAX_EXPONENT
    expected = reference_loss(student, teacher, 1.0, max_exponent=FLOAT32_MAX_EXPONENT)
    got = frequency_attention_loss(student.float(), teacher.float(), 1.0)
    assert math.isfinite(got.item()) and got.item() == pytest.approx(expected, rel=1e-5)
    capped = reference_loss(student, teacher, 1.0, max_exponent=5.0)
    assert frequency_attention_loss(student, teacher, 1.0, max_exponent=5.0).item() == pytest.approx(capped, rel=1e-10)


def test_zero_when_student_equals_teacher():
    feat = wave(2, 4, 3, 3)
    assert frequency_attention_loss(feat.float(), feat.float().clone()).item() == 0.0


def test_finite_for_features_times_1e3():
    torch.manual_seed(0)
    teacher = torch.relu(torch.randn(4, 16, 4, 4))
    student = (teacher + 0.5 * torch.randn_like(teacher)).relu()
    student, teacher = (student * 1e3).requires_grad_(), teacher * 1e3
    loss = frequency_attention_loss(student, teacher)
    assert torch.isfinite(loss) and loss.item() > 0
    # with a lower cap the weights, hence the gradient, stay bounded too
    bounded = frequency_attention_loss(student, teacher, max_exponent=20.0)
    bounded.backward()
    assert torch.isfinite(bounded) and torch.isfinite(student.grad).all() and student.grad.abs().sum() > 0


def test_gradient_reaches_the_student_only_and_the_weight_is_detached():
    student = wave(2, 3, 4, 4).float().requires_grad_()
    teacher = wave(2, 3, 4, 4, phase=0.5).float().requires_grad_()
    frequency_attention_loss(student, teacher, gamma=2.0).backward()
    assert teacher.grad is None
    # the gradient must be Σ w·∂d with w held constant: compare with the weight plugged in as a constant
    s = student.detach().clone().requires_grad_()
    diff = torch.fft.fft2(s, norm="forward") - torch.fft.fft2(teacher.detach(), norm="forward")
    d = diff.abs().square()
    weight = torch.exp(2.0 * d.mean(dim=1, keepdim=True)).detach()
    ((weight * d).sum(dim=(1, 2, 3)).mean()).backward()
    assert torch.allclose(student.grad, s.grad, rtol=1e-5, atol=1e-7), (student.grad - s.grad).abs().max()


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 2, 1, 3), (2, 2, 3, 1), (1, 2, 3, 6)])
def test_closed_form_backward_is_the_gradient(shape):
    # with γ = 0 the weights are constant (1), so the true gradient is what the closed-form backward must give
    student = wave(*shape).requires_grad_()
    teacher = wave(*shape, phase=0.4)
    assert torch.autograd.gradcheck(lambda s: frequency_attention_loss(s, teacher, gamma=0.0), (student,))


def test_pinned_value():
    student, teacher = wave(2, 4, 3, 5), wave(2, 4, 3, 5, phase=0.9, scale=1.5)
    assert frequency_attention_loss(student, teacher, 1.0).item() == pytest.approx(PINNED_FR, rel=1e-9)


PINNED_FR = 3.080705053686282  # computed once with this implementation; equals reference_loss


@pytest.mark.parametrize("bad", [(2, 3, 4), (2, 3, 4, 4, 1)])
def test_rejects_non_4d_and_mismatched_shapes(bad):
    with pytest.raises(ValueError, match="B×C×H×W"):
        frequency_attention_loss(torch.zeros(bad), torch.zeros(bad))
    with pytest.raises(ValueError, match="same shape"):
        frequency_attention_loss(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match="gamma"):
        frequency_attention_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), gamma=-1.0)


def test_frequency_distance_is_the_exponent_over_gamma():
    from add.losses import frequency_distance

    # a constant difference c on one channel of C: its forward DFT is c at (0, 0) only, so mean_c d = c^2 / C there
    student, teacher = torch.zeros(2, 4, 3, 6), torch.zeros(2, 4, 3, 6)
    student[:, 1] = 3.0
    distance = frequency_distance(student, teacher)
    assert distance.shape == (2, 3, 4) and distance.dtype == torch.float64
    assert distance[:, 0, 0].tolist() == pytest.approx([9.0 / 4] * 2)
    distance[:, 0, 0] = 0
    assert distance.abs().max().item() < 1e-12
    student, teacher = wave(2, 3, 4, 4) * 5, wave(2, 3, 4, 4, phase=2.0) * 5
    assert (0.7 * frequency_distance(student, teacher)).max().item() == pytest.approx(
        _largest_exponent(student, teacher, 0.7), rel=1e-6)
