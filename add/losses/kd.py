"""Hinton knowledge distillation on logits (Hinton, Vinyals & Dean, 2015), temperature T:

    L_KD = T² · mean_b KL( softmax(z_T / T) ‖ softmax(z_S / T) )

computed from log-softmaxes (stable for any finite logits). The T² keeps the gradient scale independent of T.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor


def hinton_kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 4.0) -> Tensor:
    """L_KD for B×K logits, a scalar. The teacher is detached."""
    if student_logits.dim() != 2 or student_logits.shape != teacher_logits.shape:
        raise ValueError(f"hinton_kd_loss: expected B×K logits of equal shape, got student "
                         f"{tuple(student_logits.shape)} and teacher {tuple(teacher_logits.shape)}")
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"hinton_kd_loss: temperature must be finite and > 0, got {temperature}")
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    log_teacher = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    return F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * temperature**2
