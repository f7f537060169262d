"""Backbones: one module per family of timm models, registered under its module name
(:data:`add.core.registry.BACKBONES`), each a :class:`~add.models.backbones.base.Backbone` declaring the timm model
names it covers, their three distilled feature stages, packaged ImageNet weights and the family's frequency-loss
defaults. A new backbone is a new module here (docs/extending.md). Nothing here imports torch.
"""

from __future__ import annotations

from add.core.params import Model, ParamsError
from add.core.registry import BACKBONES
from add.models.backbones.base import Backbone

REGISTRY = BACKBONES  # its entries are this package's modules, imported on demand (tests/test_dvc_deps.py)
DEFAULT_MODEL: str = Model.name  # model.name's default, stated once in the params schema


def model_names() -> tuple[str, ...]:
    """Every timm model name a backbone claims, in the backbones' order."""
    return tuple(model for _, backbone in BACKBONES.items() for model in backbone.models)


def backbone_of(model: str | None, *, key: str = "model.name") -> tuple[str, Backbone]:
    """``(family, Backbone)`` of the timm ``model`` (None: model.name's default); a ParamsError naming ``key`` for
    a model no backbone claims."""
    model = DEFAULT_MODEL if model is None else model
    for name, backbone in BACKBONES.items():
        if model in backbone.models:
            return name, backbone
    raise ParamsError(f"params '{key}' must be one of {list(model_names())}, got {model!r}: no backbone in "
                      f"add/models/backbones/ claims it (docs/extending.md: A new backbone)")
