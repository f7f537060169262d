"""params.yaml and the paper preset are valid for every stage's config; the checkers reject nonsense."""

from pathlib import Path

import pytest

from add.data.demo import DemoConfig
from add.data.extract import ExtractConfig
from add.data.ffpp import FFPPConfig
from add.losses import DISTILLERS, parse_distill_config
from add.params import ParamsError, get_float, get_list, load_params
from add.trainer import ModelConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted(path.name for path in (ROOT / "presets").glob("*.yaml"))


def test_the_presets_are_the_papers_experiments():
    assert PRESETS == ["ffpp-paper-ablation.yaml", "ffpp-paper-efficientnet_b0.yaml", "ffpp-paper-resnet18.yaml",
                       "ffpp-paper-resnet34.yaml", "ffpp-paper.yaml"]


@pytest.mark.parametrize("path", ["params.yaml", *(f"presets/{name}" for name in PRESETS)])
def test_every_stage_accepts_the_shipped_params(path):
    params = load_params(ROOT / path)
    FFPPConfig.from_params(params)
    ExtractConfig.from_params(params)
    TrainConfig.from_params(params)
    ModelConfig.from_params(params)
    cfg = parse_distill_config({**params["distill"], "beta": params["beta"]})
    # the multi-view loss in the authors' form, the one its weights were tuned for
    assert (cfg.mv_vectors, cfg.mv_bins, cfg.mv_coords, cfg.mv_contrast) == ("mass", "width", "index", "both")
    assert set(params["students"]["distill"]) <= set(DISTILLERS)
    if params["data"]["source"] == "demo":
        DemoConfig.from_params(params)


def flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("name,changes", [
    ("ffpp-paper-ablation.yaml", {  # Table 2: NeuralTextures c40
        "data.methods": ["NeuralTextures"], "data.qualities": ["raw", "c40"], "students.qualities": ["c40"],
        "students.distill": ["none", "fr", "mv_nocontrast", "mv", "add"],
        "evaluate.teacher_qualities": ["raw", "c40"]}),
    ("ffpp-paper-resnet18.yaml", {"model.name": "resnet18", "students.distill": ["none", "add"]}),  # Table 3
    ("ffpp-paper-resnet34.yaml", {"model.name": "resnet34", "students.distill": ["none", "add"]}),
    ("ffpp-paper-efficientnet_b0.yaml", {"model.name": "efficientnet_b0", "distill.gamma_fr": 1e-3,
                                         "students.distill": ["none", "add"]}),
])
def test_each_experiment_preset_changes_only_what_its_table_changes(name, changes):
    paper, preset = flat(load_params(ROOT / "presets/ffpp-paper.yaml")), flat(load_params(ROOT / "presets" / name))
    assert preset.keys() == paper.keys()
    assert {key: value for key, value in preset.items() if paper[key] != value} == changes


def test_preset_is_the_papers_setup():
    p = load_params(ROOT / "presets/ffpp-paper.yaml")
    assert p["data"]["source"] == "ffpp" and len(p["data"]["methods"]) == 5
    assert p["model"] == {"name": "resnet50", "pretrained": True, "weights": None}
    assert (p["data"]["image_size"], p["data"]["frames_per_video"], p["train"]["batch_size"]) == (128, 64, 144)
    train = TrainConfig.from_params(p)
    assert train.lr == pytest.approx(2e-4)
    # the authors' protocol (src/train.py, src/resnet_kd_fr_mv.yaml): 32 epochs, 3 head-only, one-cycle 0.05
    assert (train.epochs, train.warmup_epochs, train.pct_start, train.val_per_epoch, train.patience) == (
        32, 3, 0.05, 10, 10)
    assert p["students"]["qualities"] == ["c23", "c40"]
    assert p["students"]["distill"] == ["none", "fitnet", "at", "nl", "add"]  # Table 1
    cfg = parse_distill_config({**p["distill"], "beta": p["beta"]})
    assert (cfg.alpha, cfg.beta, cfg.gamma_fr, cfg.gamma_mv, cfg.eta_mv, cfg.margin) == (1, 16, 1, 100, 50, 0.012)


def test_yaml_exponent_strings_are_numbers():
    # PyYAML reads `2e-4` as a string; `dvc exp run -S train.lr=2e-4` must still work.
    assert get_float({"lr": "2e-4"}, "lr", 1.0, where="train") == pytest.approx(2e-4)
    with pytest.raises(ParamsError, match="train.lr"):
        get_float({"lr": "fast"}, "lr", 1.0, where="train")
    with pytest.raises(ParamsError, match="finite"):
        get_float({"lr": "nan"}, "lr", 1.0, where="train")


def test_bad_files_and_lists(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ParamsError, match="mapping"):
        load_params(bad)
    with pytest.raises(ParamsError, match="duplicates"):
        get_list({"m": ["a", "a"]}, "m", [], where="data")
    with pytest.raises(ParamsError, match="unknown"):
        get_list({"m": ["x"]}, "m", [], where="data", choices=["a"])
