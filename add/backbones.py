"""The backbone family of a model name and the frequency-loss defaults of each family (no torch: ``add params``
shows them).

The authors distil four stages and configure FR per backbone; this project distils three (``add.models``:
ResNet layer2/3/4, EfficientNet blocks.2/4/6 — the authors' stages without their first), so their first weight is
dropped:

- ResNet, ``src/resnet_kd_fr_mv.yaml``: ``layer_fr: [0, 1, 2, 0.25]`` over layer1-4, ``gamma_fr: 1`` -> [1, 2, 0.25].
- EfficientNet, ``src/efficientnet_kd_fr_mv.yaml``: ``layer_fr: [0, 1, 0, 0]`` over the stride-4/8/16/32 blocks,
  ``gamma_fr: 0.01`` -> [1, 0, 0]: FR on the stride-8 stage (blocks.2) only.

A model of neither family (Xception) takes the ResNet values. ``distill.fr_weights`` / ``distill.gamma_fr`` set
in the params win; null (the default) means "the model's default" below.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LossDefaults:
    fr_weights: tuple[float, ...]
    gamma_fr: float


LOSS_DEFAULTS: dict[str, LossDefaults] = {
    "resnet": LossDefaults(fr_weights=(1.0, 2.0, 0.25), gamma_fr=1.0),
    "efficientnet": LossDefaults(fr_weights=(1.0, 0.0, 0.0), gamma_fr=0.01),
}
GENERIC = "resnet"  # what a model of another family (or none named) takes


def family(model: str | None) -> str:
    """``resnet``, ``efficientnet`` or ``other`` for a timm model name (``tf_efficientnet_lite0`` is efficientnet)."""
    name = (model or "").lower()
    if name.startswith("resnet"):
        return "resnet"
    if "efficientnet" in name:
        return "efficientnet"
    return "other"


def loss_defaults(model: str | None) -> LossDefaults:
    """The FR defaults of ``model``'s family (the generic, ResNet, ones for another family or no model)."""
    return LOSS_DEFAULTS.get(family(model), LOSS_DEFAULTS[GENERIC])
