"""What a backbone module declares (:class:`Backbone`); registered with ``BACKBONES.register("<module name>")``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backbone:
    """A family of timm models.

    ``models``: the timm names it covers. ``feature_modules``: the three timm modules (``feature_info``) whose outputs
    FR/MV distil; None: timm's last three feature stages. ``packaged_weights``: timm name -> (pip distribution, import
    name) of a package whose ``models/`` folder holds one ImageNet ``.pth`` of the same network (other parameter
    names, same tensors in the same order). ``fr_weights`` / ``gamma_fr``: what a null ``distill.fr_weights`` /
    ``distill.gamma_fr`` takes for these models (the authors' configs; over the three distilled stages)."""

    models: tuple[str, ...]
    feature_modules: tuple[str, str, str] | None
    fr_weights: tuple[float, ...]
    gamma_fr: float
    packaged_weights: dict[str, tuple[str, str]] = field(default_factory=dict)
