"""``mv``: the multi-view attention term alone, ``{"mv": β·Σ_l w_MV[l]·L_MV(l)}`` (Table 2 "MV w/ contrastive";
Eq. 6-9)."""

from __future__ import annotations

import torch

from add.core.registry import DISTILLERS
from add.losses.distillers.base import PairedDistiller, zero
from add.losses.multi_view import multi_view_attention_loss


@DISTILLERS.register("mv")
class MVDistiller(PairedDistiller):
    contrastive = True

    def paired_terms(self, student_feats, teacher_feats, labels, generator):
        cfg = self.config
        total = zero(student_feats[0], torch.float64)
        if cfg.beta > 0:
            for weight, student, teacher in zip(cfg.mv_weights, student_feats, teacher_feats, strict=True):
                if weight > 0:
                    total = total + weight * multi_view_attention_loss(
                        student, teacher, labels, num_directions=cfg.directions, groups=cfg.groups,
                        coords=cfg.mv_coords, vectors=cfg.mv_vectors, bins=cfg.mv_bins,
                        contrast=cfg.mv_contrast, gamma=cfg.gamma_mv, eta=cfg.eta_mv, margin=cfg.margin,
                        contrastive=self.contrastive, generator=generator)
        return {"mv": cfg.beta * total}
