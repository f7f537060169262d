"""add.core.io: atomic outputs get the modes a plain open()/mkdir() would give them (the umask), never owner-only."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from add.core.io import atomic_path, atomic_write_bytes, atomic_write_json, current_umask, make_temp_dir, replace_tree


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_current_umask_reads_without_changing_it(umask):
    assert current_umask() == umask
    assert current_umask() == umask


def test_atomic_files_and_folders_honour_the_umask(umask, tmp_path):
    plain_file, plain_dir = tmp_path / "plain.txt", tmp_path / "plain"
    plain_file.write_text("x")
    plain_dir.mkdir()
    atomic_write_bytes(tmp_path / "a.bin", b"x")
    atomic_write_json(tmp_path / "sub" / "m.json", {"a": 1})
    with atomic_path(tmp_path / "t.parquet") as tmp:
        pd.DataFrame({"a": [1]}).to_parquet(tmp)
    staged = make_temp_dir(tmp_path / "tree")
    assert mode(staged) == mode(plain_dir)
    atomic_write_bytes(staged / "inner.tar", b"x")
    replace_tree(staged, tmp_path / "tree")
    for path in ("a.bin", "sub/m.json", "t.parquet", "tree/inner.tar"):
        assert mode(tmp_path / path) == mode(plain_file) == 0o666 & ~umask, path
    assert mode(tmp_path / "tree") == mode(plain_dir) == 0o777 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "plain", "plain.txt", "sub", "t.parquet", "tree"]


def test_a_folder_from_mkdtemp_is_put_in_place_with_the_umask(umask, tmp_path):
    import tempfile

    staged = tempfile.mkdtemp(dir=tmp_path)  # owner-only, as the demo builder makes its tree
    replace_tree(staged, tmp_path / "out")
    replace_tree(tempfile.mkdtemp(dir=tmp_path), tmp_path / "out")  # and over an existing one
    assert mode(tmp_path / "out") == 0o777 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
