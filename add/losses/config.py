"""The ``distill`` params section, as read by :func:`add.losses.build_distiller`.

Every key is optional; defaults follow the paper and the authors' code (``src/resnet_kd_fr_mv.yaml``). Per-stage
lists have one entry per distilled feature stage (ResNet layer2, layer3, layer4); a 0 skips that stage.

ADD (Eq. 10: L = CE + α·L_FR + β·L_MV, summed over stages with the per-stage weights)
  ``alpha``            1       α, weight of the frequency attention loss (≥ 0)
  ``beta``             16      β, weight of the multi-view attention loss; a top-level param (``dvc exp run -S
                               beta=20``) that the trainer copies into this dict; the paper tunes it in 16-23
  ``fr_weights``       [1, 2, 0.25]     per-stage weights of L_FR
  ``mv_weights``       [0.5, 2.5, 2.0]  per-stage weights of L_MV
  ``gamma_fr``         1       γ_FR (≥ 0); the paper uses 1e-3 for EfficientNet-B0
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

Other keys are ignored, so the trainer may keep its own settings in the same section, but a key that looks like a
misspelling of one above (``gama_fr``) is an error.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, fields
from typing import Any

from add.losses.fitnet import FITNET_VARIANTS
from add.losses.frequency import FLOAT32_MAX_EXPONENT
from add.losses.multi_view import BINS, CONTRASTS, COORDS, VECTORS
from add.params import ParamsError, get_choice, get_float, get_int

FITNET_DEFAULT_WEIGHTS = {"hint": 100.0, "cosine": 16.0}


@dataclass(frozen=True)
class DistillConfig:
    alpha: float = 1.0
    beta: float = 16.0
    fr_weights: tuple[float, ...] = (1.0, 2.0, 0.25)
    mv_weights: tuple[float, ...] = (0.5, 2.5, 2.0)
    gamma_fr: float = 1.0
    fr_max_exponent: float = FLOAT32_MAX_EXPONENT
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
_DEFAULTS = DistillConfig()


def _weights(cfg: dict, key: str, stages: int, where: str) -> tuple[float, ...]:
    if key not in cfg:
        default = getattr(_DEFAULTS, key)
        if len(default) == stages:
            return default
        if len(set(default)) == 1:
            return (default[0],) * stages
        raise ParamsError(f"params '{where}.{key}': the default {list(default)} is for 3 stages (ResNet layer2-4); "
                          f"set one weight for each of the {stages} distilled stages")
    value = cfg[key]
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise ParamsError(f"params '{where}.{key}' must be a list of {stages} numbers (one per stage), got {value!r}")
    if len(value) != stages:
        raise ParamsError(f"params '{where}.{key}' must have one weight per distilled stage ({stages}), "
                          f"got {len(value)}: {value!r}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item) or item < 0:
            raise ParamsError(f"params '{where}.{key}' must hold finite numbers >= 0, got {value!r}")
    return tuple(float(item) for item in value)


def _reject_misspellings(cfg: dict, where: str) -> None:
    for key in cfg:
        if key in CONFIG_KEYS or not isinstance(key, str):
            continue
        close = difflib.get_close_matches(key, CONFIG_KEYS, n=1, cutoff=0.8)
        if close:
            raise ParamsError(f"params '{where}.{key}' is not a known key; did you mean '{where}.{close[0]}'?")


def parse_distill_config(cfg: dict[str, Any] | None, stages: int = 3, where: str = "distill") -> DistillConfig:
    """Validate the ``distill`` section (a plain dict) for ``stages`` feature stages; ``ParamsError`` otherwise."""
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise ParamsError(f"params '{where}' must be a mapping, got {cfg!r}")
    _reject_misspellings(cfg, where)
    d = _DEFAULTS

    def number(key: str, **bounds: Any) -> float:
        return get_float(cfg, key, getattr(d, key), where=where, **bounds)

    variant = get_choice(cfg, "fitnet_variant", d.fitnet_variant, FITNET_VARIANTS, where=where)
    stage = get_int(cfg, "fitnet_stage", d.fitnet_stage, where=where, min=-stages, max=stages - 1, allow_none=True)
    fitnet_weight = get_float(cfg, "fitnet_weight", d.fitnet_weight, where=where, min=0.0, allow_none=True)
    kd_temperature = number("kd_temperature", min=0.0)
    if kd_temperature == 0:
        raise ParamsError(f"params '{where}.kd_temperature' must be > 0, got 0")
    max_exponent = number("fr_max_exponent", min=0.0, max=FLOAT32_MAX_EXPONENT)
    if max_exponent == 0:
        raise ParamsError(f"params '{where}.fr_max_exponent' must be > 0, got 0")
    return DistillConfig(
        alpha=number("alpha", min=0.0),
        beta=number("beta", min=0.0),
        fr_weights=_weights(cfg, "fr_weights", stages, where),
        mv_weights=_weights(cfg, "mv_weights", stages, where),
        gamma_fr=number("gamma_fr", min=0.0),
        fr_max_exponent=max_exponent,
        gamma_mv=number("gamma_mv", min=0.0),
        eta_mv=number("eta_mv", min=0.0),
        margin=number("margin", min=0.0),
        directions=get_int(cfg, "directions", d.directions, where=where, min=1),
        groups=get_int(cfg, "groups", d.groups, where=where, min=1, allow_none=True),
        mv_vectors=get_choice(cfg, "mv_vectors", d.mv_vectors, VECTORS, where=where),
        mv_bins=get_choice(cfg, "mv_bins", d.mv_bins, BINS, where=where),
        mv_coords=get_choice(cfg, "mv_coords", d.mv_coords, COORDS, where=where),
        mv_contrast=get_choice(cfg, "mv_contrast", d.mv_contrast, CONTRASTS, where=where),
        fitnet_variant=variant,
        fitnet_stage=(stages // 2 if variant == "hint" else stages - 1) if stage is None else stage % stages,
        fitnet_weight=FITNET_DEFAULT_WEIGHTS[variant] if fitnet_weight is None else fitnet_weight,
        at_weight=number("at_weight", min=0.0),
        at_weights=_weights(cfg, "at_weights", stages, where),
        nl_weight=number("nl_weight", min=0.0),
        nl_weights=_weights(cfg, "nl_weights", stages, where),
        kd_weight=number("kd_weight", min=0.0),
        kd_temperature=kd_temperature,
    )
