"""ResNets: the paper's backbone. Distilled stages ``layer2/3/4``. Loss defaults: the authors'
``src/resnet_kd_fr_mv.yaml`` ``layer_fr: [0, 1, 2, 0.25]``, ``gamma_fr: 1`` over four stages; this project distils
three (not the first), so [1, 2, 0.25] and 1."""

from add.core.registry import BACKBONES
from add.models.backbones.base import Backbone

RESNET = BACKBONES.register("resnet")(Backbone(
    models=("resnet50", "resnet18", "resnet34"),
    feature_modules=("layer2", "layer3", "layer4"),
    fr_weights=(1.0, 2.0, 0.25),
    gamma_fr=1.0,
))
