"""params.yaml and the paper preset are valid for every stage's config; the checkers reject nonsense."""

from pathlib import Path

import pytest

from add.data.demo import DemoConfig
from add.data.extract import ExtractConfig
from add.data.ffpp import FFPPConfig
from add.losses import parse_distill_config
from add.params import ParamsError, get_float, get_list, load_params
from add.trainer import ModelConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", ["params.yaml", "presets/ffpp-paper.yaml"])
def test_every_stage_accepts_the_shipped_params(path):
    params = load_params(ROOT / path)
    FFPPConfig.from_params(params)
    ExtractConfig.from_params(params)
    TrainConfig.from_params(params)
    ModelConfig.from_params(params)
    parse_distill_config({**params["distill"], "beta": params["beta"]})
    if params["data"]["source"] == "demo":
        DemoConfig.from_params(params)


def test_preset_is_the_papers_setup():
    p = load_params(ROOT / "presets/ffpp-paper.yaml")
    assert p["data"]["source"] == "ffpp" and len(p["data"]["methods"]) == 5
    assert p["model"] == {"name": "resnet50", "pretrained": True, "weights": None}
    assert (p["data"]["image_size"], p["data"]["frames_per_video"], p["train"]["batch_size"]) == (128, 64, 144)
    assert TrainConfig.from_params(p).lr == pytest.approx(2e-4)
    assert p["students"]["qualities"] == ["c23", "c40"]


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
