"""The registries own their names (issue 27): each distiller and backbone is a module of its package, registered under
the module's name, and its name is a string literal in exactly one module under add/."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from add.core.registry import BACKBONES, DISTILLERS, PLAIN_STUDENT, Registry

ROOT = Path(__file__).resolve().parent.parent


def literal_modules(name: str) -> list[str]:
    """The modules under add/ holding the string literal ``name`` (docstrings hold it only inside longer text)."""
    found = []
    for path in sorted((ROOT / "add").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.Constant) and node.value == name for node in ast.walk(tree)):
            found.append(path.relative_to(ROOT).as_posix())
    return found


@pytest.mark.parametrize("registry", [DISTILLERS, BACKBONES], ids=lambda r: r.kind)
def test_each_name_is_a_string_literal_in_exactly_one_module(registry):
    for name in registry.names():
        assert len(literal_modules(name)) == 1, (name, literal_modules(name))


@pytest.mark.parametrize("registry", [DISTILLERS, BACKBONES], ids=lambda r: r.kind)
def test_each_entry_is_registered_by_the_module_named_after_it(registry):
    assert registry.names() and not set(registry.names()) & {"base", "__init__"}
    for name, entry in registry.items():
        assert f"{registry.package}.{name}" in sys.modules
        if isinstance(entry, type):
            assert entry.__module__ == f"{registry.package}.{name}"


def test_params_know_the_names_without_importing_torch():
    import subprocess

    code = ("import sys; from add.core.params import Params; from add.models.backbones import model_names; "
            "p = Params(); print(p.distill.method, len(model_names()), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.split() == ["add", str(sum(len(b.models) for _, b in BACKBONES.items())), "False"]
    assert PLAIN_STUDENT in DISTILLERS


def test_an_unknown_name_says_which_key_and_the_closest_name():
    from add.core.errors import ParamsError

    with pytest.raises(ParamsError, match=r"'distill.method' must be one of .*got 'fitnte'; did you mean 'fitnet'"):
        DISTILLERS.check("fitnte", key="distill.method")
    with pytest.raises(ParamsError, match="unknown distiller 'x'"):
        DISTILLERS["x"]


def test_a_module_registering_another_name_is_refused(tmp_path, monkeypatch):
    package = tmp_path / "toyreg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "good.py").write_text("from conftest_registry import R\nR.register('good')(1)\n")
    (package / "bad.py").write_text("from conftest_registry import R\nR.register('other')(2)\n")
    registry = Registry("thing", "toyreg")
    module = type(sys)("conftest_registry")
    module.R = registry
    monkeypatch.setitem(sys.modules, "conftest_registry", module)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert registry.names() == ("bad", "good") and registry["good"] == 1
    with pytest.raises(ValueError, match="under its module name 'bad'"):
        registry["bad"]
