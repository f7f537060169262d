"""The built wheel and sdist hold only what they should: the package's tracked Python files (and, in the sdist, the
README and the build metadata); no merge leftovers (*.orig), caches, data, results or tests."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    uv = shutil.which("uv")
    assert uv, "uv builds the package (the project's tool: `uv build`)"
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([uv, "build", "--out-dir", str(out), "--quiet"], cwd=ROOT, check=True, capture_output=True)
    return out


def package_files() -> set[str]:
    """The package's tracked files (what git knows under add/), as archive paths."""
    listed = subprocess.run(["git", "ls-files", "add"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {line for line in listed.splitlines() if line}


def test_the_package_tracks_only_python_source():
    assert package_files() and all(name.endswith(".py") for name in package_files())


def test_the_wheel_holds_the_package_and_its_metadata_only(built):
    [wheel] = built.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    meta = {n for n in names if n.split("/")[0].endswith(".dist-info")}
    assert names - meta == package_files()
    assert {Path(n).name for n in meta} >= {"METADATA", "WHEEL", "RECORD", "entry_points.txt"}


def test_the_sdist_holds_the_package_readme_and_build_files_only(built):
    [sdist] = built.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n and tar.getmember(n).isfile()}
    assert names - package_files() == {"README.md", "pyproject.toml", "PKG-INFO", ".gitignore"}
    assert package_files() <= names
