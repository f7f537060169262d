"""Same seed, same weights on one CPU model: pin the CPU kernels and the thread count torch uses.

Why two machines disagree with identical shards: torch picks its float kernels by the CPU it runs on, and float
addition is not associative, so a different kernel (vector width, blocking, reduction order) gives results that
differ in the last bits; training amplifies that into different weights and metrics within a few hundred steps.
Three libraries choose, each on its own:

- ATen's vectorised kernels (reductions, batch norm, activations, the optimiser): by ``ATEN_CPU_CAPABILITY``, or the
  best the CPU has (``default`` < ``avx2`` < ``avx512``);
- oneDNN's JIT kernels (convolutions): by ``ONEDNN_MAX_CPU_ISA`` (``DNNL_MAX_CPU_ISA`` in older builds), or the best
  the CPU has;
- MKL (matrix products, FFT): by CPU and vendor; ``MKL_CBWR`` (conditional numerical reproducibility) fixes the code
  branch, and ``COMPATIBLE`` is the one branch Intel documents as giving the same results on Intel and non-Intel
  (AMD) CPUs — the ``AVX2`` branch falls back to automatic dispatch on AMD.

And all three split work across threads, so the thread count changes the order of parallel reductions.

``pin_cpu(threads)`` sets these to ``PINNED_ENV`` (AVX2, x86-64-v3: every x86-64 server CPU since ~2015 has it) and
the thread count, before torch does any work — the libraries read the variables once, at their first use; the
``add`` command line calls it (``pin_for_command``) before importing torch when ``train.deterministic`` is true.
``bench/determinism.py`` checks by experiment which of these settings change the weights and that pinned runs agree
(ISA caps emulate older CPUs on one machine). Pinned runs agree across thread requests and ATen/MKL caps; they do
not remove oneDNN's dependence on the CPU model (below).

What stays machine-dependent, documented rather than fixed:
- the convolutions: torch runs them through oneDNN, whose JIT kernels are chosen and blocked by the CPU model (its ISA
  within the pinned cap, its cache sizes), so two CPU models may reduce a convolution in a different order and
  training amplifies the last-bit difference. On one machine only the kernel choice can be emulated, and
  ``bench/determinism.py`` shows it matters: capping oneDNN's ISA after pinning changes the trained weights, while
  with ``torch.backends.mkldnn`` and ``torch.backends.nnpack`` off (ATen's im2col + MKL sgemm under ``MKL_CBWR``) they
  stay identical under every cap. That path is not taken: it makes a training step of the demo 2.5x and an eval batch
  5x slower on 2 idle cores (7.7x and 8.8x at load ~4.5) (depthwise convolutions run channel by channel), taking the
  demo's ``dvc repro`` (5 min 51 s) to ~10 minutes or more. Observed across machines (issue 29): on an Intel Xeon
  (AVX-512) the demo's teacher and students trained from byte-identical shards ended with other weights: teacher
  validation ACC 0.9948 vs 1.0, students' test ACC 0.724 / 0.786 vs 0.797 / 0.745;
- a CPU without AVX2 cannot run the pinned kernels: ATen falls back to ``default`` (``pin_cpu`` warns);
- CUDA: cuDNN/cuBLAS choices depend on the GPU; runs are reproducible on the same GPU model at best;
- other libraries keep their own dispatch (NumPy's OpenBLAS, OpenCV, dlib, x264 in the data stages — these wrote
  byte-identical outputs on both machines of issue 29; check ``dvc status`` after ``dvc repro``);
- other versions of torch/oneDNN/MKL (``uv.lock`` pins them).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from add.core.params import DEFAULT_PARAMS, Params, ParamsError, as_params, load_params

PINNED_ISA = "avx2"
PINNED_ENV = {
    "ATEN_CPU_CAPABILITY": PINNED_ISA,
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "COMPATIBLE",
}
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
DEFAULT_THREADS = 1  # every machine has one core; no OpenMP scheduling or spin-waiting on a shared CPU
# Commands whose numbers come from torch: they are pinned when train.deterministic is true.
TORCH_COMMANDS = ("teacher", "student", "evaluate", "cross")


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask on Linux, else every core)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class DeterminismWarning(UserWarning):
    """Pinning could not take full effect (a CPU without AVX2, or torch already did work before pinning)."""


@dataclass(frozen=True)
class DeterminismConfig:
    deterministic: bool = True
    threads: int = DEFAULT_THREADS

    @classmethod
    def from_params(cls, params: Params | dict) -> DeterminismConfig:
        """``train.deterministic`` and ``train.threads`` (the torch thread count of a pinned run)."""
        train = as_params(params).train
        return cls(deterministic=train.deterministic, threads=train.threads)


def pin_cpu(threads: int = DEFAULT_THREADS) -> dict[str, str]:
    """Pin torch's CPU kernels to ``PINNED_ENV`` and to ``threads`` threads; returns the variables it set.

    Call it before torch runs anything (importing torch is fine: the libraries read these variables at their first
    use). Warns with ``DeterminismWarning`` when the pinned ATen level is not what torch ends up using.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ParamsError(f"params 'train.threads' must be an integer >= 1, got {threads!r}")
    applied = {**PINNED_ENV, **{name: str(threads) for name in THREAD_ENV}}
    os.environ.update(applied)
    import torch

    torch.set_num_threads(threads)
    used = torch.backends.cpu.get_cpu_capability().lower()
    if used != PINNED_ISA:
        warnings.warn(f"determinism: torch's CPU kernels run at {used!r}, not the pinned {PINNED_ISA!r} (a CPU "
                      f"without AVX2, or torch computed something before pinning); results can differ from runs "
                      f"on other machines", DeterminismWarning, stacklevel=2)
    return applied


def params_path(argv: list[str]) -> str:
    """The ``--params`` value of a stage's arguments (default ``params.yaml``)."""
    for i, arg in enumerate(argv):
        if arg == "--params" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--params="):
            return arg.split("=", 1)[1]
    return DEFAULT_PARAMS


def pin_for_command(command: str, argv: list[str]) -> dict[str, str]:
    """``pin_cpu`` for a torch command (``TORCH_COMMANDS``) when its params say ``train.deterministic: true``.

    No-op for other commands and for ``--help``; a params file that cannot be read or nonsense values raise
    ``ParamsError``. Returns the variables set (empty when none)."""
    if command not in TORCH_COMMANDS or "-h" in argv or "--help" in argv:
        return {}
    cfg = DeterminismConfig.from_params(load_params(params_path(argv)))
    return pin_cpu(cfg.threads) if cfg.deterministic else {}
