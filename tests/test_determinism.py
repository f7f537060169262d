"""Pinning torch's CPU kernels: the same weights from emulated different CPUs, the params, the CLI hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from add.core import determinism
from add.core.determinism import PINNED_ENV, DeterminismConfig, params_path, pin_for_command
from add.core.params import ParamsError

REPO = Path(__file__).resolve().parents[1]
# A few seeded steps of a small model: random init (vectorised RNG), conv, batch norm, linear, FFT, Adam.
WORK = """
import hashlib, json, os, sys
pin = sys.argv[1].startswith("pin")
if pin:
    from add.core.determinism import pin_cpu
    pin_cpu(1)
os.environ.update(json.loads(sys.argv[2]))  # over pin_cpu's settings: another CPU's kernel choice
import torch
if not pin:
    torch.set_num_threads(2)
if sys.argv[1] == "pin-aten":  # convolutions through ATen's im2col + MKL gemm, neither oneDNN nor NNPACK
    torch.backends.mkldnn.set_flags(False)
    torch.backends.nnpack.set_flags(False)
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
                            torch.nn.Conv2d(16, 16, 3, groups=16), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                            torch.nn.Linear(16, 2))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
x, y = torch.randn(8, 3, 32, 32), torch.arange(8) % 2
for _ in range(3):
    opt.zero_grad()
    out = model(x)
    loss = torch.nn.functional.cross_entropy(out, y) + torch.fft.fft2(model[0](x)).abs().mean() * 1e-3
    loss.backward()
    opt.step()
weights = torch.cat([p.detach().flatten() for p in model.parameters()])
print(json.dumps({"digest": hashlib.sha256(weights.numpy().tobytes()).hexdigest(),
                  "aten": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}))
"""
OLDER_CPU = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}


def run_work(mode: str, env: dict[str, str], after_pin: dict[str, str] | None = None) -> dict:
    clean = {k: v for k, v in os.environ.items()
             if k not in {*PINNED_ENV, *OLDER_CPU, *determinism.THREAD_ENV}}
    result = subprocess.run([sys.executable, "-c", WORK, mode, json.dumps(after_pin or {})], env={**clean, **env},
                            cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_pinned_runs_agree_across_emulated_cpus():
    native = run_work("pin", {})
    older = run_work("pin", {**OLDER_CPU, "OMP_NUM_THREADS": "2"})  # pin_cpu overrides what the machine would pick
    assert native["aten"] == older["aten"]
    assert native["threads"] == older["threads"] == 1
    assert native["digest"] == older["digest"]


@pytest.mark.slow
def test_unpinned_runs_differ_across_emulated_cpus():
    # the control: without pinning, capping the instruction set (another CPU) changes the weights
    native = run_work("free", {})
    if native["aten"] == "DEFAULT":
        pytest.skip("this CPU has no vector kernels above the default to compare with")
    older = run_work("free", OLDER_CPU)
    assert older["aten"] == "DEFAULT"
    assert native["digest"] != older["digest"]


ONEDNN_CAPS = ({"ONEDNN_MAX_CPU_ISA": "SSE41", "DNNL_MAX_CPU_ISA": "SSE41"},
               {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "DNNL_MAX_CPU_ISA": "AVX512_CORE"})


def test_pinned_convolutions_still_depend_on_onednns_kernel_choice():
    # What determinism.py documents as machine-dependent: pinning leaves the convolutions to oneDNN, whose kernel
    # choice (emulated by its ISA cap) changes the weights; with oneDNN and NNPACK off, the same caps change nothing.
    through_onednn = {run_work("pin", {}, caps)["digest"] for caps in ONEDNN_CAPS}
    through_aten = {run_work("pin-aten", {}, caps)["digest"] for caps in ONEDNN_CAPS}
    assert len(through_onednn) == 2
    assert len(through_aten) == 1


def test_config_from_params():
    assert DeterminismConfig.from_params({}) == DeterminismConfig(True, 1)
    cfg = DeterminismConfig.from_params({"train": {"deterministic": False, "threads": 4}})
    assert cfg == DeterminismConfig(False, 4)
    with pytest.raises(ParamsError, match="train.threads' must be >= 1"):
        DeterminismConfig.from_params({"train": {"threads": 0}})
    with pytest.raises(ParamsError, match="train.deterministic"):
        DeterminismConfig.from_params({"train": {"deterministic": "maybe"}})


def test_params_path():
    assert params_path(["--method", "Deepfakes"]) == "params.yaml"
    assert params_path(["--params", "p.yaml", "--method", "X"]) == "p.yaml"
    assert params_path(["--params=q.yaml"]) == "q.yaml"


def test_pin_for_command(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(determinism, "pin_cpu", lambda threads: calls.append(threads) or {"threads": str(threads)})
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"train": {"deterministic": True, "threads": 3}}))
    assert pin_for_command("extract", ["--params", str(path)]) == {}  # no torch numbers in the data stages
    assert pin_for_command("teacher", ["--params", str(path), "--help"]) == {}
    assert pin_for_command("student", ["--params", str(path)]) == {"threads": "3"}
    assert calls == [3]
    path.write_text(yaml.safe_dump({"train": {"deterministic": False, "threads": 3}}))
    assert pin_for_command("evaluate", ["--params", str(path)]) == {}
    path.write_text(yaml.safe_dump({"train": {"threads": "two"}}))
    with pytest.raises(ParamsError, match="train.threads' must be an integer"):
        pin_for_command("teacher", ["--params", str(path)])
    assert calls == [3]
