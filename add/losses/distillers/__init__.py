"""Distillers behind one interface, selected by name (params ``distill``): one module per distiller in this package,
registered under its module name (:data:`add.core.registry.DISTILLERS`; the base class is :mod:`.base`), and
``build_distiller``. A new distiller is a new module here (docs/extending.md).

    distiller = build_distiller(name, student_channels, teacher_channels, params.distill, beta=params.beta)
    terms = distiller(student_feats, teacher_feats, student_logits, teacher_logits, labels, generator=None)
    loss = ce + sum(terms.values())

``terms`` maps names to already-weighted scalar tensors (CE is the trainer's):

==================  ==========================================================================================
``add``             ``{"fr": α·Σ_l w_FR[l]·L_FR(l), "mv": β·Σ_l w_MV[l]·L_MV(l)}``  (Eq. 10; Table 2 "FR+MV")
``fr``              ``{"fr": ...}``                                  (Table 2 "FR")
``mv``              ``{"mv": ...}``                                  (Table 2 "MV w/ contrastive")
``mv_nocontrast``   ``{"mv": ...}`` with η_MV = 0                    (Table 2 "MV w/o contrastive")
``fitnet``          ``{"fitnet": fitnet_weight·L_hint or L_cos}``    (Table 1)
``at``              ``{"at": at_weight·Σ_l w_AT[l]·L_AT(l)}``         (Table 1)
``nl``              ``{"nl": nl_weight·Σ_l w_NL[l]·L_NL(l)}``         (Table 1)
``kd``              ``{"kd": kd_weight·L_KD}``                       (Hinton et al., on logits)
``none``            ``{}``                                           (the plain student; no teacher needed)
==================  ==========================================================================================

``student_feats`` / ``teacher_feats`` are lists of B×C×H×W maps of the distilled stages (ResNet layer2/3/4), in the
order of ``student_channels`` / ``teacher_channels``; the teacher's are detached here whatever the caller did. A term
whose weights are all 0 is a zero tensor, not computed. FitNet regressors and non-local blocks are parameters of the
distiller: give ``distiller.parameters()`` to the optimiser. Attributes ``needs_teacher``, ``uses_features`` and
``uses_logits`` (also on the classes in ``DISTILLERS``) tell a trainer what it may skip. Randomness (MV directions,
contrastive partners) is drawn from ``generator``. The settings: :class:`add.core.params_schema.Distill`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from add.core.params import Distill
from add.core.params_schema import DEFAULT_BETA
from add.core.registry import DISTILLERS
from add.losses.config import distill_config
from add.losses.distillers.base import Distiller

REGISTRY = DISTILLERS  # its entries are this package's modules, imported on demand (tests/test_dvc_deps.py)


def check_distiller(name: str, *, key: str | None = None) -> str:
    """The one check of a distiller name, for ``build_distiller`` and for params (``key``: the params key it came
    from, named in the ``ParamsError``)."""
    return DISTILLERS.check(name, key=key)


def needs_teacher(name: str) -> bool:
    """Whether the distiller ``name`` reads the teacher (the plain student does not)."""
    return bool(getattr(DISTILLERS[check_distiller(name)], "needs_teacher", True))


def _channels(value: Sequence[int], who: str) -> tuple[int, ...]:
    if isinstance(value, int | str) or not isinstance(value, Sequence) or not value or any(
            isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in value):
        raise ValueError(f"build_distiller: {who}_channels must be a non-empty list of positive channel counts "
                         f"(one per stage), got {value!r}")
    return tuple(value)


def build_distiller(name: str, student_channels: Sequence[int], teacher_channels: Sequence[int],
                    distill: Distill | Mapping[str, Any] | None = None, *, beta: float = DEFAULT_BETA,
                    model: str | None = None) -> Distiller:
    """The distiller ``name`` for the given per-stage channel counts, configured by the typed ``distill`` section
    (a mapping is parsed by the same rules), the top-level ``beta`` and the student's ``model`` name (the defaults
    of its backbone for what the section leaves null: :mod:`add.models.backbones`)."""
    check_distiller(name)
    student_channels = _channels(student_channels, "student")
    teacher_channels = _channels(teacher_channels, "teacher")
    if len(student_channels) != len(teacher_channels):
        raise ValueError(f"build_distiller: student and teacher have different numbers of stages: "
                         f"{list(student_channels)} vs {list(teacher_channels)}")
    config = distill_config(distill, beta=beta, stages=len(student_channels), model=model)
    return DISTILLERS[name](name, student_channels, teacher_channels, config)
