"""`dvc.yaml` deps are exactly the project code each stage's command runs.

A stage's command is `python pipeline/<script>.py ...`; the script calls `add.cli.main([<command>, ...])`, and the
CLI's command table maps the command to a module. The import closure of that module (AST, project modules only,
function-level imports included) must be listed in the stage's deps, and the deps must list no project code outside
it — so that editing a function reruns every stage that runs it, and only those.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "add"


def module_file(module: str) -> Path | None:
    """The file of a project module (`add.data.loader` -> add/data/loader.py), None outside the project."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = ROOT.joinpath(*parts)
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def carries_code(path: Path) -> bool:
    """False for a package `__init__.py` holding only a docstring."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return not (path.name == "__init__.py" and all(
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body))


@cache
def imported_modules(path: Path) -> frozenset[str]:
    """Project modules a file imports anywhere (top level or inside functions), with their parent packages."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    if path.name == "__init__.py" and registry_package(path):
        package = ".".join(path.parent.relative_to(ROOT).parts)
        found.update(f"{package}.{p.stem}" for p in path.parent.glob("*.py") if p.name != "__init__.py")
    return frozenset(m for m in found if module_file(m) is not None)


def registry_package(path: Path) -> bool:
    """A package whose ``__init__`` sets ``REGISTRY`` (add.core.registry): its modules are imported by name, on
    demand, so importing the package may run any of them."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return any(isinstance(t, ast.Name) and t.id == "REGISTRY" for node in body if isinstance(node, ast.Assign)
               for t in node.targets)


def closure(modules: set[str]) -> set[Path]:
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(imported_modules(module_file(module)))
    return {module_file(m) for m in seen}


def cli_commands() -> dict[str, str]:
    """`add.cli.STAGES` and `add.cli.TOOLS` read from the source: command -> module."""
    tree = ast.parse((ROOT / "add" / "cli.py").read_text(encoding="utf-8"))
    tables = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and target.id in ("STAGES", "TOOLS"):
                tables[target.id] = ast.literal_eval(node.value)
    assert set(tables) == {"STAGES", "TOOLS"}, "add/cli.py: no STAGES / TOOLS table"
    return {name: entry[0] for table in tables.values() for name, entry in table.items()}


def script_command(script: Path) -> str:
    """The CLI command a pipeline script runs: the first string of its `main([...])` call."""
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "main"
                and node.args and isinstance(node.args[0], ast.List) and node.args[0].elts
                and isinstance(node.args[0].elts[0], ast.Constant)):
            return node.args[0].elts[0].value
    raise AssertionError(f"{script}: no main([<command>, ...]) call")


def stage_code(cmd: str) -> set[Path]:
    words = cmd.split()
    assert words[0] == "python" and words[1].startswith("pipeline/"), f"unexpected stage command {cmd!r}"
    script = ROOT / words[1]
    module = cli_commands()[script_command(script)]
    files = closure({module} | set(imported_modules(script)))
    return {script} | {f for f in files if carries_code(f)}


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(ROOT)
    return any(rel == Path(d) or Path(d) in rel.parents for d in deps)


def project_code(dep: str) -> list[Path]:
    """The Python files of a dep that lies in the project's code folders."""
    path = ROOT / dep
    if not (dep.startswith(f"{PACKAGE}/") or dep.startswith("pipeline/")):
        return []
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_are_the_code_it_runs(name):
    stage = STAGES[name]
    deps = [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]
    code = stage_code(" ".join(stage["cmd"].split()))
    missing = sorted(str(f.relative_to(ROOT)) for f in code if not covered(f, deps))
    assert not missing, f"dvc.yaml stage {name!r} runs these files but does not list them in deps: {missing}"
    extra = sorted({str(f.relative_to(ROOT)) for d in deps for f in project_code(d)
                    if f not in code and carries_code(f)})
    assert not extra, f"dvc.yaml stage {name!r} lists code its command never imports: {extra}"
    for dep in deps:
        assert (ROOT / dep).exists() or not project_code(dep), f"dvc.yaml stage {name!r}: dep {dep} does not exist"


def test_closure_follows_function_level_imports(tmp_path):
    # the CLI imports stage modules through importlib; the table, not an import statement, links them
    assert "add.data.extract.stage" in cli_commands().values()
    files = closure({"add.cli"})
    assert ROOT / "add" / "core" / "errors.py" in files
    assert ROOT / "add" / "data" / "extract" / "stage.py" not in files
    assert ROOT / "add" / "data" / "extract" / "stage.py" in closure({"add.data.extract.stage"})


def test_stages_do_not_import_each_other():
    # shared names live in add.core.layout / add.core.args, so editing one stage never reruns another
    modules = {cli_commands()[script_command(ROOT / " ".join(stage["cmd"].split()).split()[1])]
               for stage in STAGES.values()}
    assert len(modules) == 10
    for module in sorted(modules):
        others = sorted(m for m in imported_modules(module_file(module)) if m in modules - {module})
        assert not others, f"stage module {module} imports the stage module(s) {others}"


def test_each_stage_goes_by_one_name():
    # DVC stage (or its split: <stage>_<part>) == pipeline/<stage>.py == add <stage> == the one module of its layer
    # named after it (add/data/videos.py, add/training/teacher.py, add/data/extract/stage.py, ...: its main + settings)
    from add.cli import STAGES as COMMANDS

    assert list(COMMANDS) == ["videos", "extract", "shards", "teacher", "student", "evaluate", "gallery", "spectrum",
                              "cross_demo", "cross"]
    for name, stage in STAGES.items():
        script = " ".join(stage["cmd"].split()).split()[1]
        command = script_command(ROOT / script)
        assert name == command or name.startswith(f"{command}_"), (name, script)
        assert script == f"pipeline/{command}.py"
    assert {p.stem for p in (ROOT / "pipeline").glob("*.py")} == set(COMMANDS)
    for command in COMMANDS:
        module = cli_commands()[command].split(".")
        assert module[1] in ("data", "training", "evaluation") and command in module[2:], module
        source = module_file(".".join(module)).read_text(encoding="utf-8")
        assert "\ndef main(" in source and ("\ndef settings(" in source or "\nsettings = " in source), module
