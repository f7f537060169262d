"""Multi-view attention (Eq. 8-9) against slow float64 loops, and its invariances and edge cases."""


import pytest
import torch
from loss_inputs import wave

from add.losses import (
    attention_density,
    contrastive_partners,
    default_groups,
    multi_view_attention_loss,
    multi_view_vectors,
    random_directions,
    sliced_wasserstein,
)


def close(a, b, rtol=1e-6, atol=1e-9):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    assert a.shape == b.shape and torch.allclose(a, b, rtol=rtol, atol=atol), (a - b).abs().max()


def reference_vectors(feat, directions, groups, coords="unit"):
    """The definition, literally: sort the elements by projection, cumulate P in that order, read the group ends."""
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
            projection = [theta[0] * x + theta[1] * y + theta[2] * z for x, y, z in points]
            order = sorted(range(n), key=lambda i: projection[i])  # stable: ties keep memory order
            cdf, running = [], 0.0
            for i in order:
                running += density[i]
                cdf.append(running)
            per_direction.append([cdf[(j * n) // groups - 1] for j in range(1, groups + 1)])
        out.append(per_direction)
    return torch.tensor(out, dtype=torch.float64)


def reference_swd(vectors_student, vectors_teacher):
    return [sum(sum((a - b) ** 2 for a, b in zip(vs, vt, strict=True))
                for vs, vt in zip(s, t, strict=True)) / len(s)
            for s, t in zip(vectors_student.tolist(), vectors_teacher.tolist(), strict=True)]


def reference_loss(student, teacher, directions, groups, partners, gamma=100.0, eta=50.0, margin=0.012):
    positive, has_positive, negative, has_negative = (p.tolist() for p in partners)
    vs, vt = reference_vectors(student, directions, groups), reference_vectors(teacher, directions, groups)
    total = 0.0
    for i in range(student.shape[0]):
        term = gamma * reference_swd(vs[i:i + 1], vt[i:i + 1])[0]
        if has_positive[i]:
            term += eta * reference_swd(vs[i:i + 1], vt[positive[i]:positive[i] + 1])[0]
        if has_negative[i]:
            term += eta * max(margin - reference_swd(vs[i:i + 1], vt[negative[i]:negative[i] + 1])[0], 0.0)
        total += term
    return total / student.shape[0]


@pytest.mark.parametrize("shape,groups,coords", [
    ((2, 4, 3, 5), 2, "unit"),      # equal groups (N divisible by groups)
    ((2, 5, 3, 2), 7, "unit"),      # unequal groups
    ((1, 6, 1, 1), 4, "unit"),      # size-1 dimensions
    ((2, 3, 4, 4), 48, "index"),    # one element per group, the authors' integer coordinates
    ((1, 3, 2, 2), 1, "unit"),      # a single group: the vector is [1]
])
def test_vectors_match_the_float64_loop(shape, groups, coords):
    feat = wave(*shape)
    directions = random_directions(5, torch.Generator().manual_seed(1))
    got = multi_view_vectors(feat, directions, groups, coords)
    assert got.shape == (shape[0], 5, groups)
    close(got, reference_vectors(feat, directions, groups, coords), rtol=1e-12, atol=1e-14)
    close(got[..., -1], torch.ones(shape[0], 5))
    close(multi_view_vectors(feat.float(), directions, groups, coords), got, rtol=1e-5, atol=1e-6)


def test_axis_directions_give_channel_and_row_attention():
    feat = wave(2, 6, 4, 3)
    density = feat.square() / feat.square().sum(dim=(1, 2, 3), keepdim=True)
    axes = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    channel = multi_view_vectors(feat, axes[:1], groups=3)[:, 0]  # C/2 groups: two channels per group
    close(channel, density.sum(dim=(2, 3)).cumsum(1)[:, 1::2], rtol=1e-12)
    rows = multi_view_vectors(feat, axes[1:], groups=4)[:, 0]  # H groups: one row per group
    close(rows, density.sum(dim=(1, 3)).cumsum(1), rtol=1e-12)


def test_sliced_wasserstein_matches_the_loop():
    student, teacher = wave(3, 4, 3, 3), wave(3, 4, 3, 3, phase=0.7, scale=2.0)
    directions = random_directions(4, torch.Generator().manual_seed(2))
    expected = reference_swd(reference_vectors(student, directions, 2), reference_vectors(teacher, directions, 2))
    close(sliced_wasserstein(student, teacher, directions, 2), expected, rtol=1e-10)


@pytest.mark.parametrize("labels", [[0, 1, 1, 0, 1], [1, 1, 1, 1, 1], [0, 1], [1, 1], [0], [2, 0, 1, 2, 0]])
def test_loss_matches_the_loop_for_any_label_mix(labels):
    batch = len(labels)
    student, teacher = wave(batch, 4, 3, 3), wave(batch, 4, 3, 3, phase=0.4, scale=1.7)
    labels = torch.tensor(labels)
    directions = random_directions(3, torch.Generator().manual_seed(3))
    partners = contrastive_partners(labels, torch.Generator().manual_seed(4))
    got = multi_view_attention_loss(student, teacher, labels, directions=directions, groups=2,
                                    generator=torch.Generator().manual_seed(4))
    expected = reference_loss(student, teacher, directions, 2, partners)
    assert got.item() == pytest.approx(expected, rel=1e-10)


def test_one_class_batch_has_no_negative_term_and_two_samples_work():
    directions = random_directions(3, torch.Generator().manual_seed(0))
    student, teacher = wave(2, 4, 2, 2), wave(2, 4, 2, 2, phase=0.3)
    swd = sliced_wasserstein(student, teacher, directions, 2)
    to_other = sliced_wasserstein(student, teacher.flip(0), directions, 2)
    same = multi_view_attention_loss(student, teacher, torch.tensor([1, 1]), directions=directions, groups=2)
    close(same, (100 * swd + 50 * to_other).mean(), rtol=1e-12)  # each sample's only partner is the other
    different = multi_view_attention_loss(student, teacher, torch.tensor([0, 1]), directions=directions, groups=2)
    close(different, (100 * swd + 50 * (0.012 - to_other).clamp_min(0)).mean(), rtol=1e-12)


def test_zero_when_student_equals_teacher_and_no_partner():
    feat = wave(1, 4, 3, 3)
    assert multi_view_attention_loss(feat, feat.clone(), torch.tensor([1])).item() == 0.0
    feats = wave(4, 4, 3, 3)
    assert multi_view_attention_loss(feats, feats.clone(), None, contrastive=False).item() == 0.0
    assert multi_view_attention_loss(feats, feats.clone(), torch.tensor([0, 1, 0, 1]), eta=0.0).item() == 0.0


def test_invariant_to_scaling_the_features():
    student, teacher = wave(3, 4, 3, 3), wave(3, 4, 3, 3, phase=0.5)
    directions = random_directions(4, torch.Generator().manual_seed(5))
    vectors = multi_view_vectors(student, directions, 2)
    for factor in (7.3, 1e-20, 1e3, 1e30):
        close(multi_view_vectors(student * factor, directions, 2), vectors, rtol=1e-12, atol=1e-15)
    labels = torch.tensor([0, 1, 1])
    losses = [multi_view_attention_loss(student.float() * factor, teacher.float(), labels, directions=directions,
                                        generator=torch.Generator().manual_seed(6)).item()
              for factor in (1.0, 1e3, 1e-3)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5) and losses[2] == pytest.approx(losses[0], rel=1e-5)


def test_finite_on_features_times_1e3_and_on_all_zero_maps():
    torch.manual_seed(0)
    teacher = torch.relu(torch.randn(4, 8, 4, 4)) * 1e3
    student = (teacher + 300 * torch.randn_like(teacher)).relu().requires_grad_()
    loss = multi_view_attention_loss(student, teacher, torch.tensor([0, 1, 0, 1]),
                                     generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
    zero = torch.zeros(2, 4, 2, 2, requires_grad=True)
    density = attention_density(zero)
    close(density, torch.full((2, 16), 1 / 16))
    loss = multi_view_attention_loss(zero, torch.zeros(2, 4, 2, 2), torch.tensor([0, 1]))
    loss.backward()  # both maps uniform: SWD 0, so only the margin of the negative pair is left
    assert loss.item() == pytest.approx(50 * 0.012) and torch.isfinite(zero.grad).all()


def test_gradients_reach_the_student_and_never_the_teacher():
    student = wave(3, 4, 3, 3).float().requires_grad_()
    teacher = wave(3, 4, 3, 3, phase=1.0).float().requires_grad_()
    loss = multi_view_attention_loss(student, teacher, torch.tensor([0, 0, 1]),
                                     generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert teacher.grad is None
    assert torch.isfinite(student.grad).all() and student.grad.abs().sum() > 0


@pytest.mark.parametrize("shape,groups", [((2, 4, 3, 2), 3), ((2, 4, 2, 2), 5), ((1, 2, 2, 2), 8)])
def test_vectors_gradient_is_exact(shape, groups):
    feat = (wave(*shape) + 0.1).requires_grad_()  # no exact zeros: P is smooth there
    directions = random_directions(3, torch.Generator().manual_seed(7))
    assert torch.autograd.gradcheck(lambda x: multi_view_vectors(x, directions, groups), (feat,))


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


def test_pinned_values():
    student, teacher = wave(3, 4, 3, 3), wave(3, 4, 3, 3, phase=0.4, scale=1.7)
    directions = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.6, 0.8], [0.48, -0.6, 0.64]], dtype=torch.float64)
    # two samples of one class: each is the other's only positive partner, no negatives: no randomness left
    two = multi_view_attention_loss(student[:2], teacher[:2], torch.tensor([4, 4]), directions=directions)
    assert two.item() == pytest.approx(PINNED_MV_SAME, rel=1e-9)
    swd = sliced_wasserstein(student, teacher, directions, groups=None, coords="index")
    close(swd, PINNED_SWD_INDEX, rtol=1e-9)
    nocontrast = multi_view_attention_loss(student, teacher, None, directions=directions, contrastive=False)
    assert nocontrast.item() == pytest.approx(PINNED_MV_NOCONTRAST, rel=1e-9)


# computed once with this implementation (and equal to the reference loops above)
PINNED_MV_SAME = 1.346646647538917
PINNED_SWD_INDEX = [0.0022207659031976412, 0.004830829392132538, 0.003105226594259806]
PINNED_MV_NOCONTRAST = 0.7385478937309604


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
    with pytest.raises(ValueError, match="K×3"):
        multi_view_vectors(feat, torch.ones(2, 2), 2)
    with pytest.raises(ValueError, match="labels"):
        multi_view_attention_loss(feat, feat, torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="labels"):
        multi_view_attention_loss(feat, feat, None)
    with pytest.raises(ValueError, match="same shape"):
        multi_view_attention_loss(feat, wave(2, 4, 2, 3), torch.tensor([0, 1]))
