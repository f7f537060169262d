"""Multi-view attention distillation loss (ADD, Eq. 8-9): a sliced Wasserstein distance between attention densities.

Attention density of a feature map A (C×H×W), per sample:

    P = A∘A / ‖A‖²_F                          (a probability over the N = C·H·W elements; uniform if A = 0)

Element (c, h, w) sits at x = (c/(C−1), h/(H−1), w/(W−1)) (``coords="unit"``, 0 for a dimension of size 1) or at
x = (c, h, w) (``coords="index"``, the authors' code). For each direction θ_k (k = 1..K, rows of ``directions``,
order (c, h, w)) the elements are sorted by ⟨θ_k, x⟩ (stable: ties keep memory order), P is cumulated in that order,
and the cumulative distribution is read at the ends of ``groups`` equal-count groups:

    v_k[j] = Σ_{r ≤ ⌊j·N/groups⌋ − 1} P[τ_k(r)],     j = 1..groups      (τ_k: the sorting permutation; v_k[groups] = 1)

θ = (1, 0, 0) gives the cumulative channel attention, (0, 1, 0) the cumulative row attention.

    SWD(S, T) = (1/K) Σ_k Σ_j (v_k^S[j] − v_k^T[j])²

    L_MV = mean_i { γ_MV · SWD(S_i, T_i) + η_MV · [ SWD(S_i, T_pos(i)) + max(Δ − SWD(S_i, T_neg(i)), 0) ] }

T_pos(i) / T_neg(i): the teacher features of another sample of the batch, drawn uniformly, with the same / a different
label; a sample without such a partner gets no such term (one-class and two-sample batches work). The K directions
are drawn uniformly on the sphere per call. Randomness comes from the ``generator`` (directions first, then partners),
drawn on its device (CPU by default) and copied to the features' device: K×3 and B×B numbers, host to device, which
never waits for the device; a generator on the features' device avoids even that copy. (The authors' code sorts the
projections but then cumulates P in memory order and bins by projection range; this follows the definition above.)

Implementation: the sort depends only on (C, H, W) and θ, so it is done once per call (K sorts of N, in float64) and
shared by the batch, the student and the teacher. Group masses are exact segment sums of the sorted squares (bag
sums with ``embedding_bag``, no B×K×N tensor), and the CDF is their cumulative sum over groups (more accurate than a
float32 cumsum over N), normalised on that small B×K×g result. Forward and backward are deterministic on every
device. Everything is vectorised over batch and directions, with no host synchronisation and no numpy.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from add.losses.common import check_feature_pair, rescale_by_max_abs

COORDS = ("unit", "index")


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


def element_coordinates(channels: int, height: int, width: int, coords: str = "unit",
                        device: torch.device | str | None = None) -> Tensor:
    """N×3 float64 coordinates (c, h, w) of the elements of a C×H×W map, in memory (row-major) order."""
    if coords not in COORDS:
        raise ValueError(f"coords must be one of {list(COORDS)}, got {coords!r}")
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


def _group_starts(n: int, groups: int, device: torch.device) -> Tensor:
    """First sorted position of each group: group j (1-based) holds positions ⌊(j−1)N/g⌋ .. ⌊jN/g⌋ − 1."""
    return torch.arange(groups, device=device) * n // groups


class _Plan:
    """Per direction: the sorting permutation, and the (direction, group) bag each element falls in."""

    def __init__(self, shape: tuple[int, int, int], directions: Tensor, groups: int, coords: str,
                 device: torch.device):
        channels, height, width = shape
        n = channels * height * width
        if directions.dim() != 2 or directions.shape[1] != 3 or directions.shape[0] < 1:
            raise ValueError(f"directions must be K×3 (order c, h, w) with K >= 1, got {tuple(directions.shape)}")
        if isinstance(groups, bool) or not isinstance(groups, int) or not 1 <= groups <= n:
            raise ValueError(f"groups must be an integer in [1, C·H·W = {n}], got {groups!r}")
        count = directions.shape[0]
        positions = _cached_coordinates(channels, height, width, coords, device)
        projections = directions.to(device=device, dtype=torch.float64) @ positions.T  # K, N
        order = torch.sort(projections, dim=1, stable=True).indices  # K, N
        starts = _group_starts(n, groups, device)
        # bag (direction k, group j) = sorted positions of group j in direction k, i.e. a slice of order[k]
        self.order = order.reshape(-1)
        self.offsets = (torch.arange(count, device=device).unsqueeze(1) * n + starts).reshape(-1)
        position = torch.arange(n, device=device)
        group_of_position = ((position + 1) * groups + n - 1) // n - 1  # the j with starts[j] <= position < starts[j+1]
        bag_of_position = group_of_position + torch.arange(count, device=device).unsqueeze(1) * groups  # K, N
        # for the backward: the K bags each element belongs to, one row per element
        self.bags_of_element = torch.empty_like(order).scatter_(1, order, bag_of_position).T.contiguous()  # N, K
        self.directions, self.groups, self.n = count, groups, n
        self.uniform_cdf = torch.cat([starts[1:], starts.new_tensor([n])]).double() / n  # an all-zero map's vectors


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
        sums = F.embedding_bag(plan.order, table, plan.offsets, mode="sum")  # K·g, B
        ctx.save_for_backward(flat, inverse)
        ctx.plan = plan
        return sums.view(plan.directions, plan.groups, batch).permute(2, 0, 1)

    @staticmethod
    def backward(ctx, grad_sums: Tensor):
        flat, inverse = ctx.saved_tensors
        plan = ctx.plan
        grad = grad_sums.permute(1, 2, 0).reshape(plan.directions * plan.groups, -1).contiguous()  # K·g, B
        grad_table = F.embedding_bag(plan.bags_of_element, grad, mode="sum")  # N, B
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


def _vectors(feat: Tensor, plan: _Plan) -> Tensor:
    # The bag sums are linear, so they are taken over the unnormalised squares and only the small B×K×g result
    # is divided by Σ A²: that sum is direction 0's total, for free.
    cumulative = _SquaredBagSums.apply(_flat(feat), plan).cumsum(-1)  # B, K, g
    return _normalise(cumulative, cumulative[:, :1, -1:], plan.uniform_cdf.to(cumulative.dtype))


def _plan_for(feat: Tensor, directions: Tensor, groups: int | None, coords: str) -> _Plan:
    if feat.dim() != 4:
        raise ValueError(f"expected B×C×H×W feature maps, got {tuple(feat.shape)}")
    groups = default_groups(feat.shape[1]) if groups is None else groups
    return _Plan(tuple(feat.shape[1:]), directions, groups, coords, feat.device)


def multi_view_vectors(feat: Tensor, directions: Tensor, groups: int | None, coords: str = "unit") -> Tensor:
    """Multi-view attention vectors of B×C×H×W features: B×K×groups (``groups=None``: C/2)."""
    return _vectors(feat, _plan_for(feat, directions, groups, coords))


def _swd(vectors_student: Tensor, vectors_teacher: Tensor) -> Tensor:
    return (vectors_student - vectors_teacher).square().sum(-1).mean(-1)


def sliced_wasserstein(student: Tensor, teacher: Tensor, directions: Tensor, groups: int | None,
                       coords: str = "unit") -> Tensor:
    """Per-sample SWD (B,): mean over directions of Σ_j (v_S − v_T)². The teacher is detached."""
    check_feature_pair(student, teacher, "sliced_wasserstein")
    plan = _plan_for(student, directions, groups, coords)
    return _swd(_vectors(student, plan), _vectors(teacher.detach(), plan))


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


def multi_view_attention_loss(student: Tensor, teacher: Tensor, labels: Tensor | None = None, *,
                              directions: Tensor | None = None, num_directions: int = 12,
                              groups: int | None = None, coords: str = "unit", gamma: float = 100.0,
                              eta: float = 50.0, margin: float = 0.012, contrastive: bool = True,
                              generator: torch.Generator | None = None) -> Tensor:
    """L_MV (Eq. 9) of B×C×H×W features, a scalar; see the module docstring.

    ``directions`` (K×3) overrides the ``num_directions`` random ones. ``labels`` (B,) are needed when
    ``contrastive`` and ``eta`` ≠ 0; ``contrastive=False`` is the "MV w/o contrastive" ablation (γ_MV term only).
    """
    check_feature_pair(student, teacher, "multi_view_attention_loss")
    for name, value in (("gamma", gamma), ("eta", eta), ("margin", margin)):
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"multi_view_attention_loss: {name} must be finite and >= 0, got {value}")
    use_partners = contrastive and eta != 0
    if use_partners:
        if labels is None:
            raise ValueError("multi_view_attention_loss: the contrastive terms need labels")
        if labels.dim() != 1 or labels.shape[0] != student.shape[0]:
            raise ValueError(f"multi_view_attention_loss: labels must have shape ({student.shape[0]},), "
                             f"got {tuple(labels.shape)}")
    if directions is None:
        directions = random_directions(num_directions, generator)
    plan = _plan_for(student, directions, groups, coords)
    vectors_student = _vectors(student, plan)
    vectors_teacher = _vectors(teacher.detach(), plan)
    per_sample = gamma * _swd(vectors_student, vectors_teacher)
    if use_partners:
        positive, has_positive, negative, has_negative = contrastive_partners(labels.to(student.device), generator)
        to_positive = _swd(vectors_student, vectors_teacher[positive])
        to_negative = _swd(vectors_student, vectors_teacher[negative])
        zero = torch.zeros_like(per_sample)
        per_sample = per_sample + eta * (torch.where(has_positive, to_positive, zero)
                                         + torch.where(has_negative, (margin - to_negative).clamp_min(0), zero))
    return per_sample.mean()
