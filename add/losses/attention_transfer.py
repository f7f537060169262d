"""Attention Transfer (Zagoruyko & Komodakis, 2017), p = 2.

Spatial attention map of a B×C×H×W map A, flattened over H·W and L2-normalised per sample:

    Q(A) = vec(Σ_c |A_c|^p / C) / ‖vec(Σ_c |A_c|^p / C)‖₂

    L_AT = mean_{b, h·w} (Q(A_S) − Q(A_T))²

When the spatial sizes differ the larger map is average-pooled to the smaller (as in the ADD authors' code); the
channel counts may differ. Parameter-free.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from add.losses.common import check_feature_pair, match_spatial, rescale_by_max_abs


def attention_map(feat: Tensor, p: float = 2.0) -> Tensor:
    """Q(A): B×(H·W), unit L2 norm per sample (zero for an all-zero map)."""
    feat = rescale_by_max_abs(feat, (1, 2, 3))  # Q is scale invariant: keeps |A|^p in range for any finite A
    return F.normalize(feat.abs().pow(p).mean(dim=1).flatten(1), dim=1)


def attention_transfer_loss(student: Tensor, teacher: Tensor, p: float = 2.0) -> Tensor:
    """L_AT of one stage, a scalar. The teacher is detached."""
    check_feature_pair(student, teacher, "attention_transfer_loss", same_shape=False)
    student, teacher = match_spatial(student, teacher.detach())
    return (attention_map(student, p) - attention_map(teacher, p)).square().mean()
