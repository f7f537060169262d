"""Which CPU settings change the weights a seeded training run ends with — the cross-machine determinism check.

    uv run python bench/determinism.py      # ~2 CPU-minutes; a table, and bench/results/determinism.json

Each row runs the same seeded work in a fresh process under one set of environment variables / thread count: the
pretrained EfficientNet-Lite0 detector, ``--steps`` Adam steps on a fixed batch (cross-entropy plus an FFT term on
the first distilled feature map, so convolutions, batch norm, linear layers, reductions and FFT all run, forward and
backward), then a 512x512 float32 matrix product (MKL's sgemm alone). A row reports the SHA-256 of the final weights
and the largest absolute difference from the reference row. Different CPUs are emulated on one machine by capping
the instruction set each library may use:

- ``ATEN_CPU_CAPABILITY`` (``default`` | ``avx2`` | ``avx512``): ATen's own vectorised kernels;
- ``ONEDNN_MAX_CPU_ISA`` (``SSE41`` | ``AVX`` | ``AVX2`` | ``AVX512_CORE`` ...): oneDNN's JIT kernels (convolutions);
- ``MKL_ENABLE_INSTRUCTIONS`` (``SSE4_2`` | ``AVX`` | ``AVX2`` ...): the highest code path MKL dispatches to;
  ``MKL_CBWR`` fixes MKL's code branch instead (``COMPATIBLE`` is the one branch Intel documents as giving the same
  results on Intel and non-Intel CPUs);
- the torch thread count (``torch.set_num_threads``).

The ``pinned`` rows apply ``add.core.determinism.pin_cpu`` — what the stages do when ``train.deterministic`` is
true — on top of an emulated older or differently threaded machine: they must all print the same digest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from add.core.determinism import PINNED_ENV  # noqa: E402

OLD_CPU = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}
# (label, environment, threads, pin): "pin" applies add.core.determinism.pin_cpu(threads) inside the child
ROWS = [
    ("native, 2 threads (reference)", {}, 2, False),
    ("native, 1 thread", {}, 1, False),
    ("ATen capped: ATEN_CPU_CAPABILITY=default", {"ATEN_CPU_CAPABILITY": "default"}, 2, False),
    ("oneDNN capped: ONEDNN_MAX_CPU_ISA=SSE41", {"ONEDNN_MAX_CPU_ISA": "SSE41"}, 2, False),
    ("MKL capped: MKL_ENABLE_INSTRUCTIONS=SSE4_2", {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}, 2, False),
    ("MKL branch: MKL_CBWR=COMPATIBLE", {"MKL_CBWR": "COMPATIBLE"}, 2, False),
    ("all capped (an older CPU)", OLD_CPU, 2, False),
    ("pinned, native, 2 threads", {}, 2, True),
    ("pinned, native, 1 thread asked of torch before pinning", {"OMP_NUM_THREADS": "1"}, 2, True),
    ("pinned, MKL capped at AVX", {"MKL_ENABLE_INSTRUCTIONS": "AVX"}, 2, True),
    ("pinned, oneDNN env preset to AVX512_CORE", {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, 2, True),
]


def child(args: argparse.Namespace) -> None:
    if args.pin:
        from add.core.determinism import pin_cpu

        pin_cpu(args.threads)
    import torch
    import torch.nn.functional as F

    from add.models.detector import create_detector

    if not args.pin:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_detector("tf_efficientnet_lite0", pretrained=True).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1
    y = torch.arange(args.batch) % 2
    started = time.process_time()
    for _ in range(args.steps):
        optimizer.zero_grad(set_to_none=True)
        logits, feats, _ = model(x, features=True)
        spectrum = torch.fft.fft2(feats[0].float(), norm="ortho").abs()
        loss = F.cross_entropy(logits, y) + 1e-3 * spectrum.mean()
        loss.backward()
        optimizer.step()
    cpu = time.process_time() - started
    weights = torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.is_floating_point()])
    a = torch.randn(512, 512, generator=torch.Generator().manual_seed(1))
    product = a @ a.T
    torch.save({"weights": weights, "product": product}, args.out)
    print(json.dumps({"weights": hashlib.sha256(weights.numpy().tobytes()).hexdigest()[:16],
                      "sgemm": hashlib.sha256(product.numpy().tobytes()).hexdigest()[:16],
                      "aten": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
                      "cpu_s_per_step": round(cpu / args.steps, 2)}))


def cpu_description() -> str:
    """Model name and the AVX flags of this CPU (Linux), else the platform's processor string."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    return f"{name} ({' '.join(sorted(f for f in set(flags) if f.startswith('avx')))})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--json", default=str(REPO / "bench" / "results" / "determinism.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--pin", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0

    import tempfile

    import torch

    base = {k: v for k, v in os.environ.items() if k not in {*PINNED_ENV, *OLD_CPU, "MKL_CBWR", "OMP_NUM_THREADS",
                                                             "MKL_NUM_THREADS", "MKL_ENABLE_INSTRUCTIONS"}}
    rows, reference = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, env, threads, pin) in enumerate(ROWS):
            out = Path(tmp) / f"{i}.pt"
            cmd = [sys.executable, __file__, "--child", "--threads", str(threads), "--out", str(out),
                   "--steps", str(args.steps), "--batch", str(args.batch), "--size", str(args.size)]
            if pin:
                cmd.append("--pin")
            result = subprocess.run(cmd, env={**base, **env}, capture_output=True, text=True, check=False)
            if result.returncode:
                print(result.stderr, file=sys.stderr)
                return 1
            row = {"setting": label, "env": env, "pin": pin, **json.loads(result.stdout.strip().splitlines()[-1])}
            saved = torch.load(out, weights_only=True)
            if reference is None:
                reference = saved
            row["max_abs_diff_weights"] = float((saved["weights"] - reference["weights"]).abs().max())
            row["max_abs_diff_sgemm"] = float((saved["product"] - reference["product"]).abs().max())
            rows.append(row)
            print(f"{label:58s} weights {row['weights']} (max |diff| {row['max_abs_diff_weights']:.2e})  "
                  f"sgemm {row['sgemm']} ({row['max_abs_diff_sgemm']:.2e})  ATen {row['aten']:7s} "
                  f"threads {row['threads']}  {row['cpu_s_per_step']} CPU-s/step", flush=True)
    pinned = {r["weights"] for r in rows if r["pin"]}
    print(f"pinned rows agree: {len(pinned) == 1}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({
        "config": {"steps": args.steps, "batch": args.batch, "size": args.size, "torch": torch.__version__,
                   "cpu": cpu_description()},
        "rows": rows, "pinned_rows_agree": len(pinned) == 1}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
