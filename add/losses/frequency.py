"""Frequency attention distillation loss (ADD, Eq. 1-3).

    F_S, F_T = DFT2(A_S) / (H·W), DFT2(A_T) / (H·W)            per channel (``torch.fft.fft2(x, norm="forward")``)
    d(c, u, v) = |F_S(c, u, v) − F_T(c, u, v)|²
    w(u, v)    = exp(γ_FR · (1/C) Σ_c d(c, u, v))                 detached: a weight, not a gradient path
    L_FR       = mean_b Σ_{c,u,v} w(u, v) · d(c, u, v)

Computed as one ``rfft2`` of A_S − A_T (the DFT is linear and the features are real, so the other half of the
spectrum mirrors the first): the same sum, a quarter of the transform work and no cancellation between two spectra;
the backward is the closed form 2·irfft2(w·(F_S − F_T)) (w is constant).

Numerical stability. ``exp`` grows without bound: users of the authors' code saw this term jump to 1e7, and with
features scaled ×1e3 the exponent is ~1e4-1e6, so a plain float32 ``exp`` returns ``inf`` and the loss ``inf``/``nan``.
Subtracting the per-sample maximum exponent would only rescale each sample's loss by a constant, but it changes the
value (and the gradient's size relative to the other terms), so it is not used. Instead:

* the exponent is clamped at ``max_exponent``, by default ``log(float32 max) ≈ 88.72``: ``w`` equals
  ``exp(γ·mean_c d)`` exactly wherever that ``exp`` does not overflow in float32, and is ``float32 max`` beyond;
* the weights and the weighted sum Σ_{u,v} w · Σ_c d (the same sum regrouped) are computed in float64 and the loss
  is returned as a **float64** scalar: where ``w`` is representable in float32, the product ``w·d`` often is not
  (``w`` ≈ 1e38 times ``d`` ≈ 1e2), so a float32 result would be ``inf`` exactly where the formula still holds.

The result therefore equals Eq. 2-3 (up to rounding) whenever no exponent exceeds 88.72, and stays finite for any
finite features (×1e3 included). The gradient is the formula's, ``w · ∂d/∂A_S``; with extreme features it can still
exceed float32 in the student's backward. Lower ``max_exponent`` (params ``distill.fr_max_exponent``, e.g. 20) to
bound the weights at ``exp(max_exponent)`` and so the gradient, at the price of departing from the formula wherever
an exponent exceeds it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from add.losses.common import check_feature_pair

FLOAT32_MAX_EXPONENT = math.log(torch.finfo(torch.float32).max)  # 88.7228...: exp() of more overflows float32


def _column_multiplicity(width: int, device: torch.device) -> Tensor:
    """How many columns of the full spectrum each ``rfft2`` column v = 0..W/2 stands for (2, or 1 for v = 0 and,
    for even W, v = W/2): the input is real, so d(−u, −v) = d(u, v) and the other half mirrors this one."""
    multiplicity = torch.full((width // 2 + 1,), 2.0, dtype=torch.float64, device=device)
    multiplicity[0] = 1.0
    if width % 2 == 0:
        multiplicity[-1] = 1.0
    return multiplicity


class _FrequencyAttention(torch.autograd.Function):
    """Per-sample Σ_{c,u,v} w·d of the difference A_S − A_T, with w held constant; float64, shape (B,).

    The DFT is linear, so F_S − F_T = DFT(A_S − A_T)/(H·W): one ``rfft2`` instead of two full transforms and no
    cancellation between two large spectra. With w detached the gradient has a closed form,
    ∂L/∂(A_S − A_T) = 2·Re(IDFT(w·(F_S − F_T))) = 2·irfft2(w·(F_S − F_T)), one inverse transform; autograd's
    route through ``rfft2`` pads to a full complex transform and keeps several spectrum-sized temporaries.
    """

    @staticmethod
    def forward(ctx, difference: Tensor, gamma: float, max_exponent: float) -> Tensor:
        channels, height, width = difference.shape[1:]
        spectrum = torch.fft.rfft2(difference, norm="forward")  # B, C, H, W//2+1
        # Σ_c d(c, u, v) as a norm over (channel, re/im): one pass, no spectrum-sized temporary. B, H, W//2+1
        distance = torch.linalg.vector_norm(torch.view_as_real(spectrum), dim=(1, 4)).double().square_()
        weight = torch.exp((distance * (gamma / channels)).clamp_(max=max_exponent))
        ctx.save_for_backward(spectrum, weight)
        ctx.size = (height, width)
        return (weight * _column_multiplicity(width, difference.device) * distance).sum(dim=(1, 2))

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        spectrum, weight = ctx.saved_tensors
        scale = (2 * weight * grad_loss[:, None, None]).to(spectrum.real.dtype).unsqueeze(1)  # B, 1, H, W//2+1
        return torch.fft.irfft2(spectrum * scale, s=ctx.size), None, None


def frequency_attention_loss(student: Tensor, teacher: Tensor, gamma: float = 1.0,
                             max_exponent: float = FLOAT32_MAX_EXPONENT) -> Tensor:
    """L_FR of ``student`` vs ``teacher`` (B×C×H×W each), a float64 scalar; see the module docstring.

    The teacher is detached (a target). ``gamma`` is γ_FR (≥ 0); ``max_exponent`` caps γ_FR·mean_c d.
    """
    check_feature_pair(student, teacher, "frequency_attention_loss")
    if not (gamma >= 0 and math.isfinite(gamma)):
        raise ValueError(f"frequency_attention_loss: gamma must be finite and >= 0, got {gamma}")
    if not (max_exponent > 0):
        raise ValueError(f"frequency_attention_loss: max_exponent must be > 0, got {max_exponent}")
    difference = student - teacher.detach()
    if difference.dtype not in (torch.float32, torch.float64):
        difference = difference.float()  # half precision FFTs are not supported everywhere and lose the spectrum
    return _FrequencyAttention.apply(difference, float(gamma), float(max_exponent)).mean()


@torch.no_grad()
def frequency_distance(student: Tensor, teacher: Tensor) -> Tensor:
    """(1/C) Σ_c d(c, u, v) per sample and frequency, B × H × (W//2+1), float64: what γ_FR multiplies in the exponent
    of the weights w (Eq. 3). Choosing γ_FR so that the largest γ·mean_c d at initialisation is about 1-3 keeps w the
    focal weights of Eq. 3 instead of exploding (``bench/fr_exponent.py`` measures it)."""
    check_feature_pair(student, teacher, "frequency_distance")
    difference = (student - teacher).float()
    spectrum = torch.fft.rfft2(difference, norm="forward")
    return torch.linalg.vector_norm(torch.view_as_real(spectrum), dim=(1, 4)).double().square_() / student.shape[1]
