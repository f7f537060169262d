"""params.yaml and the presets are valid for every stage's config; the typed params reject nonsense, one rule for
every number, one home for beta; `add params` prints them."""

import re
from pathlib import Path

import committed
import pytest

from add.core.params import Params, ParamsError, load_params, parse_params
from add.core.qualities import check_student_quality, check_test_quality
from add.data.demo.planning import DemoConfig
from add.data.extract.config import ExtractConfig
from add.data.ffpp import FFPPConfig
from add.losses import DISTILLERS, distill_config
from add.training.config import ModelConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted(path.name for path in (ROOT / "presets").glob("*.yaml"))


def shipped(path: str) -> Params:
    """The default params.yaml (as committed, not the workspace's), or a preset applied to it."""
    from add.tools.presets import resolved

    if path == "params.yaml":
        return parse_params(committed.raw())
    return parse_params(resolved(Path(path).stem, committed.raw()))


def test_the_presets_are_the_papers_experiments():
    assert PRESETS == ["ffpp-c23-teacher.yaml", "ffpp-paper-ablation.yaml", "ffpp-paper-efficientnet_b0.yaml",
                       "ffpp-paper-resnet18.yaml", "ffpp-paper-resnet34.yaml", "ffpp-paper.yaml"]


@pytest.mark.parametrize("path", ["params.yaml", *(f"presets/{name}" for name in PRESETS)])
def test_every_stage_accepts_the_shipped_params(path):
    params = shipped(path)
    FFPPConfig.from_params(params)
    ExtractConfig.from_params(params)
    TrainConfig.from_params(params)
    ModelConfig.from_params(params)
    cfg = distill_config(params.distill, beta=params.beta)
    # the multi-view loss in the authors' form, the one its weights were tuned for
    assert (cfg.mv_vectors, cfg.mv_bins, cfg.mv_coords, cfg.mv_contrast) == ("mass", "width", "index", "both")
    assert set(params.students.distill) <= set(DISTILLERS) - {"none"}
    if params.data.source == "demo":
        DemoConfig.from_params(params)
    teacher = params.teacher.quality  # every quality a stage is asked for is one the data holds
    for quality in [*params.students.qualities, params.distill.quality]:
        check_student_quality(teacher, quality)
    for quality in params.evaluate.teacher_qualities:
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
        "students.distill": ["fr", "mv_nocontrast", "mv", "add"],
        "evaluate.teacher_qualities": ["raw", "c40"]}),
    ("ffpp-c23-teacher.yaml", {  # no raw video: a c23 teacher, c40 students
        "data.qualities": ["c23", "c40"], "teacher.quality": "c23", "students.qualities": ["c40"],
        "evaluate.teacher_qualities": ["c23", "c40"]}),
    ("ffpp-paper-resnet18.yaml", {"model.name": "resnet18", "students.distill": ["add"]}),  # Table 3
    ("ffpp-paper-resnet34.yaml", {"model.name": "resnet34", "students.distill": ["add"]}),
    ("ffpp-paper-efficientnet_b0.yaml", {"model.name": "efficientnet_b0", "distill.gamma_fr": 1e-3,
                                         "students.distill": ["add"]}),
])
def test_each_experiment_preset_changes_only_what_its_table_changes(name, changes):
    paper = flat(shipped("presets/ffpp-paper.yaml").to_dict())
    preset = flat(shipped(f"presets/{name}").to_dict())
    assert preset.keys() == paper.keys()
    assert {key: value for key, value in preset.items() if paper[key] != value} == changes


def test_preset_is_the_papers_setup():
    p = shipped("presets/ffpp-paper.yaml")
    assert p.data.source == "ffpp" and len(p.data.methods) == 5
    assert p.model.to_dict() == {"name": "resnet50", "pretrained": True, "weights": None}
    assert (p.data.image_size, p.data.frames_per_video, p.train.batch_size) == (128, 64, 144)
    train = TrainConfig.from_params(p)
    assert train.lr == pytest.approx(2e-4)
    # the authors' protocol (src/train.py, src/resnet_kd_fr_mv.yaml): 32 epochs, 3 head-only, one-cycle 0.05
    assert (train.epochs, train.warmup_epochs, train.pct_start, train.val_per_epoch, train.patience) == (
        32, 3, 0.05, 10, 10)
    assert p.students.qualities == ("c23", "c40")
    assert p.teacher.quality == "raw"  # every table of the paper: a raw teacher
    assert p.students.distill == ("fitnet", "at", "nl", "add")  # Table 1, beside the plain student (none)
    cfg = distill_config(p.distill, beta=p.beta)
    assert (cfg.alpha, cfg.beta, cfg.gamma_fr, cfg.gamma_mv, cfg.eta_mv, cfg.margin) == (1, 16, 1, 100, 50, 0.012)


# -------------------------------------------------------------------------------------------- one number rule
def numeric_keys() -> list[tuple[str, str, type]]:
    """Every numeric key of every section: (section, key, int or float), from the dataclasses themselves."""
    import dataclasses
    import typing

    from add.core import params as module

    out = []
    for top in dataclasses.fields(Params):
        hints = typing.get_type_hints(Params)
        section = hints[top.name]
        if section in (int, float):
            out.append(("", top.name, section))
            continue
        if typing.get_origin(section) is tuple:
            continue  # a list of entries (cross): its numbers are checked with the entries (test_cross_datasets.py)
        for key, tp in typing.get_type_hints(section).items():
            kinds = {a for a in (typing.get_args(tp) or (tp,)) if a in (int, float)}
            if typing.get_origin(tp) is tuple:
                kinds = {a for a in typing.get_args(tp) if a in (int, float)}
            if kinds and not key.startswith("_"):
                out.append((top.name, key, kinds.pop()))
    assert module.Train in {typing.get_type_hints(Params)["train"]}
    return out


NUMERIC = numeric_keys()


def test_every_section_has_numeric_keys():
    assert {section for section, _, _ in NUMERIC} >= {"", "data", "demo", "shards", "train", "distill", "gallery"}
    assert ("", "beta", float) in NUMERIC and ("train", "epochs", int) in NUMERIC


@pytest.mark.parametrize("section,key,kind", NUMERIC, ids=[f"{s}.{k}".lstrip(".") for s, k, _ in NUMERIC])
def test_every_numeric_key_takes_the_same_spellings(section, key, kind):
    default = getattr(Params() if not section else getattr(Params(), section), key)
    if isinstance(default, tuple):  # a list of numbers: each item follows the rule
        spelled = [f"{v!r}" if isinstance(v, float) and not v.is_integer() else f"{int(v)}e0" for v in default]
        for item in (spelled, [str(v) for v in default]):
            raw = {key: item} if not section else {section: {key: item}}
            got = parse_params(raw)
            assert getattr(got if not section else getattr(got, section), key) == default
        return
    # the same value spelt as YAML gives it: a number, a plain string, an exponent string
    value = default if default is not None else 20
    value = 20 if kind is int and key not in ("threads",) and value == 0 else value
    if kind is int:
        spellings = [value, str(value), f"{value}e0", f"{value * 10}e-1", float(value)]
    else:
        spellings = [value, str(value), f"{value:.17e}", f"{value!r}"]
    results = set()
    for spelling in spellings:
        raw = {key: spelling} if not section else {section: {key: spelling}}
        try:
            got = parse_params(raw)
        except ParamsError as e:  # a value outside the key's bounds is refused the same way for every spelling
            results.add(("error", str(e).split(", got")[0]))
            continue
        result = getattr(got if not section else getattr(got, section), key)
        assert type(result) is kind
        results.add(result)
    assert len(results) == 1, (key, results)
    for nonsense in ("fast", "1e", "0x10", "nan", [1], True):
        raw = {key: nonsense} if not section else {section: {key: nonsense}}
        with pytest.raises(ParamsError, match=re.escape(f"params '{section + '.' if section else ''}{key}'")) as e:
            parse_params(raw)
        assert "\n" not in str(e.value)


def test_exponents_are_numbers_for_beta_and_the_loss_keys():
    assert parse_params({"beta": "2e1"}).beta == 20.0
    assert parse_params({"beta": 20}).beta == 20.0
    p = parse_params({"train": {"lr": "2e-4", "epochs": "2e1"}, "distill": {"alpha": "2e1", "gamma_fr": "1e-3"}})
    assert (p.train.lr, p.train.epochs, p.distill.alpha, p.distill.gamma_fr) == (2e-4, 20, 20.0, 1e-3)
    assert isinstance(p.train.epochs, int)
    with pytest.raises(ParamsError, match="'train.epochs' must be an integer"):
        parse_params({"train": {"epochs": "1e-3"}})
    with pytest.raises(ParamsError, match="'train.lr' must be a number"):
        parse_params({"train": {"lr": "fast"}})
    with pytest.raises(ParamsError, match="finite"):
        parse_params({"train": {"lr": float("nan")}})


def test_beta_in_params_yaml_and_from_dvc_set(tmp_path, capsys):
    from dvc.utils.hydra import apply_overrides

    from add import cli

    path = tmp_path / "params.yaml"
    path.write_text(committed.TEXT.replace("\nbeta: 16 ", "\nbeta: 2e1"))
    assert "beta: 2e1" in path.read_text()
    assert load_params(path).beta == 20.0
    assert cli.main(["params", "--params", str(path)]) == 0
    assert "\nbeta: 20.0\n" in capsys.readouterr().out
    dvc_set = tmp_path / "dvc" / "params.yaml"
    dvc_set.parent.mkdir()
    dvc_set.write_text(committed.TEXT)
    apply_overrides(str(dvc_set), ["beta=2e1"])  # what `dvc exp run -S beta=2e1` writes
    assert load_params(dvc_set).beta == 20.0
    assert cli.main(["params", "--params", str(dvc_set)]) == 0
    assert "\nbeta: 20.0\n" in capsys.readouterr().out


def test_distill_beta_is_refused_naming_beta(tmp_path, capsys):
    from add import cli

    with pytest.raises(ParamsError, match=r"'distill.beta' is not a key of 'distill'.*top-level 'beta'"):
        parse_params({"beta": 16, "distill": {"beta": 20}})
    path = tmp_path / "params.yaml"
    path.write_text("beta: 16\ndistill:\n  beta: 20\n")
    assert cli.main(["params", "--params", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'distill.beta'" in err and "top-level 'beta'" in err


def test_add_params_prints_every_default(tmp_path, capsys):
    import yaml

    from add import cli

    path = tmp_path / "params.yaml"
    path.write_text("train: {epochs: 3}\n")
    assert cli.main(["params", "--params", str(path)]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown == {**Params().to_dict(), "train": {**Params().train.to_dict(), "epochs": 3}}
    assert parse_params(shown) == load_params(path)  # what it prints reads back as the same params


def test_params_are_parsed_once_per_process(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 1\n")
    assert load_params(path) is load_params(path)
    path.write_text("seed: 22\n")  # a new version of the file is read again
    assert load_params(path).seed == 22


def test_a_list_section_of_typed_entries_is_checked_like_a_section():
    import dataclasses

    from add.core.params import Section, entries, num, parse_section, recording

    @dataclasses.dataclass(frozen=True)
    class Entry(Section):
        name: str = "x"
        size: int = num(1, min=1)

    @dataclasses.dataclass(frozen=True)
    class Top(Section):
        seed: int = 0
        cross: tuple[Entry, ...] = entries()

    top = parse_section(Top, {"cross": [{"name": "a", "size": "2e1"}, {"name": "b"}]}, "")
    assert top.cross == (Entry("a", 20), Entry("b", 1))
    with pytest.raises(ParamsError, match=re.escape("'cross[1].siez' is not a known key; did you mean "
                                                    "'cross[1].size'?")):
        parse_section(Top, {"cross": [{"name": "a"}, {"siez": 2}]}, "")
    with pytest.raises(ParamsError, match=re.escape("'cross[0].size' must be >= 1")):
        parse_section(Top, {"cross": [{"size": 0}]}, "")
    with recording() as reads:
        [entry.size for entry in top.cross]
    assert reads == {"cross"}


def test_bad_files_and_lists(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ParamsError, match="mapping"):
        load_params(bad)
    with pytest.raises(ParamsError, match="duplicates"):
        parse_params({"data": {"methods": ["Deepfakes", "Deepfakes"]}})
    with pytest.raises(ParamsError, match="unknown"):
        parse_params({"data": {"methods": ["x"]}})


# ------------------------------------------------------------------------------------------------- unknown keys
def write_params(tmp_path: Path, change) -> Path:
    import yaml

    params = committed.raw()
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


def test_the_params_hold_every_field_of_every_config():
    import dataclasses

    from add.core.determinism import DeterminismConfig
    from add.core.params import Distill
    from add.core.registry import DISTILLERS as NAMES
    from add.data.faces import FaceSettings
    from add.data.shards import ShardsConfig
    from add.losses import BINS, CONFIG_KEYS, CONTRASTS, COORDS, FLOAT32_MAX_EXPONENT, VECTORS
    from add.losses.fitnet import FITNET_VARIANTS

    def fields(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)} - {"seed"}

    p = Params()
    assert (fields(ExtractConfig) - {"faces"}) | fields(FFPPConfig) <= set(p.data.to_dict())
    # the face settings are data.detect_* and data.box_scale, read through FaceSettings.from_params
    assert ExtractConfig.from_params(p).faces == FaceSettings(p.data.detect_threshold, p.data.detect_upsample,
                                                              p.data.detect_max_side, p.data.detect_size_tolerance,
                                                              p.data.box_scale)
    assert fields(DemoConfig) == set(p.demo.to_dict())
    assert fields(ShardsConfig) == set(p.shards.to_dict())
    assert fields(ModelConfig) == set(p.model.to_dict())
    # train.seed is TrainConfig.seed of a student (fields() drops the seed)
    assert fields(TrainConfig) | fields(DeterminismConfig) == set(p.train.to_dict()) - {"seed"}
    assert set(CONFIG_KEYS) - {"beta"} < set(p.distill.to_dict())
    assert tuple(DISTILLERS) == NAMES.names() == typing_args(Distill, "method")
    # the choices params checks without importing torch are the loss modules' own
    choices = {k: typing_args(Distill, k) for k in ("mv_vectors", "mv_bins", "mv_coords", "mv_contrast",
                                                    "fitnet_variant")}
    assert choices == {"mv_vectors": VECTORS, "mv_bins": BINS, "mv_coords": COORDS, "mv_contrast": CONTRASTS,
                       "fitnet_variant": FITNET_VARIANTS}
    assert p.distill.fr_max_exponent == pytest.approx(FLOAT32_MAX_EXPONENT)

    shown = committed.raw()
    assert set(shown) == set(p.to_dict())  # params.yaml shows every section


def typing_args(cls, key):
    import typing

    return typing.get_args(typing.get_type_hints(cls)[key])


def test_the_data_stages_check_params_without_importing_torch(tmp_path):
    import subprocess
    import sys

    good = ("import sys; from add.core.params import load_params; load_params(sys.argv[1]); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", good, str(committed.params_file(tmp_path))], check=True,
                   capture_output=True)
    bad = write_params(tmp_path, lambda p: p["train"].update(epoch=1))
    run = subprocess.run([sys.executable, "-c", good, str(bad)], capture_output=True, text=True)
    assert run.returncode == 1 and "did you mean 'train.epochs'?" in run.stderr


# ----------------------------------------------------------------------------------------------------- presets
@pytest.mark.parametrize("name", [Path(p).stem for p in PRESETS])
def test_a_preset_holds_only_keys_that_change_params_yaml(name):
    import yaml

    from add.tools.presets import changes, resolved

    params_yaml = flat(committed.raw())
    own = yaml.safe_load((ROOT / "presets" / f"{name}.yaml").read_text())
    parent = own.pop("extends", None)  # the keys differ from what the preset starts from
    base = flat(resolved(parent, committed.raw())) if parent else params_yaml
    assert own and all(key in base and base[key] != value for key, value in flat(own).items())
    assert set(flat(changes(name))) <= set(params_yaml)


@pytest.mark.parametrize("name", [Path(p).stem for p in PRESETS])
def test_add_preset_writes_params_yaml_keeping_its_comments(name, tmp_path, capsys):
    import difflib

    from add import cli
    from add.tools.presets import changes

    path = committed.params_file(tmp_path)
    before = path.read_text()
    assert cli.main(["preset", name, "--params", str(path)]) == 0
    after = path.read_text()
    assert load_params(path) == shipped(f"presets/{name}.yaml")
    changed = [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    keys = {k.split(".")[-1] for k in flat(changes(name))}
    assert changed and all(line[1:].strip().split(":")[0] in keys for line in changed), changed
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    assert comments == [line for line in after.splitlines() if line.lstrip().startswith("#")]  # kept, in place


def test_an_unknown_preset_or_key_is_refused(tmp_path, capsys):
    from add import cli

    path = committed.params_file(tmp_path)
    assert cli.main(["preset", "ffpp-papper", "--params", str(path)]) == 1
    assert "no such preset" in capsys.readouterr().err
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "bad.yaml").write_text("train: {epoch: 3}\n")
    from add.tools.presets import apply

    with pytest.raises(ParamsError, match="did you mean 'train.epochs'"):
        apply("bad", path, folder)
    assert path.read_text() == committed.TEXT  # nothing written
