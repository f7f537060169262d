"""Per-backbone frequency-loss defaults (issue 20): the authors' stage weights and γ_FR per family, used when the
params leave ``distill.fr_weights`` / ``distill.gamma_fr`` null, and shown by ``add params``."""

from __future__ import annotations

import pytest
import torch
import yaml

from add.core.params import Distill, ParamsError, parse_params
from add.losses import build_distiller, distill_config
from add.models.backbones import backbone_of
from add.models.detector import FEATURE_MODULES
from add.tools.params import main

CHANNELS = [4, 6, 8]
SIZES = [(6, 6), (3, 3), (2, 2)]
# the authors' configs over four stages, and the stage this project does not distil (their first)
AUTHORS = {"resnet": ([0, 1, 2, 0.25], 1.0), "efficientnet": ([0, 1, 0, 0], 0.01)}


@pytest.mark.parametrize("model,expected_family", [
    ("resnet18", "resnet"), ("resnet50", "resnet"), ("tf_efficientnet_lite0", "efficientnet"),
    ("efficientnet_b0", "efficientnet")])
def test_a_null_key_takes_the_authors_values_of_the_models_family(model, expected_family):
    assert backbone_of(model)[0] == expected_family
    weights, gamma = AUTHORS[expected_family]
    cfg = distill_config(Distill(), model=model)
    assert cfg.fr_weights == tuple(weights[1:]) and cfg.gamma_fr == gamma
    # the authors' second stage is this project's first: ResNet layer2, EfficientNet blocks.2 (stride 8)
    assert FEATURE_MODULES[model][0] == ("layer2" if expected_family == "resnet" else "blocks.2")


@pytest.mark.parametrize("model", ["resnet18", "tf_efficientnet_lite0"])
def test_values_in_the_params_win_over_the_models(model):
    cfg = distill_config({"fr_weights": [3, 0, 1], "gamma_fr": 0.5}, model=model)
    assert (cfg.fr_weights, cfg.gamma_fr) == ((3.0, 0.0, 1.0), 0.5)
    partial = distill_config({"gamma_fr": 0.5}, model=model)
    assert partial.fr_weights == backbone_of(model)[1].fr_weights and partial.gamma_fr == 0.5


def test_xception_and_no_model_take_the_resnet_values():
    assert backbone_of("legacy_xception")[0] == "xception"
    for model in ("legacy_xception", None):
        cfg = distill_config({}, model=model)
        assert (cfg.fr_weights, cfg.gamma_fr) == ((1.0, 2.0, 0.25), 1.0)


def test_a_model_no_backbone_claims_is_refused_naming_model_name(tmp_path):
    with pytest.raises(ParamsError, match=r"params 'model.name' must be one of .*got 'vgg16'.*no backbone"):
        distill_config({}, model="vgg16")
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"model": {"name": "vgg16"}}))
    with pytest.raises(ParamsError, match="model.name"):
        main(["--params", str(path)])


def test_the_efficientnet_frequency_loss_reads_only_its_first_stage():
    def feats(seed):
        g = torch.Generator().manual_seed(seed)
        return [torch.randn(2, c, h, w, generator=g).relu() for c, (h, w) in zip(CHANNELS, SIZES, strict=True)]

    student, teacher, labels = feats(0), feats(1), torch.tensor([0, 1])
    efficientnet = build_distiller("fr", CHANNELS, CHANNELS, {}, model="tf_efficientnet_lite0")
    resnet = build_distiller("fr", CHANNELS, CHANNELS, {}, model="resnet18")
    moved = [student[0], student[1] + 1, student[2] * 3]  # only the stages EfficientNet's FR does not read
    fr = efficientnet(student, teacher, None, None, labels)["fr"]
    assert float(fr) > 0
    assert torch.equal(fr, efficientnet(moved, teacher, None, None, labels)["fr"])
    assert not torch.equal(resnet(student, teacher, None, None, labels)["fr"],
                           resnet(moved, teacher, None, None, labels)["fr"])


@pytest.mark.parametrize("model,weights,gamma", [("resnet18", [1.0, 2.0, 0.25], 1.0),
                                                 ("tf_efficientnet_lite0", [1.0, 0.0, 0.0], 0.01)])
def test_add_params_says_what_a_null_key_resolves_to(tmp_path, capsys, model, weights, gamma):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"model": {"name": model}}))
    assert main(["--params", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"fr_weights: null  # null -> model default ({backbone_of(model)[0]}): {weights}" in out
    assert f"gamma_fr: null  # null -> model default ({backbone_of(model)[0]}): {gamma}" in out
    assert yaml.safe_load(out)["distill"]["fr_weights"] is None  # still the params as written, valid YAML
    path.write_text(yaml.safe_dump({"model": {"name": model}, "distill": {"gamma_fr": 0.5}}))
    assert main(["--params", str(path)]) == 0
    out = capsys.readouterr().out
    assert "gamma_fr: 0.5\n" in out and "fr_weights: null  # null -> model default" in out
    assert parse_params({"distill": {"gamma_fr": 0.5}}).distill.gamma_fr == 0.5
