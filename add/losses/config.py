"""The ``distill`` params section resolved for a model: what :func:`add.losses.build_distiller` gives a distiller.

The keys, their types, bounds, defaults and documentation are declared once, by
:class:`add.core.params_schema.Distill`; :class:`LossSettings` is that section with β (the top-level ``beta``) as
its one extra field, and :func:`distill_config` fills what depends on the model: the per-stage lists against its
stage count, a null ``fr_weights`` / ``gamma_fr`` from its backbone (add/models/backbones/), the FitNet defaults.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from add.core.params import DEFAULT_BETA, Distill, ParamsError, number, parse_section
from add.models.backbones import backbone_of

FITNET_DEFAULT_WEIGHTS = {"hint": 100.0, "cosine": 16.0}
PER_STAGE = ("fr_weights", "mv_weights", "at_weights", "nl_weights")
SELECTION = ("method", "quality", "init_from_teacher")  # keys that choose the student, not its loss


@dataclass(frozen=True)
class LossSettings(Distill):
    """The ``distill`` section resolved for a model (no null left but ``groups``), and β."""

    beta: float = DEFAULT_BETA


CONFIG_KEYS = tuple(f.name for f in fields(LossSettings) if f.name not in SELECTION)  # what the losses read


def _weights(distill: Distill, key: str, stages: int, given: bool, value: tuple[float, ...] | None = None
             ) -> tuple[float, ...]:
    value = getattr(distill, key) if value is None else value
    if len(value) == stages:
        return value
    if not given and len(set(value)) == 1:
        return (value[0],) * stages
    if not given:
        raise ParamsError(f"params 'distill.{key}': the default {list(value)} is for 3 stages (ResNet layer2-4); "
                          f"set one weight for each of the {stages} distilled stages")
    raise ParamsError(f"params 'distill.{key}' must have one weight per distilled stage ({stages}), "
                      f"got {len(value)}: {list(value)}")


def distill_config(distill: Distill | Mapping[str, Any] | None = None, *, beta: float = DEFAULT_BETA,
                   stages: int = 3, model: str | None = None) -> LossSettings:
    """The loss settings of the ``distill`` section (typed; a mapping is parsed by the same rules) and the top-level
    ``beta``, for ``stages`` distilled feature stages of ``model`` (whose backbone gives ``fr_weights`` and
    ``gamma_fr`` when they are null; None: model.name's default); ``ParamsError`` naming the key otherwise."""
    if not isinstance(distill, Distill):
        distill = parse_section(Distill, distill, "distill", record_as=None)
    beta = number(beta, "beta")
    if not math.isfinite(beta) or beta < 0:
        raise ParamsError(f"params 'beta' must be >= 0, got {beta}")
    default = Distill()
    stage = distill.fitnet_stage
    if stage is not None and not -stages <= stage < stages:
        raise ParamsError(f"params 'distill.fitnet_stage' must be in {-stages}..{stages - 1}, got {stage}")
    variant = distill.fitnet_variant
    values = {f.name: getattr(distill, f.name) for f in fields(Distill) if f.name not in SELECTION}
    values.update({key: object.__getattribute__(distill, key) for key in SELECTION})  # carried, not a loss read
    _, backbone = backbone_of(model)
    values.update({key: _weights(distill, key, stages, getattr(distill, key) != getattr(default, key))
                   for key in PER_STAGE if key != "fr_weights"})
    given = distill.fr_weights is not None
    values["fr_weights"] = _weights(distill, "fr_weights", stages, given,
                                    distill.fr_weights if given else backbone.fr_weights)
    if distill.gamma_fr is None:
        values["gamma_fr"] = backbone.gamma_fr
    values["fitnet_stage"] = (stages // 2 if variant == "hint" else stages - 1) if stage is None else stage % stages
    if distill.fitnet_weight is None:
        values["fitnet_weight"] = FITNET_DEFAULT_WEIGHTS[variant]
    return LossSettings(beta=beta, **values)
