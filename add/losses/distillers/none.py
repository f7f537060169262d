"""The plain student: no distillation term, no teacher (``{}``)."""

from __future__ import annotations

from add.core.registry import DISTILLERS, PLAIN_STUDENT
from add.losses.distillers.base import Distiller


@DISTILLERS.register(PLAIN_STUDENT)
class NoDistiller(Distiller):
    needs_teacher = False
    uses_features = False

    def terms(self, *args) -> dict:
        return {}
