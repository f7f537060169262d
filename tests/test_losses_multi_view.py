"""Multi-view attention (Eq. 8-9), both forms against slow float64 loops, and its invariances and edge cases.

The default form is the authors' (group masses over equal-width bins, index coordinates, contrast both ways); the CDF
form (CDF at the ends of equal-count groups, unit coordinates, Eq. 9's one-way contrast) is the documented variant.
"""

import math

import pytest
import torch
from loss_inputs import wave

from add.losses import (
    attention_density,
    contrastive_partners,
    default_groups,
    multi_view_attention_loss,
    multi_view_terms,
    multi_view_vectors,
    random_directions,
    sliced_wasserstein,
)

CDF = {"vectors": "cdf", "bins": "count", "coords": "unit"}  # the earlier default, kept as a variant
CDF_LOSS = {**CDF, "contrast": "student"}
FORMS = [("mass", "width"), ("cdf", "width"), ("mass", "count"), ("cdf", "count")]


def close(a, b, rtol=1e-6, atol=1e-9):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    assert a.shape == b.shape and torch.allclose(a, b, rtol=rtol, atol=atol), (a - b).abs().max()


def reference_vectors(feat, directions, groups, coords="index", vectors="mass", bins="width"):
    """The definitions, literally, with Python floats, one sample and one direction at a time."""
    batch, channels, height, width = feat.shape
    n = channels * height * width

    def axis(i, size):
        return (i / (size - 1) if size > 1 else 0.0) if coords == "unit" else float(i)

    points = [(axis(c, channels), axis(h, height), axis(w, width))
              for c in range(channels) for h in range(height) for w in range(width)]
    out = []
    for b in range(batch):
        values = feat[b].double().flatten().tolist()
        total = sum(v * v for v in values)
        density = [v * v / total for v in values] if total > 0 else [1.0 / n] * n
        per_direction = []
        for theta in directions.double().tolist():
            projection = [(theta[0] * x + theta[1] * y) + theta[2] * z for x, y, z in points]
            if bins == "width":
                low, high = min(projection), max(projection)
                masses = [0.0] * groups
                for i in range(n):
                    j = min(math.floor((projection[i] - low) * groups / (high - low)), groups - 1) \
                        if high > low else groups - 1
                    masses[j] += density[i]
                cdf = [sum(masses[:j + 1]) for j in range(groups)]
            else:
                order = sorted(range(n), key=lambda i: projection[i])  # stable: ties keep memory order
                running, cumulative = 0.0, []
                for i in order:
                    running += density[i]
                    cumulative.append(running)
                cdf = [cumulative[(j * n) // groups - 1] for j in range(1, groups + 1)]
                masses = [cdf[0]] + [cdf[j] - cdf[j - 1] for j in range(1, groups)]
            per_direction.append(masses if vectors == "mass" else cdf)
        out.append(per_direction)
    return torch.tensor(out, dtype=torch.float64)


def reference_swd(vectors_student, vectors_teacher):
    return [sum(sum((a - b) ** 2 for a, b in zip(vs, vt, strict=True))
                for vs, vt in zip(s, t, strict=True)) / len(s)
            for s, t in zip(vectors_student.tolist(), vectors_teacher.tolist(), strict=True)]


def reference_contrastive(anchors, others, partners, margin):
    """C(X_i; Y) per sample, and the number of hinges with SWD < Δ."""
    positive, has_positive, negative, has_negative = (p.tolist() for p in partners)
    values, active = [], 0
    for i in range(anchors.shape[0]):
        term = 0.0
        if has_positive[i]:
            term += reference_swd(anchors[i:i + 1], others[positive[i]:positive[i] + 1])[0]
        if has_negative[i]:
            gap = margin - reference_swd(anchors[i:i + 1], others[negative[i]:negative[i] + 1])[0]
            term += max(gap, 0.0)
            active += gap > 0
        values.append(term)
    return values, active


def reference_loss(student, teacher, directions, groups, partners, gamma=100.0, eta=50.0, margin=0.012,
                   form=None, reverse_partners=None):
    """L_MV from the loops; ``reverse_partners`` adds C(T_i; S) (contrast both)."""
    form = form or {}
    vs, vt = (reference_vectors(x, directions, groups, **form) for x in (student, teacher))
    swd = reference_swd(vs, vt)
    contrast, _ = reference_contrastive(vs, vt, partners, margin)
    if reverse_partners is not None:
        reverse, _ = reference_contrastive(vt, vs, reverse_partners, margin)
        contrast = [a + b for a, b in zip(contrast, reverse, strict=True)]
    return sum(gamma * s + eta * c for s, c in zip(swd, contrast, strict=True)) / student.shape[0]


# ---------------------------------------------------------------------------------------- both forms vs loops


@pytest.mark.parametrize("vectors,bins", FORMS)
@pytest.mark.parametrize("shape,groups,coords", [
    ((2, 4, 3, 5), 2, "index"),     # N divisible by groups
    ((2, 5, 3, 2), 7, "index"),     # unequal groups
    ((1, 6, 1, 1), 4, "index"),     # size-1 dimensions
    ((2, 3, 4, 4), 48, "index"),    # one element per count group; many empty width bins
    ((1, 3, 2, 2), 1, "index"),     # a single group: the vector is [1]
    ((2, 4, 3, 5), 3, "unit"),
    ((2, 5, 3, 2), 7, "unit"),
])
def test_vectors_match_the_float64_loop(shape, groups, coords, vectors, bins):
    feat = wave(*shape)
    directions = random_directions(5, torch.Generator().manual_seed(1))
    got = multi_view_vectors(feat, directions, groups, coords, vectors=vectors, bins=bins)
    assert got.shape == (shape[0], 5, groups) and got.dtype == torch.float64
    close(got, reference_vectors(feat, directions, groups, coords, vectors, bins), rtol=1e-12, atol=1e-14)
    total = got.sum(-1) if vectors == "mass" else got[..., -1]
    close(total, torch.ones(shape[0], 5))
    close(multi_view_vectors(feat.float(), directions, groups, coords, vectors=vectors, bins=bins), got,
          rtol=1e-5, atol=1e-6)


def test_width_bins_are_equal_width_in_projection_not_equal_count():
    feat = wave(2, 6, 3, 3)
    direction = torch.tensor([[0.3, 0.9, -0.31]], dtype=torch.float64)
    direction = direction / direction.norm()
    width = multi_view_vectors(feat, direction, 4, "index")
    count = multi_view_vectors(feat, direction, 4, "index", bins="count")
    assert (width - count).abs().max() > 1e-3  # different groupings of the same elements
    # uniform P: a width bin's mass is the share of elements whose projection falls in it (here: a bell shape)
    uniform = multi_view_vectors(torch.ones(1, 6, 3, 3), direction, 4, "index")[0, 0]
    assert uniform[1] > uniform[0] and uniform[2] > uniform[3]
    close(multi_view_vectors(torch.ones(1, 6, 3, 3), direction, 4, "index", bins="count")[0, 0],
          [13 / 54, 14 / 54, 13 / 54, 14 / 54])  # ⌊jN/g⌋: 0, 13, 27, 40


@pytest.mark.parametrize("vectors,bins", FORMS)
def test_sliced_wasserstein_matches_the_loop(vectors, bins):
    student, teacher = wave(3, 4, 3, 3), wave(3, 4, 3, 3, phase=0.7, scale=2.0)
    directions = random_directions(4, torch.Generator().manual_seed(2))
    expected = reference_swd(reference_vectors(student, directions, 2, "index", vectors, bins),
                             reference_vectors(teacher, directions, 2, "index", vectors, bins))
    close(sliced_wasserstein(student, teacher, directions, 2, vectors=vectors, bins=bins), expected, rtol=1e-10)


@pytest.mark.parametrize("labels", [[0, 1, 1, 0, 1], [1, 1, 1, 1, 1], [0, 1], [1, 1], [0], [2, 0, 1, 2, 0]])
def test_default_loss_matches_the_loop_for_any_label_mix(labels):
    batch = len(labels)
    student, teacher = wave(batch, 4, 3, 3), wave(batch, 4, 3, 3, phase=0.4, scale=1.7)
    labels = torch.tensor(labels)
    directions = random_directions(3, torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(4)
    partners = contrastive_partners(labels, generator)  # C(S; T)'s partners are drawn first, then C(T; S)'s
    reverse_partners = contrastive_partners(labels, generator)
    got = multi_view_attention_loss(student, teacher, labels, directions=directions, groups=2,
                                    generator=torch.Generator().manual_seed(4))
    expected = reference_loss(student, teacher, directions, 2, partners, reverse_partners=reverse_partners)
    assert got.item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("labels", [[0, 1, 1, 0, 1], [1, 1, 1, 1, 1], [0, 1], [1, 1], [0], [2, 0, 1, 2, 0]])
def test_cdf_loss_matches_the_loop_for_any_label_mix(labels):
    batch = len(labels)
    student, teacher = wave(batch, 4, 3, 3), wave(batch, 4, 3, 3, phase=0.4, scale=1.7)
    labels = torch.tensor(labels)
    directions = random_directions(3, torch.Generator().manual_seed(3))
    partners = contrastive_partners(labels, torch.Generator().manual_seed(4))
    got = multi_view_attention_loss(student, teacher, labels, directions=directions, groups=2,
                                    generator=torch.Generator().manual_seed(4), **CDF_LOSS)
    expected = reference_loss(student, teacher, directions, 2, partners, form=CDF)
    assert got.item() == pytest.approx(expected, rel=1e-10)


def test_terms_and_margin_counts_match_the_loop():
    labels = torch.tensor([0, 1, 1, 0, 1, 0])
    student, teacher = wave(6, 4, 3, 3), wave(6, 4, 3, 3, phase=0.2, scale=1.3)
    directions = random_directions(4, torch.Generator().manual_seed(8))
    generator = torch.Generator().manual_seed(9)
    partners, reverse_partners = contrastive_partners(labels, generator), contrastive_partners(labels, generator)
    margin = 0.05  # between the SWDs of these samples, so that some hinges are active and some are not
    terms = multi_view_terms(student, teacher, labels, directions=directions, groups=2, margin=margin,
                             generator=torch.Generator().manual_seed(9))
    vs, vt = (reference_vectors(x, directions, 2) for x in (student, teacher))
    forward, active = reference_contrastive(vs, vt, partners, margin)
    backward, reverse_active = reference_contrastive(vt, vs, reverse_partners, margin)
    close(terms.swd, reference_swd(vs, vt), rtol=1e-10)
    close(terms.contrastive, [a + b for a, b in zip(forward, backward, strict=True)], rtol=1e-10)
    assert terms.negative_pairs.item() == 12
    assert terms.margin_active.item() == active + reverse_active
    assert 0 < terms.margin_active.item() < 12


# -------------------------------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("coords", ["index", "unit"])
def test_a_direction_along_one_axis_gives_that_axis_attention(coords):
    feat = wave(2, 6, 4, 3)
    density = feat.square() / feat.square().sum(dim=(1, 2, 3), keepdim=True)
    channel, row, column = density.sum(dim=(2, 3)), density.sum(dim=(1, 3)), density.sum(dim=(1, 2))
    axes = torch.eye(3, dtype=torch.float64)
    for direction, attention in zip(axes, (channel, row, column), strict=True):
        size = attention.shape[1]
        got = multi_view_vectors(feat, direction[None], size, coords)[:, 0]  # one bin per channel / row / column
        close(got, attention, rtol=1e-12)
        close(multi_view_vectors(feat, direction[None], size, coords, vectors="cdf")[:, 0], attention.cumsum(1),
              rtol=1e-12)
    # C/2 bins: two channels per bin, in both bin modes
    for bins in ("width", "count"):
        close(multi_view_vectors(feat, axes[:1], 3, coords, bins=bins)[:, 0],
              channel.reshape(2, 3, 2).sum(-1), rtol=1e-12)


def test_the_element_at_the_max_is_in_the_last_bin_and_a_flat_projection_puts_all_there():
    feat = torch.zeros(1, 4, 1, 1, dtype=torch.float64)
    feat[0, 3] = 1.0  # all the mass on the last channel, which projects to the max
    close(multi_view_vectors(feat, torch.tensor([[1.0, 0.0, 0.0]]), 3)[0, 0], [0.0, 0.0, 1.0])
    feat = wave(1, 4, 1, 1)
    along_h = torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64)  # H = 1: every element projects to 0
    close(multi_view_vectors(feat, along_h, 2)[0, 0], [0.0, 1.0])
    close(multi_view_vectors(feat, along_h, 2, vectors="cdf")[0, 0], [0.0, 1.0])


@pytest.mark.parametrize("vectors,bins", FORMS)
def test_all_zero_maps_give_the_uniform_density_and_finite_gradients(vectors, bins):
    zero = torch.zeros(2, 4, 2, 2, requires_grad=True)
    close(attention_density(zero), torch.full((2, 16), 1 / 16))
    directions = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.6, 0.8]], dtype=torch.float64)
    got = multi_view_vectors(zero, directions, 2, vectors=vectors, bins=bins)
    expected = reference_vectors(torch.ones(2, 4, 2, 2), directions, 2, "index", vectors, bins)
    close(got, expected, rtol=1e-12)
    loss = multi_view_attention_loss(zero, torch.zeros(2, 4, 2, 2), torch.tensor([0, 1]), vectors=vectors,
                                     bins=bins, contrast="student")
    loss.backward()  # both maps uniform: SWD 0, so only the margin of the negative pair is left
    assert loss.item() == pytest.approx(50 * 0.012) and torch.isfinite(zero.grad).all()
    both = multi_view_attention_loss(zero, torch.zeros(2, 4, 2, 2), torch.tensor([0, 1]), vectors=vectors,
                                     bins=bins)
    assert both.item() == pytest.approx(2 * 50 * 0.012)  # the margin once per contrast direction


@pytest.mark.parametrize("form", [{}, CDF_LOSS])
def test_a_batch_of_one_has_no_partner_and_only_the_gamma_term(form):
    student, teacher = wave(1, 4, 3, 3), wave(1, 4, 3, 3, phase=0.4)
    directions = random_directions(3, torch.Generator().manual_seed(0))
    student = student.clone().requires_grad_()
    loss = multi_view_attention_loss(student, teacher, torch.tensor([1]), directions=directions, **form)
    swd_form = {k: v for k, v in form.items() if k != "contrast"}
    swd = sliced_wasserstein(student, teacher, directions, None, **swd_form)
    close(loss, 100 * swd[0], rtol=1e-12)
    loss.backward()
    assert torch.isfinite(student.grad).all() and student.grad.abs().sum() > 0
    terms = multi_view_terms(student, teacher, torch.tensor([1]), directions=directions)
    assert terms.negative_pairs.item() == 0 and terms.contrastive.item() == 0


def test_one_class_batch_has_no_negative_term_and_two_samples_work():
    directions = random_directions(3, torch.Generator().manual_seed(0))
    student, teacher = wave(2, 4, 2, 2), wave(2, 4, 2, 2, phase=0.3)
    for form, ways in ((CDF_LOSS, 1), ({}, 2)):
        swd_form = {k: v for k, v in form.items() if k != "contrast"}
        swd = sliced_wasserstein(student, teacher, directions, 2, **swd_form)
        to_other = sliced_wasserstein(student, teacher.flip(0), directions, 2, **swd_form)
        from_other = sliced_wasserstein(student.flip(0), teacher, directions, 2, **swd_form)  # C(T_i; S)
        reverse = from_other if ways == 2 else torch.zeros_like(swd)
        same = multi_view_attention_loss(student, teacher, torch.tensor([1, 1]), directions=directions, groups=2,
                                         **form)
        close(same, (100 * swd + 50 * (to_other + reverse)).mean(), rtol=1e-12)  # each one's only partner
        different = multi_view_attention_loss(student, teacher, torch.tensor([0, 1]), directions=directions,
                                              groups=2, **form)
        hinge = (0.012 - to_other).clamp_min(0) + ((0.012 - from_other).clamp_min(0) if ways == 2 else 0)
        close(different, (100 * swd + 50 * hinge).mean(), rtol=1e-12)


@pytest.mark.parametrize("form", [{}, CDF_LOSS])
def test_zero_when_student_equals_teacher_and_no_partner(form):
    feat = wave(1, 4, 3, 3)
    assert multi_view_attention_loss(feat, feat.clone(), torch.tensor([1]), **form).item() == 0.0
    feats = wave(4, 4, 3, 3)
    assert multi_view_attention_loss(feats, feats.clone(), None, contrastive=False, **form).item() == 0.0
    assert multi_view_attention_loss(feats, feats.clone(), torch.tensor([0, 1, 0, 1]), eta=0.0, **form).item() == 0


@pytest.mark.parametrize("form", [{}, CDF])
def test_invariant_to_scaling_the_features(form):
    student, teacher = wave(3, 4, 3, 3), wave(3, 4, 3, 3, phase=0.5)
    directions = random_directions(4, torch.Generator().manual_seed(5))
    vectors = multi_view_vectors(student, directions, 2, **form)
    for factor in (7.3, 1e-20, 1e3, 1e30):
        close(multi_view_vectors(student * factor, directions, 2, **form), vectors, rtol=1e-12, atol=1e-15)
    labels = torch.tensor([0, 1, 1])
    losses = [multi_view_attention_loss(student.float() * factor, teacher.float(), labels, directions=directions,
                                        generator=torch.Generator().manual_seed(6), **form).item()
              for factor in (1.0, 1e3, 1e-3)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5) and losses[2] == pytest.approx(losses[0], rel=1e-5)


@pytest.mark.parametrize("form", [{}, CDF_LOSS])
def test_finite_on_features_times_1e3(form):
    torch.manual_seed(0)
    teacher = torch.relu(torch.randn(4, 8, 4, 4)) * 1e3
    student = (teacher + 300 * torch.randn_like(teacher)).relu().requires_grad_()
    loss = multi_view_attention_loss(student, teacher, torch.tensor([0, 1, 0, 1]),
                                     generator=torch.Generator().manual_seed(0), **form)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()


@pytest.mark.parametrize("form", [{}, CDF_LOSS])
def test_gradients_reach_the_student_and_never_the_teacher(form):
    student = wave(3, 4, 3, 3).float().requires_grad_()
    teacher = wave(3, 4, 3, 3, phase=1.0).float().requires_grad_()
    loss = multi_view_attention_loss(student, teacher, torch.tensor([0, 0, 1]),
                                     generator=torch.Generator().manual_seed(0), **form)
    loss.backward()
    assert teacher.grad is None
    assert torch.isfinite(student.grad).all() and student.grad.abs().sum() > 0


@pytest.mark.parametrize("vectors,bins", FORMS)
@pytest.mark.parametrize("shape,groups", [((2, 4, 3, 2), 3), ((2, 4, 2, 2), 5), ((1, 2, 2, 2), 8)])
def test_vectors_gradient_is_exact(shape, groups, vectors, bins):
    feat = (wave(*shape) + 0.1).requires_grad_()  # no exact zeros: P is smooth there
    directions = random_directions(3, torch.Generator().manual_seed(7))
    assert torch.autograd.gradcheck(lambda x: multi_view_vectors(x, directions, groups, vectors=vectors,
                                                                 bins=bins), (feat,))


def test_seeded_directions_and_partners_are_reproducible():
    student, teacher = wave(6, 4, 3, 3), wave(6, 4, 3, 3, phase=0.2)
    labels = torch.tensor([0, 1, 0, 1, 1, 0])

    def run(seed):
        return multi_view_attention_loss(student, teacher, labels, generator=torch.Generator().manual_seed(seed))

    assert run(0).item() == run(0).item()
    assert run(0).item() != run(1).item()
    same = random_directions(12, torch.Generator().manual_seed(3))
    assert torch.equal(same, random_directions(12, torch.Generator().manual_seed(3)))
    close(same.norm(dim=1), torch.ones(12), rtol=1e-12)


def test_partners_are_valid_and_uniform():
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    generator = torch.Generator().manual_seed(0)
    seen_positive, seen_negative = set(), set()
    for _ in range(300):
        positive, has_positive, negative, has_negative = contrastive_partners(labels, generator)
        assert has_positive.tolist() == [True, True, True, True, True, False]
        assert has_negative.all()
        for i in range(5):
            assert positive[i] != i and labels[positive[i]] == labels[i]
        assert (labels[negative] != labels).all()
        seen_positive.add(positive[0].item())
        seen_negative.add(negative[0].item())
    assert seen_positive == {1, 2} and seen_negative == {3, 4, 5}


def test_the_mass_form_is_much_smaller_than_the_cdf_form():
    """The reason for the default: with g = C/2 groups the CDF form's SWD is roughly g/6 times the mass form's."""
    torch.manual_seed(0)
    teacher = torch.relu(torch.randn(4, 64, 6, 6, dtype=torch.float64))
    student = torch.relu(teacher + torch.randn_like(teacher))
    directions = random_directions(12, torch.Generator().manual_seed(0))
    mass = sliced_wasserstein(student, teacher, directions, None)
    cdf = sliced_wasserstein(student, teacher, directions, None, vectors="cdf")
    assert cdf.mean() > 3 * mass.mean()  # 7x here (g = 32); ~20-170x on trained ResNet stages (bench/loss_scale.py)


def test_pinned_values():
    student, teacher = wave(3, 4, 3, 3), wave(3, 4, 3, 3, phase=0.4, scale=1.7)
    directions = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.6, 0.8], [0.48, -0.6, 0.64]], dtype=torch.float64)
    # two samples of one class: each is the other's only positive partner, no negatives: no randomness left
    two = multi_view_attention_loss(student[:2], teacher[:2], torch.tensor([4, 4]), directions=directions,
                                    **CDF_LOSS)
    assert two.item() == pytest.approx(PINNED_MV_SAME, rel=1e-9)
    swd = sliced_wasserstein(student, teacher, directions, groups=None, coords="index", vectors="cdf",
                             bins="count")
    close(swd, PINNED_SWD_INDEX, rtol=1e-9)
    nocontrast = multi_view_attention_loss(student, teacher, None, directions=directions, contrastive=False,
                                           **CDF_LOSS)
    assert nocontrast.item() == pytest.approx(PINNED_MV_NOCONTRAST, rel=1e-9)
    # the default (the authors' form): two samples, contrast both ways, still no randomness
    two = multi_view_attention_loss(student[:2], teacher[:2], torch.tensor([4, 4]), directions=directions)
    assert two.item() == pytest.approx(PINNED_MASS_SAME, rel=1e-9)
    close(sliced_wasserstein(student, teacher, directions, groups=None), PINNED_SWD_MASS, rtol=1e-9)
    nocontrast = multi_view_attention_loss(student, teacher, None, directions=directions, contrastive=False)
    assert nocontrast.item() == pytest.approx(PINNED_MASS_NOCONTRAST, rel=1e-9)


# computed once with this implementation (and equal to the reference loops above)
PINNED_MV_SAME = 1.346646647538917
PINNED_SWD_INDEX = [0.0022207659031976412, 0.004830829392132538, 0.003105226594259806]
PINNED_MV_NOCONTRAST = 0.7385478937309604
PINNED_MASS_SAME = 2.51530618368126
PINNED_SWD_MASS = [0.004354842923272183, 0.01037185762347564, 0.007999255952488885]
PINNED_MASS_NOCONTRAST = 0.7575318833078902


def test_default_groups_and_bad_arguments():
    assert default_groups(512) == 256 and default_groups(1) == 1 and default_groups(3) == 1
    feat = wave(2, 4, 2, 2)
    directions = random_directions(2)
    with pytest.raises(ValueError, match="groups"):
        multi_view_vectors(feat, directions, 17)
    with pytest.raises(ValueError, match="groups"):
        multi_view_vectors(feat, directions, 0)
    with pytest.raises(ValueError, match="coords"):
        multi_view_vectors(feat, directions, 2, coords="pixels")
    with pytest.raises(ValueError, match="vectors"):
        multi_view_vectors(feat, directions, 2, vectors="pdf")
    with pytest.raises(ValueError, match="bins"):
        multi_view_vectors(feat, directions, 2, bins="quantile")
    with pytest.raises(ValueError, match="contrast"):
        multi_view_attention_loss(feat, feat, torch.tensor([0, 1]), contrast="teacher")
    with pytest.raises(ValueError, match="K×3"):
        multi_view_vectors(feat, torch.ones(2, 2), 2)
    with pytest.raises(ValueError, match="labels"):
        multi_view_attention_loss(feat, feat, torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="labels"):
        multi_view_attention_loss(feat, feat, None)
    with pytest.raises(ValueError, match="same shape"):
        multi_view_attention_loss(feat, wave(2, 4, 2, 3), torch.tensor([0, 1]))
