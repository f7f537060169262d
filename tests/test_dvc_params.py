"""`dvc.yaml` params are exactly the params each stage reads (the params-side twin of tests/test_dvc_deps.py).

What a stage reads is not a hand list: each stage module's ``settings`` function is everything it reads from the
params (its ``main`` reads them through it), and :func:`add.core.params.recording` collects the keys that function
touches on the typed sections — run for every instance of every matrix stage, with params.yaml and each preset
(FF++ and the demo, every distiller the presets train). A stage that reads a key its ``params:`` does not list would
keep a stale output when that key changes; a listed key no instance reads reruns the stage for nothing (the plain
student retrained by ``dvc exp run -S beta=20``).
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import re
from pathlib import Path

import pytest
import yaml
from committed import raw as default_params

from add.cli import ALIASES, STAGES
from add.core.determinism import TORCH_COMMANDS, DeterminismConfig
from add.core.params import parse_params, recording
from add.tools.presets import resolved

ROOT = Path(__file__).resolve().parents[1]
PARAMS_FILES = ["params.yaml", *sorted(f"presets/{p.name}" for p in (ROOT / "presets").glob("*.yaml"))]


def shipped(path: str) -> dict:
    """The default params.yaml (as committed, not the workspace's), or a preset applied to it (``add preset``), as
    the raw mapping DVC interpolates."""
    if path == "params.yaml":
        return default_params()
    return resolved(Path(path).stem, default_params())


def resolve(raw: dict, expression: str):
    """``${data.methods}`` -> params value (raw YAML, as DVC interpolates it)."""
    value = raw
    for part in expression.split("."):
        value = value[part]
    return value


def instances(stage: dict, raw: dict) -> list[tuple[str, dict]]:
    """The commands of a (matrix) stage with ``raw`` params: [(command line, item)]."""
    matrix = stage.get("matrix") or {}
    axes = {name: resolve(raw, values[2:-1]) if isinstance(values, str) else values for name, values in
            matrix.items()}
    out = []
    for combo in itertools.product(*axes.values()) if axes else [()]:
        item = dict(zip(axes, combo, strict=True))
        cmd = re.sub(r"\$\{item\.(\w+)\}", lambda m, item=item: str(item[m.group(1)]), " ".join(stage["cmd"].split()))
        out.append((cmd, item))
    return out


def command_of(script: str) -> str:
    """The ``add`` command a pipeline script runs (an old script name maps through the CLI's aliases)."""
    path = ROOT / script
    name = Path(script).stem
    if path.is_file():
        match = re.search(r'main\(\["(\w+)"', path.read_text(encoding="utf-8"))
        name = match.group(1) if match else name
    return ALIASES.get(name, name)


def options(words: list[str]) -> dict[str, str]:
    return {words[i][2:].replace("-", "_"): words[i + 1] for i in range(len(words) - 1) if words[i].startswith("--")}


def reads_of(cmd: str, params) -> set[str]:
    """The params keys the stage command ``cmd`` reads: its module's ``settings`` (+ the CPU pinning of the torch
    commands, add.core.determinism), recorded."""
    words = cmd.split()
    command = command_of(words[1])
    settings = importlib.import_module(STAGES[command][0]).settings
    accepted = inspect.signature(settings).parameters
    kwargs = {k: v for k, v in options(words[2:]).items() if k in accepted}
    with recording() as reads:
        if command in TORCH_COMMANDS:
            DeterminismConfig.from_params(params)
        settings(params, **kwargs)
    return reads


def listed(stage: dict) -> list[str]:
    return [p for p in stage.get("params", []) if isinstance(p, str)]


def covers(entry: str, key: str) -> bool:
    return key == entry or key.startswith(f"{entry}.")


def check(dvc_yaml: dict) -> list[str]:
    """Every problem: a key read but not listed, or a listed key no instance reads."""
    problems = []
    for name, stage in dvc_yaml["stages"].items():
        read: set[str] = set()
        missing: dict[str, str] = {}  # key -> an instance that reads it
        for path in PARAMS_FILES:
            raw = shipped(path)
            params = parse_params(raw)
            for cmd, _ in instances(stage, raw):
                keys = reads_of(cmd, params)
                read |= keys
                for key in keys:
                    if not any(covers(e, key) for e in listed(stage)):
                        missing.setdefault(key, f"{cmd} with {path}")
        if missing:
            problems.append(f"stage {name!r} reads {sorted(missing)}, not in its params: (e.g. "
                            f"{next(iter(missing.values()))})")
        unused = [e for e in listed(stage) if not any(covers(e, k) for k in read)]
        if unused:
            problems.append(f"stage {name!r} lists params no instance reads: {unused}")
    return problems


def test_dvc_yaml_lists_every_param_each_stage_reads():
    problems = check(yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8")))
    assert not problems, "\n".join(problems)


def test_the_check_sees_a_missing_and_an_extra_param():
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    shards = dvc_yaml["stages"]["shards"]
    shards["params"] = [p for p in shards["params"] if p != "seed"] + ["beta"]
    problems = check(dvc_yaml)
    assert any("'shards'" in p and "['seed']" in p for p in problems)
    assert any("'shards' lists params no instance reads: ['beta']" in p for p in problems)


def test_beta_reaches_only_the_distilled_students():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert [name for name, stage in stages.items() if any(covers(e, "beta") for e in listed(stage))] == ["student"]
    assert "none" not in default_params()["students"]["distill"]


def test_the_student_seed_reaches_only_the_students():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert [name for name, stage in stages.items() if any(covers(e, "train.seed") for e in listed(stage))] == [
        "student", "student_none"]
    params = parse_params({"seed": 1, "train": {"seed": 7}})
    teacher = reads_of("python pipeline/teacher.py --method Deepfakes", params)
    student = reads_of("python pipeline/student.py --method Deepfakes --quality c40 --distill none", params)
    assert "train.seed" not in teacher and "train.seed" in student


@pytest.mark.parametrize("command", ["teacher", "student"])
def test_the_training_stages_record_what_the_run_uses(command):
    params = parse_params(default_params())
    keys = reads_of(f"python pipeline/{command}.py --method Deepfakes --quality c40 --distill add", params)
    assert {"seed", "model.name", "train.lr", "train.threads", "data.box_scale"} <= keys
    assert ("beta" in keys and "distill.alpha" in keys) == (command == "student")


def test_none_in_students_distill_is_explained_and_dvc_stops_before_any_stage(tmp_path, capsys):
    """`students.distill: [none, add]`: DVC checks the outputs of every stage before it runs any, so its
    duplicate-output error is what `dvc repro` prints (no project code can run first: dvc.yaml has no conditionals);
    the project's own explanation is `add params` and every stage's start-up, and dvc.yaml's student stage says it
    too."""
    import shutil
    import subprocess

    from dvc.exceptions import OutputDuplicationError
    from dvc.repo import Repo

    from add import cli

    raw = default_params()
    raw["students"]["distill"] = ["none", "add"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert cli.main(["params", "--params", str(path)]) == 1
    err = capsys.readouterr().err
    assert "params 'students.distill' lists none: the plain student always trains, in its own stage student_none" in err
    assert "e.g. [add]" in err and "specified in student@...-none and student_none@..." in err

    for name in ("dvc.yaml", ".dvc/config", ".dvcignore"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    with pytest.raises(OutputDuplicationError, match=r"student_none@Deepfakes-c40") as dup:
        Repo(str(tmp_path)).index.graph  # noqa: B018 (what dvc repro builds before running anything)
    assert "models/student/Deepfakes/c40/none" in str(dup.value)
    raw["students"]["distill"] = ["add"]
    path.write_text(yaml.safe_dump(raw))
    assert len(Repo(str(tmp_path)).index.graph) > 0  # the default has no duplicate
    dvc_yaml = (ROOT / "dvc.yaml").read_text(encoding="utf-8")
    comment = dvc_yaml[:dvc_yaml.index("\n  student:\n")].rsplit("\n\n", 1)[-1]
    assert "students.distill never lists none" in comment and "uv run add params" in comment
