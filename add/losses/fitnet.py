"""FitNet hint loss (Romero et al., 2015), and the cosine variant of the ADD authors' code.

``hint`` (Romero et al.): a learnable 1×1-conv regressor r maps the student's guided stage onto the teacher's hint
stage (spatially average-pooled to the smaller of the two when they differ):

    L_hint = mean_{b,c,h,w} (r(A_S) − A_T)²

``cosine`` (the authors' ``HintLoss``): on globally average-pooled features s = GAP(A_S), t = GAP(A_T) (a linear
regressor first when the channel counts differ):

    L_cos = mean_b (2 − 2 · ⟨s/‖s‖, t/‖t‖⟩)

The regressor is a parameter of the loss module: train it with the student.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from add.losses.common import check_feature_pair, match_spatial

FITNET_VARIANTS = ("hint", "cosine")


def fitnet_cosine_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """2 − 2·cos between pooled B×C vectors (or B×C×H×W maps, pooled here), averaged over the batch."""
    if student.dim() == 4:
        student = student.mean(dim=(2, 3))
    if teacher.dim() == 4:
        teacher = teacher.mean(dim=(2, 3))
    if student.shape != teacher.shape:
        raise ValueError(f"fitnet_cosine_loss: pooled features differ: {tuple(student.shape)} vs "
                         f"{tuple(teacher.shape)}")
    cosine = (F.normalize(student, dim=1) * F.normalize(teacher.detach(), dim=1)).sum(dim=1)
    return (2 - 2 * cosine).mean()


class FitNetLoss(nn.Module):
    """One stage's FitNet loss with its regressor: ``forward(student_map, teacher_map) -> scalar``."""

    def __init__(self, student_channels: int, teacher_channels: int, variant: str = "hint"):
        super().__init__()
        if variant not in FITNET_VARIANTS:
            raise ValueError(f"FitNetLoss: variant must be one of {list(FITNET_VARIANTS)}, got {variant!r}")
        self.variant = variant
        if variant == "hint":
            self.regressor = nn.Conv2d(student_channels, teacher_channels, kernel_size=1)
        elif student_channels != teacher_channels:
            self.regressor = nn.Linear(student_channels, teacher_channels)
        else:
            self.regressor = nn.Identity()

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        check_feature_pair(student, teacher, "FitNetLoss", same_shape=False)
        teacher = teacher.detach()
        if self.variant == "cosine":
            return fitnet_cosine_loss(self.regressor(student.mean(dim=(2, 3))), teacher.mean(dim=(2, 3)))
        student, teacher = match_spatial(self.regressor(student), teacher)
        return F.mse_loss(student, teacher)
