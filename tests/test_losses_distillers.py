"""The distiller registry: every name builds and trains on tiny tensors; params are validated."""

import re

import pytest
import torch

from add.core.params import ParamsError
from add.losses import (
    CONFIG_KEYS,
    DISTILLERS,
    FLOAT32_MAX_EXPONENT,
    attention_transfer_loss,
    build_distiller,
    distill_config,
    frequency_attention_loss,
    multi_view_attention_loss,
)

CHANNELS = [4, 6, 8]
SIZES = [(6, 6), (3, 3), (2, 2)]
EXPECTED_TERMS = {"add": {"fr", "mv"}, "fr": {"fr"}, "mv": {"mv"}, "mv_nocontrast": {"mv"}, "fitnet": {"fitnet"},
                  "at": {"at"}, "nl": {"nl"}, "kd": {"kd"}, "none": set()}


def features(channels=CHANNELS, batch=4, seed=0, grad=True):
    generator = torch.Generator().manual_seed(seed)
    feats = [torch.randn(batch, c, h, w, generator=generator).relu() for c, (h, w) in zip(channels, SIZES, strict=True)]
    return [f.requires_grad_(grad) for f in feats]


def inputs(batch=4, labels=(0, 1, 1, 0)):
    student, teacher = features(batch=batch), features(batch=batch, seed=1)
    logits = torch.randn(batch, 2, generator=torch.Generator().manual_seed(2), requires_grad=True)
    teacher_logits = torch.randn(batch, 2, generator=torch.Generator().manual_seed(3), requires_grad=True)
    return student, teacher, logits, teacher_logits, torch.tensor(labels[:batch])


def test_registry_has_exactly_the_documented_names():
    assert set(DISTILLERS) == set(EXPECTED_TERMS)


@pytest.mark.parametrize("name", list(EXPECTED_TERMS))
@pytest.mark.parametrize("labels", [(0, 1, 1, 0), (1, 1, 1, 1), (0, 1)])
def test_every_distiller_runs_forward_and_backward(name, labels):
    distiller = build_distiller(name, CHANNELS, CHANNELS, {}, beta=16)
    student, teacher, logits, teacher_logits, label_tensor = inputs(batch=len(labels), labels=labels)
    terms = distiller(student, teacher, logits, teacher_logits, label_tensor,
                      generator=torch.Generator().manual_seed(0))
    assert set(terms) == EXPECTED_TERMS[name]
    if not terms:
        assert not distiller.needs_teacher
        return
    total = sum(terms.values())
    for value in terms.values():
        assert value.dim() == 0 and torch.isfinite(value) and value.item() > 0
    total.backward()
    assert all(t.grad is None for t in teacher) and teacher_logits.grad is None
    reached = [f.grad is not None and f.grad.abs().sum() > 0 for f in student]
    if name == "kd":
        assert logits.grad.abs().sum() > 0 and not any(reached)
    elif name == "fitnet":
        assert reached == [False, True, False]  # the middle stage, the default hint layer
    else:
        assert all(reached)
    for parameter in distiller.parameters():  # regressors and non-local blocks train with the student
        assert parameter.grad is not None


def test_what_each_distiller_needs_is_readable_before_building():
    assert {n for n, cls in DISTILLERS.items() if not cls.needs_teacher} == {"none"}
    assert {n for n, cls in DISTILLERS.items() if not cls.uses_features} == {"kd", "none"}
    assert {n for n, cls in DISTILLERS.items() if cls.uses_logits} == {"kd"}
    for name, cls in DISTILLERS.items():
        built = build_distiller(name, CHANNELS, CHANNELS, {})
        assert isinstance(built, cls) and built.name == name


def test_trainable_parameters_only_where_expected():
    with_parameters = {name for name in DISTILLERS
                       if list(build_distiller(name, CHANNELS, CHANNELS, {}).parameters())}
    assert with_parameters == {"fitnet", "nl"}
    assert not list(build_distiller("fitnet", CHANNELS, CHANNELS, {"fitnet_variant": "cosine"}).parameters())


def test_add_terms_are_the_weighted_sums_of_the_losses():
    cfg = {"alpha": 0.5, "fr_weights": [1, 2, 0.25], "mv_weights": [0.5, 2.5, 2.0], "gamma_fr": 0.7,
           "directions": 5, "groups": 2}
    distiller = build_distiller("add", CHANNELS, CHANNELS, cfg, beta=20)
    student, teacher, logits, teacher_logits, labels = inputs()
    terms = distiller(student, teacher, logits, teacher_logits, labels, generator=torch.Generator().manual_seed(9))
    fr = sum(w * frequency_attention_loss(s, t, 0.7) for w, s, t in zip([1, 2, 0.25], student, teacher, strict=True))
    assert terms["fr"].item() == pytest.approx(0.5 * fr.item(), rel=1e-6)
    generator = torch.Generator().manual_seed(9)  # same draws, same order: stage by stage
    mv = sum(w * multi_view_attention_loss(s, t, labels, num_directions=5, groups=2, generator=generator)
             for w, s, t in zip([0.5, 2.5, 2.0], student, teacher, strict=True))
    assert terms["mv"].item() == pytest.approx(20 * mv.item(), rel=1e-6)
    alone = build_distiller("mv", CHANNELS, CHANNELS, cfg, beta=20)(student, teacher, None, None, labels,
                                                            generator=torch.Generator().manual_seed(9))
    assert alone["mv"].item() == pytest.approx(terms["mv"].item(), rel=1e-6)


@pytest.mark.parametrize("form", [
    {"mv_vectors": "cdf", "mv_bins": "count", "mv_coords": "unit", "mv_contrast": "student"},  # the earlier form
    {"mv_vectors": "cdf"},
    {"mv_bins": "count", "mv_contrast": "student"},
])
def test_the_multi_view_form_is_chosen_by_params(form):
    cfg = {"directions": 5, "groups": 2, **form}
    student, teacher, _, _, labels = inputs()
    terms = build_distiller("mv", CHANNELS, CHANNELS, cfg)(student, teacher, None, None, labels,
                                                           generator=torch.Generator().manual_seed(9))
    generator = torch.Generator().manual_seed(9)
    arguments = {"vectors": form.get("mv_vectors", "mass"), "bins": form.get("mv_bins", "width"),
                 "coords": form.get("mv_coords", "index"), "contrast": form.get("mv_contrast", "both")}
    mv = sum(w * multi_view_attention_loss(s, t, labels, num_directions=5, groups=2, generator=generator,
                                           **arguments)
             for w, s, t in zip([0.5, 2.5, 2.0], student, teacher, strict=True))
    assert terms["mv"].item() == pytest.approx(16 * mv.item(), rel=1e-9)
    default = build_distiller("mv", CHANNELS, CHANNELS, {"directions": 5, "groups": 2}, beta=16)(
        student, teacher, None, None, labels, generator=torch.Generator().manual_seed(9))
    assert default["mv"].item() != pytest.approx(terms["mv"].item(), rel=1e-3)


def test_mv_nocontrast_is_mv_without_the_contrastive_terms():
    student, teacher, logits, teacher_logits, labels = inputs()
    nocontrast = build_distiller("mv_nocontrast", CHANNELS, CHANNELS, {})
    eta_zero = build_distiller("mv", CHANNELS, CHANNELS, {"eta_mv": 0})
    a = nocontrast(student, teacher, None, None, labels, generator=torch.Generator().manual_seed(1))["mv"]
    b = eta_zero(student, teacher, None, None, labels, generator=torch.Generator().manual_seed(1))["mv"]
    assert a.item() == pytest.approx(b.item(), rel=1e-6)
    with_contrast = build_distiller("mv", CHANNELS, CHANNELS, {})(student, teacher, None, None, labels,
                                                                  generator=torch.Generator().manual_seed(1))
    assert with_contrast["mv"].item() > a.item()
    assert torch.isfinite(nocontrast(student, teacher, None, None, None)["mv"])  # labels are not needed


def test_beta_scales_mv_and_zero_weights_give_zero_terms():
    student, teacher, logits, teacher_logits, labels = inputs()

    def terms(cfg, beta=16):
        distiller = build_distiller("add", CHANNELS, CHANNELS, cfg, beta=beta)
        return distiller(student, teacher, logits, teacher_logits, labels, generator=torch.Generator().manual_seed(0))

    base, doubled = terms({}, beta=16), terms({}, beta="3.2e1")
    assert doubled["mv"].item() == pytest.approx(2 * base["mv"].item(), rel=1e-6)
    assert doubled["fr"].item() == pytest.approx(base["fr"].item(), rel=1e-9)
    off = terms({"alpha": 0, "mv_weights": [0, 0, 0]})
    assert off["fr"].item() == 0.0 and off["mv"].item() == 0.0
    at = build_distiller("at", CHANNELS, CHANNELS, {"at_weight": 10, "at_weights": [0, 1, 0]})
    assert at(student, teacher, None, None, None)["at"].item() == pytest.approx(
        10 * attention_transfer_loss(student[1], teacher[1]).item(), rel=1e-6)


def test_zero_when_student_equals_teacher_without_partners():
    student = features(batch=1)
    for name in ("add", "fr", "mv", "mv_nocontrast", "at", "nl"):
        distiller = build_distiller(name, CHANNELS, CHANNELS, {})
        terms = distiller(student, [f.detach().clone() for f in student], None, None, torch.tensor([1]))
        assert terms and all(v.item() == 0.0 for v in terms.values()), (name, terms)


def test_finite_on_features_times_1e3():
    student, teacher, logits, teacher_logits, labels = inputs()
    student = [(f * 1e3).detach().requires_grad_() for f in student]
    teacher = [f * 1e3 for f in teacher]
    for name in DISTILLERS:
        terms = build_distiller(name, CHANNELS, CHANNELS, {})(student, teacher, logits * 1e3, teacher_logits * 1e3,
                                                              labels, generator=torch.Generator().manual_seed(0))
        assert all(torch.isfinite(v) for v in terms.values()), (name, terms)


def test_baselines_accept_a_different_teacher():
    teacher_channels = [8, 12, 16]
    student, _, logits, teacher_logits, labels = inputs()
    teacher = features(teacher_channels, seed=5)
    for name in ("fitnet", "at", "nl", "kd", "none"):
        terms = build_distiller(name, CHANNELS, teacher_channels, {})(student, teacher, logits, teacher_logits, labels)
        assert all(torch.isfinite(v) for v in terms.values())
    cosine = build_distiller("fitnet", CHANNELS, teacher_channels, {"fitnet_variant": "cosine", "fitnet_stage": -1})
    assert torch.isfinite(cosine(student, teacher, None, None, None)["fitnet"])


def test_add_needs_matching_shapes():
    with pytest.raises(ParamsError, match="channels must match"):
        build_distiller("add", CHANNELS, [8, 12, 16], {})
    distiller = build_distiller("fr", CHANNELS, CHANNELS, {})
    student = features()
    teacher = features()
    teacher[0] = torch.randn(4, 4, 5, 5)
    with pytest.raises(ValueError, match="same shape"):
        distiller(student, teacher, None, None, None)
    with pytest.raises(ValueError, match="expects 3 teacher feature maps"):
        distiller(student, teacher[:2], None, None, None)
    with pytest.raises(ValueError, match=r"stage 1 must be B×6×H×W"):
        distiller([student[0], student[0], student[2]], student, None, None, None)
    with pytest.raises(ValueError, match="logits"):
        build_distiller("kd", CHANNELS, CHANNELS, {})(None, None, None, None, None)


def test_defaults_are_the_papers():
    cfg = distill_config({})
    assert (cfg.alpha, cfg.beta, cfg.fr_weights, cfg.mv_weights) == (1.0, 16.0, (1.0, 2.0, 0.25), (0.5, 2.5, 2.0))
    assert (cfg.gamma_fr, cfg.gamma_mv, cfg.eta_mv, cfg.margin, cfg.directions) == (1.0, 100.0, 50.0, 0.012, 12)
    assert cfg.groups is None and cfg.fr_max_exponent == FLOAT32_MAX_EXPONENT
    # the authors' multi-view form (src/distiller_zoo/MV.py), not the earlier cdf/count/unit/student form
    assert (cfg.mv_vectors, cfg.mv_bins, cfg.mv_coords, cfg.mv_contrast) == ("mass", "width", "index", "both")
    assert (cfg.fitnet_variant, cfg.fitnet_stage, cfg.fitnet_weight) == ("hint", 1, 100.0)
    cosine = distill_config({"fitnet_variant": "cosine"})
    assert (cosine.fitnet_stage, cosine.fitnet_weight) == (2, 16.0)
    assert distill_config({"fitnet_stage": -1}).fitnet_stage == 2
    four = distill_config({"fr_weights": [1, 1, 1, 1], "mv_weights": [1, 1, 1, 1]}, stages=4)
    assert four.at_weights == (1.0,) * 4
    assert set(CONFIG_KEYS) >= {"alpha", "beta", "gamma_fr", "gamma_mv", "eta_mv", "margin", "kd_temperature"}


@pytest.mark.parametrize("cfg,message", [
    ({"alpha": -1}, "distill.alpha' must be >= 0"),
    ({"beta": 20}, "'distill.beta' is not a key of 'distill': β has one home, the top-level 'beta'"),
    ({"fr_weights": [1, 2]}, "distill.fr_weights' must have one weight per distilled stage"),
    ({"mv_weights": [1, -2, 0]}, "distill.mv_weights[1]' must be >= 0"),
    ({"mv_weights": 3}, "distill.mv_weights' must be a list"),
    ({"directions": 0}, "distill.directions' must be >= 1"),
    ({"directions": 2.5}, "distill.directions' must be an integer"),
    ({"groups": 0}, "distill.groups' must be >= 1"),
    ({"mv_coords": "pixel"}, "distill.mv_coords' must be one of"),
    ({"mv_vectors": "pdf"}, "distill.mv_vectors' must be one of"),
    ({"mv_bins": "quantile"}, "distill.mv_bins' must be one of"),
    ({"mv_contrast": "teacher"}, "distill.mv_contrast' must be one of"),
    ({"coords": "unit"}, "did you mean 'distill.mv_coords'"),  # the key's earlier name
    ({"fitnet_variant": "l1"}, "distill.fitnet_variant' must be one of"),
    ({"fitnet_stage": 3}, "distill.fitnet_stage' must be in -3..2"),
    ({"kd_temperature": 0}, "distill.kd_temperature' must be > 0"),
    ({"fr_max_exponent": 100}, "distill.fr_max_exponent' must be <= 88.7"),
    ({"gama_fr": 2}, "did you mean 'distill.gamma_fr'"),
    ({"eta_mv": True}, "distill.eta_mv' must be a number"),
])
def test_nonsense_params_are_rejected_with_the_key(cfg, message):
    with pytest.raises(ParamsError, match=re.escape(message)):
        build_distiller("add", CHANNELS, CHANNELS, cfg)


@pytest.mark.parametrize("beta,message", [("high", "'beta' must be a number"), (float("nan"), "'beta' must be finite"),
                                          (-1, "'beta' must be >= 0")])
def test_bad_beta_is_rejected_naming_beta(beta, message):
    with pytest.raises(ParamsError, match=re.escape(message)):
        build_distiller("add", CHANNELS, CHANNELS, {}, beta=beta)


def test_other_keys_and_names():
    assert build_distiller("none", CHANNELS, CHANNELS, {"method": "none", "quality": "c23"}) is not None
    with pytest.raises(ParamsError, match="unknown distiller 'crd'"):
        build_distiller("crd", CHANNELS, CHANNELS, {})
    with pytest.raises(ParamsError, match="for 3 stages"):
        build_distiller("add", [4, 6], [4, 6], {})
    with pytest.raises(ValueError, match="student_channels"):
        build_distiller("at", [], [], {})
    with pytest.raises(ValueError, match="different numbers of stages"):
        build_distiller("at", [4, 6], [4, 6, 8], {})
