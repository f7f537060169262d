"""The ``distill`` params section, as read by :func:`add.losses.build_distiller`.

Every key is optional; defaults follow the paper and the authors' code (``src/resnet_kd_fr_mv.yaml``). Per-stage
lists have one entry per distilled feature stage (ResNet layer2, layer3, layer4); a 0 skips that stage.

ADD (Eq. 10: L = CE + α·L_FR + β·L_MV, summed over stages with the per-stage weights)
  ``alpha``            1       α, weight of the frequency attention loss (≥ 0)
  ``beta``             16      β, weight of the multi-view attention loss: the top-level param ``beta`` (``dvc exp
                               run -S beta=20``), never a ``distill`` key; the paper tunes it in 16-23
  ``fr_weights``       null    per-stage weights of L_FR; null: the model's (``add.core.params.LossDefaults``, the
                               authors' configs): ResNet [1, 2, 0.25], EfficientNet [1, 0, 0] (FR on the stride-8 stage)
  ``mv_weights``       [0.5, 2.5, 2.0]  per-stage weights of L_MV
  ``gamma_fr``         null    γ_FR (≥ 0); null: the model's, ResNet 1, EfficientNet 0.01 (the authors' configs;
                               the paper's Table 3 gives 1e-3 for EfficientNet-B0)
  ``fr_max_exponent``  88.72   cap on γ_FR·mean_c d (in (0, 88.72]); the default changes nothing unless exp would
                               overflow float32; lower it (e.g. 20) to bound the weights and gradients
  ``gamma_mv``         100     γ_MV (≥ 0)
  ``eta_mv``           50      η_MV, weight of the contrastive terms (≥ 0; ignored by ``mv_nocontrast``)
  ``margin``           0.012   Δ, margin of the negative pair (≥ 0)
  ``directions``       12      K, random projection directions per stage and step (≥ 1)
  ``groups``           null    g, bins per direction; null: half the stage's channels (≥ 1)
  ``mv_vectors``       mass    multi-view vectors: ``mass`` (probability mass per bin, the authors') or ``cdf``
                               (the cumulative distribution at the bin ends, ~g/6 times larger: not what γ_MV,
                               η_MV, Δ and β were tuned for)
  ``mv_bins``          width   ``width`` (g equal-width bins over [min, max] of the projections, the authors') or
                               ``count`` (g groups of equal element counts in projection order)
  ``mv_coords``        index   element coordinates: ``index`` (c, h, w), the authors', or ``unit`` (c/(C−1),
                               h/(H−1), w/(W−1))
  ``mv_contrast``      both    contrastive terms C(S; T) + C(T; S) (``both``, the authors' code) or C(S; T) only
                               (``student``, Eq. 9)
  The earlier form of this project is ``mv_vectors: cdf, mv_bins: count, mv_coords: unit, mv_contrast: student``;
  the equations of both are in :mod:`add.losses.multi_view`.
Baselines (Table 1)
  ``fitnet_variant``   hint    ``hint`` (Romero et al., 1×1-conv regressor, MSE) or ``cosine`` (authors' code:
                               2 − 2·cos of pooled features)
  ``fitnet_stage``     null    stage index into the feature list (negative counts from the end); null: the middle
                               stage (layer3) for ``hint``, the last (layer4) for ``cosine``
  ``fitnet_weight``    null    null: 100 for ``hint`` (MSE), 16 for ``cosine`` (the authors' λ_KD)
  ``at_weight``        1000    weight of Attention Transfer (Zagoruyko & Komodakis' β)
  ``at_weights``       [1, 1, 1]  per-stage weights of AT
  ``nl_weight``        100     weight of the non-local loss (an MSE, like ``hint``)
  ``nl_weights``       [1, 1, 1]  per-stage weights of the non-local loss
  ``kd_weight``        1       weight of Hinton KD
  ``kd_temperature``   4       its temperature T (> 0; the authors' ``kd_T``)

The keys, their types and bounds are the fields of :class:`add.core.params.Distill` (parsed once, with every other
param); :func:`distill_config` resolves what depends on the model: the per-stage lists against its stage count and
the FitNet defaults.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from add.core.params import Distill, Params, ParamsError, loss_defaults, number, parse_section

FITNET_DEFAULT_WEIGHTS = {"hint": 100.0, "cosine": 16.0}
DEFAULT_BETA = Params().beta


@dataclass(frozen=True)
class DistillConfig:
    """The loss settings, resolved for a model with a given number of distilled stages."""

    alpha: float = 1.0
    beta: float = DEFAULT_BETA
    fr_weights: tuple[float, ...] = (1.0, 2.0, 0.25)
    mv_weights: tuple[float, ...] = (0.5, 2.5, 2.0)
    gamma_fr: float = 1.0
    fr_max_exponent: float = Distill.fr_max_exponent
    gamma_mv: float = 100.0
    eta_mv: float = 50.0
    margin: float = 0.012
    directions: int = 12
    groups: int | None = None
    mv_vectors: str = "mass"
    mv_bins: str = "width"
    mv_coords: str = "index"
    mv_contrast: str = "both"
    fitnet_variant: str = "hint"
    fitnet_stage: int | None = None
    fitnet_weight: float | None = None
    at_weight: float = 1000.0
    at_weights: tuple[float, ...] = (1.0, 1.0, 1.0)
    nl_weight: float = 100.0
    nl_weights: tuple[float, ...] = (1.0, 1.0, 1.0)
    kd_weight: float = 1.0
    kd_temperature: float = 4.0


CONFIG_KEYS = tuple(f.name for f in fields(DistillConfig))
PER_STAGE = ("fr_weights", "mv_weights", "at_weights", "nl_weights")


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
                   stages: int = 3, model: str | None = None) -> DistillConfig:
    """The loss settings of the ``distill`` section (typed; a mapping is parsed by the same rules) and the top-level
    ``beta``, for ``stages`` distilled feature stages of ``model`` (whose family gives ``fr_weights`` and
    ``gamma_fr`` when they are null: ``add.core.params.LossDefaults``); ``ParamsError`` naming the key otherwise."""
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
    values = {f.name: getattr(distill, f.name) for f in fields(DistillConfig) if f.name != "beta"}
    model_default = loss_defaults(model)
    values.update({key: _weights(distill, key, stages, getattr(distill, key) != getattr(default, key))
                   for key in PER_STAGE if key != "fr_weights"})
    given = distill.fr_weights is not None
    values["fr_weights"] = _weights(distill, "fr_weights", stages, given,
                                    distill.fr_weights if given else model_default.fr_weights)
    if distill.gamma_fr is None:
        values["gamma_fr"] = model_default.gamma_fr
    values["fitnet_stage"] = (stages // 2 if variant == "hint" else stages - 1) if stage is None else stage % stages
    if distill.fitnet_weight is None:
        values["fitnet_weight"] = FITNET_DEFAULT_WEIGHTS[variant]
    return DistillConfig(beta=beta, **values)
