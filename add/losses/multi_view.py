"""Multi-view attention distillation loss (ADD, Eq. 8-9): a sliced Wasserstein distance between attention densities.

Attention density of a feature map A (C×H×W), per sample:

    P = A∘A / ‖A‖²_F                          (a probability over the N = C·H·W elements; uniform if A = 0)

Element (c, h, w) sits at x = (c, h, w) (``coords="index"``, the authors' code) or at x = (c/(C−1), h/(H−1),
w/(W−1)) (``coords="unit"``, 0 for a dimension of size 1). Each direction θ_k (k = 1..K, rows of ``directions``,
order (c, h, w)) projects the elements to t_k(x) = ⟨θ_k, x⟩ and bins them into g groups; the multi-view vector v_k
of P (g numbers) is read from those groups.

Bins (``bins``):

* ``"width"`` (default, the authors'): g bins of equal width over [lo_k, hi_k] = [min_x t_k(x), max_x t_k(x)];
  element x is in bin  b_k(x) = min(⌊g·(t_k(x) − lo_k) / (hi_k − lo_k)⌋, g − 1)  (0-based; the element at the max
  belongs to the last bin; every element is in the last bin when hi_k = lo_k). Bins may be empty.
* ``"count"``: g groups of (almost) equal element counts in projection order: sort the elements by t_k (stable:
  ties keep memory order, τ_k the sorting permutation); group j (1-based) holds sorted positions
  ⌊(j−1)·N/g⌋ .. ⌊j·N/g⌋ − 1.

Vectors (``vectors``):

* ``"mass"`` (default, the authors'): the probability mass of each group,   v_k[j] = Σ_{x in group j} P(x).
* ``"cdf"``: the cumulative distribution read at the group ends,            v_k[j] = Σ_{i ≤ j} mass_k[i]
  (v_k[g] = 1). With ``bins="count"`` this is  Σ_{r ≤ ⌊j·N/g⌋ − 1} P[τ_k(r)].

θ = (1, 0, 0) with ``index`` coordinates, width bins and g = C gives the channel attention Σ_{h,w} P (one channel
per bin); (0, 1, 0) with g = H the row attention (the ``cdf`` vectors are their cumulative sums).

    SWD(S, T) = (1/K) Σ_k Σ_j (v_k^S[j] − v_k^T[j])²

    C(X_i; Y) = SWD(X_i, Y_pos(i)) + max(Δ − SWD(X_i, Y_neg(i)), 0)

    L_MV = mean_i { γ_MV · SWD(S_i, T_i) + η_MV · [ C(S_i; T) + C(T_i; S) ] }      (``contrast="both"``, default)
    L_MV = mean_i { γ_MV · SWD(S_i, T_i) + η_MV · C(S_i; T) }                       (``contrast="student"``, Eq. 9)

Y_pos(i) / Y_neg(i): the features of another sample of the batch, drawn uniformly, with the same / a different label;
a sample without such a partner gets no such term (one-class and two-sample batches work). The K directions are
drawn uniformly on the sphere per call. Randomness comes from the ``generator`` (directions first, then the partners
of C(S; T), then those of C(T; S)), drawn on its device (CPU by default) and copied to the features' device: K×3 and
B×B numbers, host to device, which never waits for the device; a generator on the features' device avoids even that.

Why the default is the authors' form (``mass``, ``width``, ``index``, ``both``): γ_MV = 100, η_MV = 50, Δ = 0.012
and β = 16-23 were tuned with it (``src/distiller_zoo/MV.py`` of Leminhbinh0209/AAAI22-ADD). The ``cdf`` form sums
squared differences of cumulative sums, which is roughly g/6 times larger (tens to ~170× measured on ResNet stages;
``bench/loss_scale.py``): with it Δ is never reached and β·L_MV outweighs CE by orders of magnitude. The ``cdf``/
``count``/``unit`` form stays available as a variant (``distill.mv_vectors: cdf`` etc.). Deliberate differences from
the authors' code: it cumulates P in memory order after sorting the projections (its "masses" are then not those of
the bins; a bug, not copied), reads the bin edges one element late and drops the last bin, applies the hinge per
direction and draws partners per direction (a sample may be its own positive); here every bin is exact, the hinge
is applied to the SWD as in Eq. 9, and the partners are drawn once per call, never the sample itself.

Implementation: the bins depend only on (C, H, W), θ and g, never on the features, so they are computed once per call
(K sorts of N float64 projections; projections are elementwise products and sums, not a matmul, so that they round
the same on every device) and shared by the batch, the student and the teacher. In projection order every bin is a
contiguous segment, so group masses are exact segment sums of the squares (bag sums with ``embedding_bag``, no B×K×N
tensor); the small B×K×g result is then normalised, cumulated (``cdf``) and compared in float64. Forward and backward
are deterministic on every device. Everything is vectorised over batch and directions, with no host synchronisation
and no numpy.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from add.losses.common import check_feature_pair, rescale_by_max_abs

COORDS = ("index", "unit")
VECTORS = ("mass", "cdf")
BINS = ("width", "count")
CONTRASTS = ("both", "student")


def default_groups(channels: int) -> int:
    """The paper's g: half the number of channels (at least 1)."""
    return max(1, channels // 2)


def random_directions(count: int, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> Tensor:
    """``count`` directions uniform on the unit sphere S², float64, ``count``×3 (drawn on the generator's device)."""
    if count < 1:
        raise ValueError(f"random_directions: count must be >= 1, got {count}")
    draw_device = generator.device if generator is not None else torch.device("cpu")
    theta = torch.randn(count, 3, generator=generator, device=draw_device, dtype=torch.float64)
    theta = theta / theta.norm(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)
    return theta.to(device) if device is not None else theta


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def element_coordinates(channels: int, height: int, width: int, coords: str = "index",
                        device: torch.device | str | None = None) -> Tensor:
    """N×3 float64 coordinates (c, h, w) of the elements of a C×H×W map, in memory (row-major) order."""
    _check_choice("coords", coords, COORDS)
    axes = []
    for size in (channels, height, width):
        axis = torch.arange(size, dtype=torch.float64, device=device)
        if coords == "unit":
            axis = axis / (size - 1) if size > 1 else torch.zeros_like(axis)
        axes.append(axis)
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)


@functools.lru_cache(maxsize=32)
def _cached_coordinates(channels: int, height: int, width: int, coords: str, device: torch.device) -> Tensor:
    return element_coordinates(channels, height, width, coords, device=device)


def projections(directions: Tensor, positions: Tensor) -> Tensor:
    """K×N projections ⟨θ_k, x_n⟩ = θ_c·c + θ_h·h + θ_w·w, float64, summed in that order (no matmul, no FMA)."""
    theta = directions.to(device=positions.device, dtype=torch.float64)
    return (theta[:, 0:1] * positions[:, 0] + theta[:, 1:2] * positions[:, 1]) + theta[:, 2:3] * positions[:, 2]


class _Plan:
    """Per direction: the sorting permutation and, for each sorted position, its (direction, group) bag."""

    def __init__(self, shape: tuple[int, int, int], directions: Tensor, groups: int, coords: str, bins: str,
                 device: torch.device):
        channels, height, width = shape
        n = channels * height * width
        if directions.dim() != 2 or directions.shape[1] != 3 or directions.shape[0] < 1:
            raise ValueError(f"directions must be K×3 (order c, h, w) with K >= 1, got {tuple(directions.shape)}")
        if isinstance(groups, bool) or not isinstance(groups, int) or not 1 <= groups <= n:
            raise ValueError(f"groups must be an integer in [1, C·H·W = {n}], got {groups!r}")
        _check_choice("coords", coords, COORDS)
        _check_choice("bins", bins, BINS)
        count = directions.shape[0]
        projected = projections(directions, _cached_coordinates(channels, height, width, coords, device))  # K, N
        projected, order = torch.sort(projected, dim=1, stable=True)  # K, N
        if bins == "count":
            position = torch.arange(n, device=device)
            # the j with ⌊jN/g⌋ <= position < ⌊(j+1)N/g⌋ (0-based)
            group_sorted = (((position + 1) * groups + n - 1) // n - 1).expand(count, n)
        else:
            low, high = projected[:, :1], projected[:, -1:]
            span = high - low
            scaled = ((projected - low) * groups / torch.where(span > 0, span, torch.ones_like(span))).floor()
            group_sorted = torch.where(span > 0, scaled.clamp(max=groups - 1), groups - 1).long()
        # the bins are monotone in the projection, so each is a contiguous run of sorted positions
        group_ids = torch.arange(groups, device=device).expand(count, groups).contiguous()
        starts = torch.searchsorted(group_sorted.contiguous(), group_ids)  # K, g: first sorted position of each bin
        row = torch.arange(count, device=device).unsqueeze(1)
        self.order = order.reshape(-1)
        self.offsets = (row * n + starts).reshape(-1)
        bag_of_position = group_sorted + row * groups  # K, N
        # for the backward: the K bags each element belongs to, one row per element
        self.bags_of_element = torch.empty_like(order).scatter_(1, order, bag_of_position).T.contiguous()  # N, K
        self.directions, self.groups, self.n = count, groups, n
        sizes = torch.diff(starts, dim=1, append=torch.full((count, 1), n, device=device))
        self.uniform_mass = sizes.double() / n  # K, g: the vectors of an all-zero map (uniform P)


class _SquaredBagSums(torch.autograd.Function):
    """B×N features -> B×K×groups sums of (A/max|A|)² over the elements of each (direction, group) bag.

    The squares are written once, element-major (N×B, as ``embedding_bag`` wants); one bag per (direction, group).
    The backward is again a bag sum, of the K group gradients each element belongs to, times 2·A/max|A|². The
    scale is held constant: exact for what this feeds, ratios of these sums, which do not depend on it. No B×K×N
    tensor is built and nothing is accumulated by atomics, so both passes are deterministic on every device.
    """

    @staticmethod
    def forward(ctx, flat: Tensor, plan: _Plan) -> Tensor:
        batch, n = flat.shape
        largest = torch.maximum(flat.amax(dim=1, keepdim=True), -flat.amin(dim=1, keepdim=True))
        inverse = torch.where(largest > 0, 1 / largest, torch.ones_like(largest))  # B, 1
        table = torch.empty((n, batch), dtype=flat.dtype, device=flat.device)
        torch.mul(flat.T, inverse.T, out=table).square_()
        sums = F.embedding_bag(plan.order, table, plan.offsets, mode="sum")  # K·g, B (an empty bag sums to 0)
        ctx.save_for_backward(flat, inverse)
        ctx.plan = plan
        return sums.view(plan.directions, plan.groups, batch).permute(2, 0, 1)

    @staticmethod
    def backward(ctx, grad_sums: Tensor):
        flat, inverse = ctx.saved_tensors
        plan = ctx.plan
        grad = grad_sums.permute(1, 2, 0).reshape(plan.directions * plan.groups, -1).contiguous()  # K·g, B
        grad_table = F.embedding_bag(plan.bags_of_element, grad.to(flat.dtype), mode="sum")  # N, B
        return torch.mul(flat, grad_table.T).mul_(2 * inverse.square()), None


def _squares(feat: Tensor) -> Tensor:
    """(A / max|A|)² per sample, B×N (float32 at least). P is these over their sum, whatever the scale."""
    return rescale_by_max_abs(_flat(feat), (1,)).square()


def _flat(feat: Tensor) -> Tensor:
    flat = feat.reshape(feat.shape[0], -1)
    if flat.dtype in (torch.float16, torch.bfloat16):
        flat = flat.float()  # densities of ~1/N need more than a half-precision mantissa
    return flat


def _normalise(masses: Tensor, total: Tensor, uniform: Tensor) -> Tensor:
    """masses / total, or ``uniform`` where the total is 0 (an all-zero map), without nan gradients."""
    nonzero = total > 0
    inverse = torch.where(nonzero, 1 / total.clamp_min(torch.finfo(total.dtype).tiny), 0.0)  # clamp: no inf·0
    return torch.addcmul(torch.where(nonzero, 0.0, uniform), masses, inverse)


def attention_density(feat: Tensor) -> Tensor:
    """P = A∘A / ‖A‖²_F per sample, flattened to B×N; a sample whose map is all zero gets the uniform density.

    A is first divided by its largest |value| (P does not change, so the gradient is exact with that scale
    detached): squares stay in range for features of any finite magnitude. Half precision is computed in float32.
    """
    squares = _squares(feat)
    uniform = torch.tensor(1.0 / squares.shape[1], dtype=squares.dtype, device=squares.device)
    return _normalise(squares, squares.sum(dim=1, keepdim=True), uniform)


def _vectors(feat: Tensor, plan: _Plan, vectors: str) -> Tensor:
    # The bag sums are linear, so they are taken over the unnormalised squares and only the small B×K×g result
    # is divided by Σ A² (direction 0's total, for free), in float64.
    masses = _SquaredBagSums.apply(_flat(feat), plan).double()  # B, K, g
    total = masses[:, :1].sum(-1, keepdim=True)
    uniform = plan.uniform_mass
    if vectors == "cdf":
        masses, uniform = masses.cumsum(-1), uniform.cumsum(-1)
    return _normalise(masses, total, uniform)


def _plan_for(feat: Tensor, directions: Tensor, groups: int | None, coords: str, bins: str) -> _Plan:
    if feat.dim() != 4:
        raise ValueError(f"expected B×C×H×W feature maps, got {tuple(feat.shape)}")
    groups = default_groups(feat.shape[1]) if groups is None else groups
    return _Plan(tuple(feat.shape[1:]), directions, groups, coords, bins, feat.device)


def multi_view_vectors(feat: Tensor, directions: Tensor, groups: int | None, coords: str = "index",
                       vectors: str = "mass", bins: str = "width") -> Tensor:
    """Multi-view attention vectors of B×C×H×W features: B×K×groups, float64 (``groups=None``: C/2)."""
    _check_choice("vectors", vectors, VECTORS)
    return _vectors(feat, _plan_for(feat, directions, groups, coords, bins), vectors)


def _swd(vectors_student: Tensor, vectors_teacher: Tensor) -> Tensor:
    return (vectors_student - vectors_teacher).square().sum(-1).mean(-1)


def sliced_wasserstein(student: Tensor, teacher: Tensor, directions: Tensor, groups: int | None,
                       coords: str = "index", vectors: str = "mass", bins: str = "width") -> Tensor:
    """Per-sample SWD (B,), float64: mean over directions of Σ_j (v_S − v_T)². The teacher is detached."""
    check_feature_pair(student, teacher, "sliced_wasserstein")
    _check_choice("vectors", vectors, VECTORS)
    plan = _plan_for(student, directions, groups, coords, bins)
    return _swd(_vectors(student, plan, vectors), _vectors(teacher.detach(), plan, vectors))


def contrastive_partners(labels: Tensor, generator: torch.Generator | None = None
                         ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """For each sample i, a uniformly random other sample with the same label and one with a different label.

    Returns ``(positive, has_positive, negative, has_negative)``, each of shape (B,); where ``has_*`` is False the
    index is meaningless. One B×B uniform draw from ``generator`` (on its device), then moved to the labels' device.
    """
    if labels.dim() != 1:
        raise ValueError(f"labels must be a 1-D tensor, got shape {tuple(labels.shape)}")
    batch = labels.shape[0]
    draw_device = generator.device if generator is not None else torch.device("cpu")
    scores = torch.rand(batch, batch, generator=generator, device=draw_device).to(labels.device)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    itself = torch.eye(batch, dtype=torch.bool, device=labels.device)
    positive_mask, negative_mask = same & ~itself, ~same
    invalid = torch.full_like(scores, -1.0)  # scores are in [0, 1): argmax picks a valid partner when there is one
    positive = torch.where(positive_mask, scores, invalid).argmax(dim=1)
    negative = torch.where(negative_mask, scores, invalid).argmax(dim=1)
    return positive, positive_mask.any(dim=1), negative, negative_mask.any(dim=1)


class MultiViewTerms(NamedTuple):
    """The parts of L_MV, unweighted, per sample (float64 tensors; counts are 0-d tensors, no host sync)."""

    swd: Tensor             # (B,) SWD(S_i, T_i)
    contrastive: Tensor     # (B,) the bracket of L_MV: C(S_i; T) (+ C(T_i; S) with contrast="both"); 0 without it
    margin_active: Tensor   # () hinges with SWD(X_i, Y_neg(i)) < Δ, i.e. where the margin term pushes
    negative_pairs: Tensor  # () hinges computed (samples with a negative partner, per contrast direction)


def _contrastive(anchors: Tensor, others: Tensor, labels: Tensor, margin: float,
                 generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
    """C(X_i; Y) per sample, the number of active hinges and of hinges."""
    positive, has_positive, negative, has_negative = contrastive_partners(labels, generator)
    gap = margin - _swd(anchors, others[negative])
    zero = torch.zeros_like(gap)
    value = (torch.where(has_positive, _swd(anchors, others[positive]), zero)
             + torch.where(has_negative, gap.clamp_min(0), zero))
    return value, (has_negative & (gap > 0)).sum(), has_negative.sum()


def multi_view_terms(student: Tensor, teacher: Tensor, labels: Tensor | None = None, *,
                     directions: Tensor | None = None, num_directions: int = 12, groups: int | None = None,
                     coords: str = "index", vectors: str = "mass", bins: str = "width", contrast: str = "both",
                     margin: float = 0.012, contrastive: bool = True,
                     generator: torch.Generator | None = None) -> MultiViewTerms:
    """The unweighted parts of L_MV of B×C×H×W features (see the module docstring and ``MultiViewTerms``).

    ``directions`` (K×3) overrides the ``num_directions`` random ones. ``labels`` (B,) are needed when
    ``contrastive``; ``contrastive=False`` leaves the bracket at 0 and draws no partners.
    """
    check_feature_pair(student, teacher, "multi_view_attention_loss")
    _check_choice("vectors", vectors, VECTORS)
    _check_choice("contrast", contrast, CONTRASTS)
    if not (margin >= 0 and math.isfinite(margin)):
        raise ValueError(f"multi_view_attention_loss: margin must be finite and >= 0, got {margin}")
    if contrastive:
        if labels is None:
            raise ValueError("multi_view_attention_loss: the contrastive terms need labels")
        if labels.dim() != 1 or labels.shape[0] != student.shape[0]:
            raise ValueError(f"multi_view_attention_loss: labels must have shape ({student.shape[0]},), "
                             f"got {tuple(labels.shape)}")
    if directions is None:
        directions = random_directions(num_directions, generator)
    plan = _plan_for(student, directions, groups, coords, bins)
    vectors_student = _vectors(student, plan, vectors)
    vectors_teacher = _vectors(teacher.detach(), plan, vectors)
    swd = _swd(vectors_student, vectors_teacher)
    zero = torch.zeros((), dtype=torch.int64, device=swd.device)
    if not contrastive:
        return MultiViewTerms(swd, torch.zeros_like(swd), zero, zero)
    labels = labels.to(student.device)
    value, active, pairs = _contrastive(vectors_student, vectors_teacher, labels, margin, generator)
    if contrast == "both":
        reverse, reverse_active, reverse_pairs = _contrastive(vectors_teacher, vectors_student, labels, margin,
                                                              generator)
        value, active, pairs = value + reverse, active + reverse_active, pairs + reverse_pairs
    return MultiViewTerms(swd, value, active, pairs)


def multi_view_attention_loss(student: Tensor, teacher: Tensor, labels: Tensor | None = None, *,
                              directions: Tensor | None = None, num_directions: int = 12,
                              groups: int | None = None, coords: str = "index", vectors: str = "mass",
                              bins: str = "width", contrast: str = "both", gamma: float = 100.0,
                              eta: float = 50.0, margin: float = 0.012, contrastive: bool = True,
                              generator: torch.Generator | None = None) -> Tensor:
    """L_MV of B×C×H×W features, a float64 scalar; see the module docstring.

    ``directions`` (K×3) overrides the ``num_directions`` random ones. ``labels`` (B,) are needed when
    ``contrastive`` and ``eta`` ≠ 0; ``contrastive=False`` is the "MV w/o contrastive" ablation (γ_MV term only).
    """
    for name, value in (("gamma", gamma), ("eta", eta)):
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"multi_view_attention_loss: {name} must be finite and >= 0, got {value}")
    terms = multi_view_terms(student, teacher, labels, directions=directions, num_directions=num_directions,
                             groups=groups, coords=coords, vectors=vectors, bins=bins, contrast=contrast,
                             margin=margin, contrastive=contrastive and eta != 0, generator=generator)
    per_sample = gamma * terms.swd
    if contrastive and eta != 0:
        per_sample = per_sample + eta * terms.contrastive
    return per_sample.mean()
