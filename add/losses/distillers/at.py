"""``at``: Attention Transfer, ``{"at": at_weight·Σ_l w_AT[l]·L_AT(l)}`` (Table 1; add.losses.attention_transfer)."""

from __future__ import annotations

from add.core.registry import DISTILLERS
from add.losses.attention_transfer import attention_transfer_loss
from add.losses.distillers.base import Distiller, zero


@DISTILLERS.register("at")
class AttentionTransferDistiller(Distiller):
    def terms(self, student_feats, teacher_feats, student_logits, teacher_logits, labels, generator):
        total = zero(student_feats[0])
        for weight, student, teacher in zip(self.config.at_weights, student_feats, teacher_feats, strict=True):
            if weight > 0:
                total = total + weight * attention_transfer_loss(student, teacher)
        return {"at": self.config.at_weight * total}
