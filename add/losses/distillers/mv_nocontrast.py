"""``mv_nocontrast``: the multi-view term without its contrastive terms (η_MV = 0; Table 2 "MV w/o contrastive")."""

from __future__ import annotations

from add.core.registry import DISTILLERS
from add.losses.distillers.mv import MVDistiller


@DISTILLERS.register("mv_nocontrast")
class MVNoContrastDistiller(MVDistiller):
    contrastive = False
