"""Distillers behind one interface, selected by name (params ``distill``): the registry and ``build_distiller``.

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
contrastive partners) is drawn from ``generator``. The settings: see :mod:`add.losses.config`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from add.core.params import Distill, ParamsError
from add.losses.attention_transfer import attention_transfer_loss
from add.losses.common import check_feature_pair
from add.losses.config import DEFAULT_BETA, DistillConfig, distill_config
from add.losses.fitnet import FitNetLoss
from add.losses.frequency import frequency_attention_loss
from add.losses.kd import hinton_kd_loss
from add.losses.multi_view import multi_view_attention_loss
from add.losses.non_local import NonLocalLoss


class Distiller(nn.Module):
    """Base class: validates the inputs, detaches the teacher, and returns ``self.terms(...)``."""

    needs_teacher = True
    uses_features = True
    uses_logits = False

    def __init__(self, name: str, student_channels: Sequence[int], teacher_channels: Sequence[int],
                 config: DistillConfig):
        super().__init__()
        self.name = name
        self.student_channels = tuple(student_channels)
        self.teacher_channels = tuple(teacher_channels)
        self.config = config

    def forward(self, student_feats: Sequence[Tensor] | None, teacher_feats: Sequence[Tensor] | None,
                student_logits: Tensor | None = None, teacher_logits: Tensor | None = None,
                labels: Tensor | None = None, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        if self.uses_features:
            student_feats, teacher_feats = self._check_features(student_feats, teacher_feats)
        if self.uses_logits:
            if student_logits is None or teacher_logits is None:
                raise ValueError(f"distiller '{self.name}' needs the student's and the teacher's logits")
            teacher_logits = teacher_logits.detach()
        return self.terms(student_feats, teacher_feats, student_logits, teacher_logits, labels, generator)

    def terms(self, student_feats, teacher_feats, student_logits, teacher_logits, labels, generator
              ) -> dict[str, Tensor]:
        raise NotImplementedError

    def _check_features(self, student_feats, teacher_feats) -> tuple[list[Tensor], list[Tensor]]:
        stages = len(self.student_channels)
        for who, feats, channels in (("student", student_feats, self.student_channels),
                                     ("teacher", teacher_feats, self.teacher_channels)):
            if feats is None or len(feats) != stages:
                got = "none" if feats is None else len(feats)
                raise ValueError(f"distiller '{self.name}' expects {stages} {who} feature maps "
                                 f"(one per stage with channels {list(channels)}), got {got}")
            for stage, (feat, expected) in enumerate(zip(feats, channels, strict=True)):
                if feat.dim() != 4 or feat.shape[1] != expected:
                    raise ValueError(f"distiller '{self.name}': {who} stage {stage} must be B×{expected}×H×W, "
                                     f"got {tuple(feat.shape)}")
        for stage, (student, teacher) in enumerate(zip(student_feats, teacher_feats, strict=True)):
            check_feature_pair(student, teacher, f"distiller '{self.name}' stage {stage}", same_shape=False)
        return list(student_feats), [feat.detach() for feat in teacher_feats]


def _zero(like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    return torch.zeros((), device=like.device, dtype=dtype or like.dtype)


class NoDistiller(Distiller):
    needs_teacher = False
    uses_features = False

    def terms(self, *args) -> dict[str, Tensor]:
        return {}


class ADDDistiller(Distiller):
    """Frequency attention (``fr``) and/or multi-view attention (``mv``), Eq. 10; subclasses are the ablations."""

    frequency = True
    multi_view = True
    contrastive = True

    def __init__(self, name, student_channels, teacher_channels, config):
        super().__init__(name, student_channels, teacher_channels, config)
        if tuple(student_channels) != tuple(teacher_channels):
            raise ParamsError(f"distiller '{name}' compares student and teacher feature maps element by element: "
                              f"their channels must match stage by stage, got student {list(student_channels)} "
                              f"and teacher {list(teacher_channels)} (use the same backbone for both)")

    def terms(self, student_feats, teacher_feats, student_logits, teacher_logits, labels, generator):
        cfg = self.config
        for stage, (student, teacher) in enumerate(zip(student_feats, teacher_feats, strict=True)):
            check_feature_pair(student, teacher, f"distiller '{self.name}' stage {stage}")
        out = {}
        if self.frequency:
            total = _zero(student_feats[0], torch.float64)
            if cfg.alpha > 0:
                for weight, student, teacher in zip(cfg.fr_weights, student_feats, teacher_feats, strict=True):
                    if weight > 0:
                        total = total + weight * frequency_attention_loss(student, teacher, cfg.gamma_fr,
                                                                          cfg.fr_max_exponent)
            out["fr"] = cfg.alpha * total
        if self.multi_view:
            total = _zero(student_feats[0], torch.float64)
            if cfg.beta > 0:
                for weight, student, teacher in zip(cfg.mv_weights, student_feats, teacher_feats, strict=True):
                    if weight > 0:
                        total = total + weight * multi_view_attention_loss(
                            student, teacher, labels, num_directions=cfg.directions, groups=cfg.groups,
                            coords=cfg.mv_coords, vectors=cfg.mv_vectors, bins=cfg.mv_bins,
                            contrast=cfg.mv_contrast, gamma=cfg.gamma_mv, eta=cfg.eta_mv, margin=cfg.margin,
                            contrastive=self.contrastive, generator=generator)
            out["mv"] = cfg.beta * total
        return out


class FitNetDistiller(Distiller):
    def __init__(self, name, student_channels, teacher_channels, config):
        super().__init__(name, student_channels, teacher_channels, config)
        stage = config.fitnet_stage
        self.stage = stage
        self.loss = FitNetLoss(student_channels[stage], teacher_channels[stage], config.fitnet_variant)

    def terms(self, student_feats, teacher_feats, student_logits, teacher_logits, labels, generator):
        return {"fitnet": self.config.fitnet_weight * self.loss(student_feats[self.stage], teacher_feats[self.stage])}


class AttentionTransferDistiller(Distiller):
    def terms(self, student_feats, teacher_feats, student_logits, teacher_logits, labels, generator):
        total = _zero(student_feats[0])
        for weight, student, teacher in zip(self.config.at_weights, student_feats, teacher_feats, strict=True):
            if weight > 0:
                total = total + weight * attention_transfer_loss(student, teacher)
        return {"at": self.config.at_weight * total}


class NonLocalDistiller(Distiller):
    def __init__(self, name, student_channels, teacher_channels, config):
        super().__init__(name, student_channels, teacher_channels, config)
        # blocks only for the stages in use: a parameter that never gets a gradient upsets DDP
        self.blocks = nn.ModuleDict({
            str(stage): NonLocalLoss(s, t)
            for stage, (s, t, w) in enumerate(zip(student_channels, teacher_channels, config.nl_weights, strict=True))
            if w > 0})

    def terms(self, student_feats, teacher_feats, student_logits, teacher_logits, labels, generator):
        total = _zero(student_feats[0])
        for key, loss in self.blocks.items():
            stage = int(key)
            total = total + self.config.nl_weights[stage] * loss(student_feats[stage], teacher_feats[stage])
        return {"nl": self.config.nl_weight * total}


class KDDistiller(Distiller):
    uses_features = False
    uses_logits = True

    def terms(self, student_feats, teacher_feats, student_logits, teacher_logits, labels, generator):
        return {"kd": self.config.kd_weight * hinton_kd_loss(student_logits, teacher_logits,
                                                             self.config.kd_temperature)}


class FRDistiller(ADDDistiller):
    multi_view = False


class MVDistiller(ADDDistiller):
    frequency = False


class MVNoContrastDistiller(MVDistiller):
    contrastive = False


DISTILLERS = {
    "add": ADDDistiller,
    "fr": FRDistiller,
    "mv": MVDistiller,
    "mv_nocontrast": MVNoContrastDistiller,
    "fitnet": FitNetDistiller,
    "at": AttentionTransferDistiller,
    "nl": NonLocalDistiller,
    "kd": KDDistiller,
    "none": NoDistiller,
}


def check_distiller(name: str, *, key: str | None = None) -> str:
    """The one check of a distiller name, for ``build_distiller`` and for params (``key``: the params key it came
    from, named in the ``ParamsError``)."""
    if name in DISTILLERS:
        return name
    if key is not None:
        raise ParamsError(f"params '{key}' must be one of {list(DISTILLERS)}, got {name!r}")
    raise ParamsError(f"unknown distiller {name!r}; choose from {list(DISTILLERS)}")


def needs_teacher(name: str) -> bool:
    """Whether the distiller ``name`` reads the teacher (``none`` does not)."""
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
    of its backbone family for what the section leaves null: ``add.core.params.LossDefaults``)."""
    check_distiller(name)
    student_channels = _channels(student_channels, "student")
    teacher_channels = _channels(teacher_channels, "teacher")
    if len(student_channels) != len(teacher_channels):
        raise ValueError(f"build_distiller: student and teacher have different numbers of stages: "
                         f"{list(student_channels)} vs {list(teacher_channels)}")
    config = distill_config(distill, beta=beta, stages=len(student_channels), model=model)
    return DISTILLERS[name](name, student_channels, teacher_channels, config)
