"""Shape checks and small helpers shared by the distillation losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def check_feature_pair(student: Tensor, teacher: Tensor, what: str, *, same_shape: bool = True) -> None:
    """Both B×C×H×W with the same batch (and, with ``same_shape``, identical shapes), or a ``ValueError``."""
    if student.dim() != 4 or teacher.dim() != 4:
        raise ValueError(f"{what}: expected B×C×H×W feature maps, got student {tuple(student.shape)} "
                         f"and teacher {tuple(teacher.shape)}")
    if same_shape and student.shape != teacher.shape:
        raise ValueError(f"{what}: student and teacher feature maps must have the same shape, got student "
                         f"{tuple(student.shape)} and teacher {tuple(teacher.shape)}")
    if student.shape[0] != teacher.shape[0]:
        raise ValueError(f"{what}: student and teacher batches differ: {student.shape[0]} vs {teacher.shape[0]}")


def match_spatial(student: Tensor, teacher: Tensor) -> tuple[Tensor, Tensor]:
    """Average-pool whichever map is spatially larger down to the other's H×W (no-op when they agree)."""
    if student.shape[-2:] == teacher.shape[-2:]:
        return student, teacher
    height = min(student.shape[-2], teacher.shape[-2])
    width = min(student.shape[-1], teacher.shape[-1])
    return F.adaptive_avg_pool2d(student, (height, width)), F.adaptive_avg_pool2d(teacher, (height, width))


def rescale_by_max_abs(x: Tensor, dims: tuple[int, ...]) -> Tensor:
    """``x`` divided by its largest |value| over ``dims`` (detached; 1 where that is 0).

    For scale-invariant quantities (normalised attention maps) this changes nothing but keeps squares in range;
    the gradient stays exact because the quantity does not depend on the scale.
    """
    scale = torch.linalg.vector_norm(x.detach(), ord=float("inf"), dim=dims, keepdim=True)  # max |x|, one pass
    return x / torch.where(scale > 0, scale, torch.ones_like(scale))
