"""``kd``: Hinton KD on the logits, ``{"kd": kd_weight·L_KD}`` (add.losses.kd)."""

from __future__ import annotations

from add.core.registry import DISTILLERS
from add.losses.distillers.base import Distiller
from add.losses.kd import hinton_kd_loss


@DISTILLERS.register("kd")
class KDDistiller(Distiller):
    uses_features = False
    uses_logits = True

    def terms(self, student_feats, teacher_feats, student_logits, teacher_logits, labels, generator):
        return {"kd": self.config.kd_weight * hinton_kd_loss(student_logits, teacher_logits,
                                                             self.config.kd_temperature)}
