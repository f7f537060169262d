"""`uv run …` starts without compiling the environment's bytecode (issue 29, item 12): with `[tool.uv]
compile-bytecode = true` every `uv run` re-ran the compile step over ~14,000 files (0.4–2 s, "Bytecode compiled").
The check runs the project's real entry point through uv, the way a user does."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_uv_run_does_not_compile_bytecode_every_time():
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    # The setting under test is pyproject's, not the caller's environment.
    env = {k: v for k, v in os.environ.items() if k != "UV_COMPILE_BYTECODE"}
    for _ in range(2):  # the first run may sync; the second is what every later run costs
        done = subprocess.run([uv, "run", "--frozen", "--offline", "add", "--help"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert "Bytecode compiled" not in done.stderr
