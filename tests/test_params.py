"""params.yaml and the paper preset are valid for every stage's config; the checkers reject nonsense."""

import re
from pathlib import Path

import pytest

from add.data.demo.planning import DemoConfig
from add.data.extract.config import ExtractConfig
from add.data.ffpp import FFPPConfig
from add.losses import DISTILLERS, parse_distill_config
from add.params import ParamsError, get_float, get_list, load_params
from add.qualities import check_student_quality, check_test_quality, teacher_quality_param
from add.trainer.config import ModelConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted(path.name for path in (ROOT / "presets").glob("*.yaml"))


def test_the_presets_are_the_papers_experiments():
    assert PRESETS == ["ffpp-c23-teacher.yaml", "ffpp-paper-ablation.yaml", "ffpp-paper-efficientnet_b0.yaml",
                       "ffpp-paper-resnet18.yaml", "ffpp-paper-resnet34.yaml", "ffpp-paper.yaml"]


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
    teacher = teacher_quality_param(params)  # every quality a stage is asked for is one the data holds
    for quality in [*params["students"]["qualities"], params["distill"]["quality"]]:
        check_student_quality(teacher, quality)
    for quality in params["evaluate"]["teacher_qualities"]:
        check_test_quality(teacher, quality)


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
    ("ffpp-c23-teacher.yaml", {  # no raw video: a c23 teacher, c40 students
        "data.qualities": ["c23", "c40"], "teacher.quality": "c23", "students.qualities": ["c40"],
        "evaluate.teacher_qualities": ["c23", "c40"]}),
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
    assert p["teacher"]["quality"] == "raw"  # every table of the paper: a raw teacher
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


# ------------------------------------------------------------------------------------------------- unknown keys
def write_params(tmp_path: Path, change) -> Path:
    import yaml

    params = load_params(ROOT / "params.yaml")
    change(params)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.mark.parametrize("change,message", [
    (lambda p: p["data"].update(frames_per_vide=8), "'data.frames_per_vide' is not a known key; did you mean "
                                                    "'data.frames_per_video'?"),
    (lambda p: p["train"].update(epoch=1), "'train.epoch' is not a known key; did you mean 'train.epochs'?"),
    (lambda p: p.update(sed=1), "'sed' is not a known key; did you mean 'seed'?"),
    (lambda p: p.update(trian={"epochs": 1}), "'trian' is not a known key; did you mean 'train'?"),
    (lambda p: p["model"].update(pretrianed=True), "did you mean 'model.pretrained'?"),
    (lambda p: p["shards"].update(max_samples=5), "did you mean 'shards.max_samples_per_shard'?"),
    (lambda p: p["students"].update(quality=["c23"]), "did you mean 'students.qualities'?"),
    (lambda p: p["evaluate"].update(qualities=["raw"]), "did you mean 'evaluate.teacher_qualities'?"),
    (lambda p: p["demo"].update(zzz=1), "'demo.zzz' is not a known key; valid keys of 'demo': fps, frames,"),
    (lambda p: p["distill"].update(gama_fr=1), "'distill.gama_fr' is not a known key; did you mean "
                                               "'distill.gamma_fr'?"),
    (lambda p: p["distill"].update(init_from_teachr=True), "did you mean 'distill.init_from_teacher'?"),
])
def test_unknown_keys_are_refused_naming_the_closest_valid_one(tmp_path, change, message):
    import add.losses  # noqa: F401  (the distill keys are the loss config's; see add.params.SCHEMA_FROM)

    path = write_params(tmp_path, change)
    with pytest.raises(ParamsError, match=re.escape(message)) as raised:
        load_params(path)
    assert str(raised.value).startswith(f"{path}: params '")


def test_a_misspelt_key_stops_a_stage_at_start_up(tmp_path, capsys):
    from add import cli

    path = write_params(tmp_path, lambda p: p["data"].update(frames_per_vide=8))
    assert cli.main(["extract", "--params", str(path), "--videos", str(tmp_path / "nowhere.parquet")]) == 1
    err = capsys.readouterr().err
    assert "params 'data.frames_per_vide' is not a known key; did you mean 'data.frames_per_video'?" in err
    assert "videos table not found" not in err  # stopped before it looked at any data


def test_the_schema_lists_every_field_of_every_config():
    import dataclasses

    from add.data.shards import ShardsConfig
    from add.determinism import DeterminismConfig
    from add.losses import CONFIG_KEYS
    from add.params import SCHEMA, allowed_keys

    def fields(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)} - {"seed"}

    assert fields(ExtractConfig) | fields(FFPPConfig) <= set(SCHEMA["data"])
    assert fields(DemoConfig) == set(SCHEMA["demo"])
    assert fields(ShardsConfig) == set(SCHEMA["shards"])
    assert fields(ModelConfig) == set(SCHEMA["model"])
    assert fields(TrainConfig) | fields(DeterminismConfig) == set(SCHEMA["train"])
    assert set(CONFIG_KEYS) < set(allowed_keys("distill"))
    for path in ("params.yaml", "presets/ffpp-paper.yaml"):
        params = load_params(ROOT / path)
        assert set(params) == set(allowed_keys(""))  # the shipped files show every section


def test_the_data_stages_check_params_without_importing_torch(tmp_path):
    import subprocess
    import sys

    good = ("import sys; from add.params import load_params; load_params(sys.argv[1]); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", good, str(ROOT / "params.yaml")], check=True, capture_output=True)
    bad = write_params(tmp_path, lambda p: p["train"].update(epoch=1))
    run = subprocess.run([sys.executable, "-c", good, str(bad)], capture_output=True, text=True)
    assert run.returncode == 1 and "did you mean 'train.epochs'?" in run.stderr
