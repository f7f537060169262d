"""The paper's distiller: frequency attention and multi-view attention, ``{"fr": ..., "mv": ...}`` (Eq. 10;
Table 2 "FR+MV"): the terms of ``fr`` and then of ``mv``."""

from __future__ import annotations

from add.core.registry import DISTILLERS, PAPER_DISTILLER
from add.losses.distillers.fr import FRDistiller
from add.losses.distillers.mv import MVDistiller


@DISTILLERS.register(PAPER_DISTILLER)
class ADDDistiller(FRDistiller, MVDistiller):
    def paired_terms(self, student_feats, teacher_feats, labels, generator):
        return {**FRDistiller.paired_terms(self, student_feats, teacher_feats, labels, generator),
                **MVDistiller.paired_terms(self, student_feats, teacher_feats, labels, generator)}
