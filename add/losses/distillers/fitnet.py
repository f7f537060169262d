"""``fitnet``: FitNet on one stage, ``{"fitnet": fitnet_weight·L_hint or L_cos}`` (Table 1; add.losses.fitnet)."""

from __future__ import annotations

from add.core.registry import DISTILLERS
from add.losses.distillers.base import Distiller
from add.losses.fitnet import FitNetLoss


@DISTILLERS.register("fitnet")
class FitNetDistiller(Distiller):
    def __init__(self, name, student_channels, teacher_channels, config):
        super().__init__(name, student_channels, teacher_channels, config)
        stage = config.fitnet_stage
        self.stage = stage
        self.loss = FitNetLoss(student_channels[stage], teacher_channels[stage], config.fitnet_variant)

    def terms(self, student_feats, teacher_feats, student_logits, teacher_logits, labels, generator):
        return {"fitnet": self.config.fitnet_weight * self.loss(student_feats[self.stage], teacher_feats[self.stage])}
