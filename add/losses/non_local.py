"""Non-local distillation (after Wang et al., 2018, "Non-local Neural Networks"), as the ADD authors' baseline.

A learnable non-local block N (embedded Gaussian) per stage is applied to both the student's and the teacher's map:

    N(X) = X + W_z · Σ_j softmax_j(θ(X_i)ᵀ φ(X_j)) · g(X_j)     θ, φ: 1×1 convs to C/8; g: 1×1 conv to C/2;
                                                                W_z: 1×1 conv back to C, zero-initialised (N = id)
    L_NL = mean_{b,c,h,w} (N(a(A_S)) − N(A_T))²

The block is sized from the teacher's channel count; when the student's differs, a learnable 1×1 conv a adapts it
(a = identity otherwise). Spatial sizes that differ are average-pooled to the smaller. The block's (and adapter's)
parameters are trained with the student; the teacher's features get no gradient.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from add.losses.common import check_feature_pair, match_spatial


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block with a residual connection; the identity at initialisation."""

    def __init__(self, channels: int):
        super().__init__()
        key_channels, value_channels = max(1, channels // 8), max(1, channels // 2)
        self.query = nn.Conv2d(channels, key_channels, kernel_size=1)
        self.key = nn.Conv2d(channels, key_channels, kernel_size=1)
        self.value = nn.Conv2d(channels, value_channels, kernel_size=1)
        self.project = nn.Conv2d(value_channels, channels, kernel_size=1)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def forward(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        query = self.query(x).flatten(2).transpose(1, 2)  # B, HW, C/8
        key = self.key(x).flatten(2).transpose(1, 2)
        value = self.value(x).flatten(2).transpose(1, 2)  # B, HW, C/2
        # scale=1: Wang et al.'s embedded Gaussian, softmax(θᵀφ) without a temperature
        context = F.scaled_dot_product_attention(query, key, value, scale=1.0)
        context = context.transpose(1, 2).reshape(batch, -1, height, width)
        return x + self.project(context)


class NonLocalLoss(nn.Module):
    """One stage's non-local distillation loss: ``forward(student_map, teacher_map) -> scalar``."""

    def __init__(self, student_channels: int, teacher_channels: int):
        super().__init__()
        self.adapter = (nn.Identity() if student_channels == teacher_channels
                        else nn.Conv2d(student_channels, teacher_channels, kernel_size=1))
        self.block = NonLocalBlock(teacher_channels)

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        check_feature_pair(student, teacher, "NonLocalLoss", same_shape=False)
        student, teacher = match_spatial(self.adapter(student), teacher.detach())
        return F.mse_loss(self.block(student), self.block(teacher))
