"""ADD distillation losses and the Table 1 baselines, one loss per module, behind one registry.

Equations refer to the paper (``shared/paper/ADD-AAAI2022.md``); each module's docstring states its equation.
The params keys are declared and documented once, by :class:`add.core.params_schema.Distill`; the distillers are the
modules of :mod:`add.losses.distillers`, one per name (:data:`add.core.registry.DISTILLERS`).
"""

from add.core.registry import DISTILLERS
from add.losses.attention_transfer import attention_map, attention_transfer_loss
from add.losses.config import CONFIG_KEYS, LossSettings, distill_config
from add.losses.distillers import Distiller, build_distiller, check_distiller, needs_teacher
from add.losses.fitnet import FitNetLoss, fitnet_cosine_loss
from add.losses.frequency import FLOAT32_MAX_EXPONENT, frequency_attention_loss, frequency_distance
from add.losses.kd import hinton_kd_loss
from add.losses.multi_view import (
    BINS,
    CONTRASTS,
    COORDS,
    VECTORS,
    MultiViewTerms,
    attention_density,
    contrastive_partners,
    default_groups,
    element_coordinates,
    multi_view_attention_loss,
    multi_view_terms,
    multi_view_vectors,
    projections,
    random_directions,
    sliced_wasserstein,
)
from add.losses.non_local import NonLocalBlock, NonLocalLoss

__all__ = [
    "BINS",
    "CONFIG_KEYS",
    "CONTRASTS",
    "COORDS",
    "DISTILLERS",
    "FLOAT32_MAX_EXPONENT",
    "VECTORS",
    "Distiller",
    "FitNetLoss",
    "LossSettings",
    "MultiViewTerms",
    "NonLocalBlock",
    "NonLocalLoss",
    "attention_density",
    "attention_map",
    "attention_transfer_loss",
    "build_distiller",
    "check_distiller",
    "contrastive_partners",
    "default_groups",
    "distill_config",
    "element_coordinates",
    "fitnet_cosine_loss",
    "frequency_attention_loss",
    "frequency_distance",
    "hinton_kd_loss",
    "multi_view_attention_loss",
    "multi_view_terms",
    "multi_view_vectors",
    "needs_teacher",
    "projections",
    "random_directions",
    "sliced_wasserstein",
]
