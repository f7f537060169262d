"""The base of every distiller (one per module of this package, registered under its module name): validates the
inputs, detaches the teacher, and returns ``self.terms(...)``; :class:`PairedDistiller`, the base of those that
compare student and teacher maps element by element (FR, MV)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from add.core.params import ParamsError
from add.losses.common import check_feature_pair
from add.losses.config import LossSettings


class Distiller(nn.Module):
    """Base class: validates the inputs, detaches the teacher, and returns ``self.terms(...)``."""

    needs_teacher = True
    uses_features = True
    uses_logits = False

    def __init__(self, name: str, student_channels: Sequence[int], teacher_channels: Sequence[int],
                 config: LossSettings):
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
                got = len(feats) if feats is not None else "no list"
                raise ValueError(f"distiller '{self.name}' expects {stages} {who} feature maps "
                                 f"(one per stage with channels {list(channels)}), got {got}")
            for stage, (feat, expected) in enumerate(zip(feats, channels, strict=True)):
                if feat.dim() != 4 or feat.shape[1] != expected:
                    raise ValueError(f"distiller '{self.name}': {who} stage {stage} must be B×{expected}×H×W, "
                                     f"got {tuple(feat.shape)}")
        for stage, (student, teacher) in enumerate(zip(student_feats, teacher_feats, strict=True)):
            check_feature_pair(student, teacher, f"distiller '{self.name}' stage {stage}", same_shape=False)
        return list(student_feats), [feat.detach() for feat in teacher_feats]


def zero(like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    return torch.zeros((), device=like.device, dtype=dtype or like.dtype)


class PairedDistiller(Distiller):
    """Compares student and teacher maps element by element: equal channels and shapes, stage by stage; the terms
    are ``self.paired_terms(...)``."""

    def __init__(self, name, student_channels, teacher_channels, config):
        super().__init__(name, student_channels, teacher_channels, config)
        if tuple(student_channels) != tuple(teacher_channels):
            raise ParamsError(f"distiller '{name}' compares student and teacher feature maps element by element: "
                              f"their channels must match stage by stage, got student {list(student_channels)} "
                              f"and teacher {list(teacher_channels)} (use the same backbone for both)")

    def terms(self, student_feats, teacher_feats, student_logits, teacher_logits, labels, generator):
        for stage, (student, teacher) in enumerate(zip(student_feats, teacher_feats, strict=True)):
            check_feature_pair(student, teacher, f"distiller '{self.name}' stage {stage}")
        return self.paired_terms(student_feats, teacher_feats, labels, generator)

    def paired_terms(self, student_feats, teacher_feats, labels, generator) -> dict[str, Tensor]:
        raise NotImplementedError
