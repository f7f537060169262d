"""``nl``: non-local distillation, ``{"nl": nl_weight·Σ_l w_NL[l]·L_NL(l)}`` (Table 1; add.losses.non_local)."""

from __future__ import annotations

from torch import nn

from add.core.registry import DISTILLERS
from add.losses.distillers.base import Distiller, zero
from add.losses.non_local import NonLocalLoss


@DISTILLERS.register("nl")
class NonLocalDistiller(Distiller):
    def __init__(self, name, student_channels, teacher_channels, config):
        super().__init__(name, student_channels, teacher_channels, config)
        # blocks only for the stages in use: a parameter that never gets a gradient upsets DDP
        self.blocks = nn.ModuleDict({
            str(stage): NonLocalLoss(s, t)
            for stage, (s, t, w) in enumerate(zip(student_channels, teacher_channels, config.nl_weights, strict=True))
            if w > 0})

    def terms(self, student_feats, teacher_feats, student_logits, teacher_logits, labels, generator):
        total = zero(student_feats[0])
        for key, loss in self.blocks.items():
            stage = int(key)
            total = total + self.config.nl_weights[stage] * loss(student_feats[stage], teacher_feats[stage])
        return {"nl": self.config.nl_weight * total}
