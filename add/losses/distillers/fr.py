"""``fr``: the frequency attention term alone, ``{"fr": α·Σ_l w_FR[l]·L_FR(l)}`` (Table 2 "FR"; Eq. 3-5)."""

from __future__ import annotations

import torch

from add.core.registry import DISTILLERS
from add.losses.distillers.base import PairedDistiller, zero
from add.losses.frequency import frequency_attention_loss


@DISTILLERS.register("fr")
class FRDistiller(PairedDistiller):
    def paired_terms(self, student_feats, teacher_feats, labels, generator):
        cfg = self.config
        total = zero(student_feats[0], torch.float64)
        if cfg.alpha > 0:
            for weight, student, teacher in zip(cfg.fr_weights, student_feats, teacher_feats, strict=True):
                if weight > 0:
                    total = total + weight * frequency_attention_loss(student, teacher, cfg.gamma_fr,
                                                                      cfg.fr_max_exponent)
        return {"fr": cfg.alpha * total}
