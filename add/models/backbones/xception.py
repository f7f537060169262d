"""Xception (timm's ``legacy_xception``). Distilled stages: timm's last three feature stages. The authors give no
FR settings for it: it takes the ResNet values ([1, 2, 0.25] and γ_FR 1), stated here."""

from add.core.registry import BACKBONES
from add.models.backbones.base import Backbone
from add.models.backbones.resnet import RESNET

XCEPTION = BACKBONES.register("xception")(Backbone(
    models=("legacy_xception",),
    feature_modules=("block3.rep.0", "block12.rep.0", "act4"),
    fr_weights=RESNET.fr_weights,
    gamma_fr=RESNET.gamma_fr,
))
