"""The dataset formats own their names: one module each in add/data/datasets/formats/, named as the format.

What "a format's name is a string literal in exactly one module under add/" means here, precisely: for each format,
the modules under add/ holding a string constant (AST ``ast.Constant`` of type str, compared whole: not substrings,
f-string parts, comments or docstring words) equal to the format's name are exactly its own module
add/data/datasets/formats/<name>.py, plus, for a word that also names another concept, the modules of that concept
(listed in OTHER_CONCEPTS with what they mean). The one such word is ``list``: also ``data.source: list`` (a CSV list
as training data, add/data/list_source.py) and ``LIST_METHOD`` (that source's method name); those are not the
dataset format ``list`` (``cross: format: list``, ``add lists --format list``), which is named in formats/list.py only.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from add.core.params import CROSS_FORMATS
from add.data.datasets import registry

ROOT = Path(__file__).resolve().parent.parent
FORMATS = ROOT / "add" / "data" / "datasets" / "formats"
OTHER_CONCEPTS = {"list": {
    "add/core/layout.py": "LIST_METHOD, the method name of data.source: list",
    "add/core/params_schema.py": "data.source's choice list (Data.source) and its checks",
    "add/data/ffpp.py": "SOURCES, the data.source choices",
    "add/data/videos.py": "the data.source: list branch",
}}


def literals(path: Path) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_names_come_from_the_module_files_and_each_module_registers_its_own():
    assert registry.names() == CROSS_FORMATS == ("celebdf", "dfd", "dfdc", "dfdcp", "folder", "list")
    for name in registry.names():
        fmt = registry.get(name)
        assert fmt.name == name and importlib.import_module(f"{registry.FORMATS.package}.{name}").FORMAT is fmt


def test_params_import_no_format_module():
    import subprocess
    import sys
    code = ("import sys; import add.core.params as p; p.parse_params({'cross': [{'name': 'a', 'format': 'celebdf', "
            "'root': 'x'}]}); print(sorted(m for m in sys.modules if m.startswith('add.data')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", registry.names())
def test_a_format_name_is_a_string_literal_in_one_module(name):
    holders = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "add").rglob("*.py") if name in literals(p))
    expected = sorted([f"add/data/datasets/formats/{name}.py", *OTHER_CONCEPTS.get(name, {})])
    assert holders == expected


def test_an_unknown_format_names_the_choices():
    with pytest.raises(registry.DatasetError, match=r"unknown dataset format 'nope'; choose from \['celebdf', "):
        registry.get("nope")
