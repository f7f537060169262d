"""Which CPU settings change the weights a seeded training run ends with — the cross-machine determinism check.

    uv run python bench/determinism.py      # ~5 min on 2 idle cores; tables, and bench/results/determinism.json

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

Then the convolution path, the one factor pinning does not fix: oneDNN (and NNPACK) pick and block their kernels by
the CPU model, so the ``conv`` rows pin as the stages do and cap oneDNN's or MKL's ISA *after* pinning (another CPU's
kernel choice, emulated) with convolutions through oneDNN (``onednn``, today's path) or through ATen's im2col + MKL
sgemm (``aten``: ``torch.backends.mkldnn`` and ``torch.backends.nnpack`` disabled; MKL's branch is pinned by
``MKL_CBWR``). Each row lists the convolution backends torch chose (``torch._C._select_conv_backend`` on every
``Conv2d`` call, depthwise ones included, in training and under ``no_grad``). Last, the cost: seconds per training step
and per eval batch of the demo's model, batch and thread count (params.yaml), both paths interleaved, ``--repeats``
times, with the kernel ops torch's profiler saw.
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
# Applied after pin_cpu, i.e. over its settings: what another CPU model's kernel choice looks like at the pinned ISA.
CAPS = [
    ("as pinned", {}),
    ("oneDNN capped at SSE41", {"ONEDNN_MAX_CPU_ISA": "SSE41", "DNNL_MAX_CPU_ISA": "SSE41"}),
    ("oneDNN capped at AVX", {"ONEDNN_MAX_CPU_ISA": "AVX", "DNNL_MAX_CPU_ISA": "AVX"}),
    ("oneDNN raised to AVX512_CORE", {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "DNNL_MAX_CPU_ISA": "AVX512_CORE"}),
    ("MKL capped at AVX", {"MKL_ENABLE_INSTRUCTIONS": "AVX"}),
    ("MKL capped at SSE4_2", {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}),
]
CONVS = ("onednn", "aten")


def route_convolutions(conv: str) -> None:
    """``aten``: convolutions through ATen's im2col + gemm (neither oneDNN nor NNPACK); ``onednn``: torch's default."""
    import torch

    torch.backends.mkldnn.set_flags(conv == "onednn")
    torch.backends.nnpack.set_flags(conv == "onednn")


def record_conv_backends(model, seen: set[str]) -> None:
    """Add to ``seen`` the backend torch selects for each ``Conv2d`` call ("Mkldnn/dw/grad", "Slow2d/1x1/no_grad")."""
    import torch
    from timm.layers import Conv2dSame
    from timm.layers.padding import pad_same

    def hook(module, inputs):
        x = inputs[0]
        if isinstance(module, Conv2dSame):  # pads in its forward, after this hook
            x = pad_same(x, module.kernel_size, module.stride, module.dilation)
        padding = [0, 0] if isinstance(module.padding, str) else list(module.padding)
        backend = torch._C._select_conv_backend(x, module.weight, module.bias, list(module.stride), padding,
                                                list(module.dilation), False, [0, 0], module.groups)
        kind = "dw" if module.groups > 1 else "x".join(map(str, module.kernel_size))
        seen.add(f"{str(backend).rsplit('.', 1)[-1]}/{kind}/{'grad' if torch.is_grad_enabled() else 'no_grad'}")

    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_pre_hook(hook)


def child(args: argparse.Namespace) -> None:
    if args.pin:
        from add.core.determinism import pin_cpu

        pin_cpu(args.threads)
    os.environ.update(json.loads(args.after_pin))
    import torch
    import torch.nn.functional as F

    from add.models.detector import create_detector

    if not args.pin:
        torch.set_num_threads(args.threads)
    if args.conv:
        route_convolutions(args.conv)
    if args.cost:
        cost_child(args)
        return
    torch.manual_seed(0)
    model = create_detector("tf_efficientnet_lite0", pretrained=True).train()
    backends: set[str] = set()
    record_conv_backends(model, backends)
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
    with torch.no_grad():
        model.eval()(x)
    weights = torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.is_floating_point()])
    a = torch.randn(512, 512, generator=torch.Generator().manual_seed(1))
    product = a @ a.T
    torch.save({"weights": weights, "product": product}, args.out)
    print(json.dumps({"weights": hashlib.sha256(weights.numpy().tobytes()).hexdigest()[:16],
                      "sgemm": hashlib.sha256(product.numpy().tobytes()).hexdigest()[:16],
                      "aten": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
                      "cpu_s_per_step": round(cpu / args.steps, 2), "conv_backends": sorted(backends)}))


def cost_child(args: argparse.Namespace) -> None:
    """Wall and CPU seconds per training step (forward, backward, Adam) and per eval batch (``no_grad``)."""
    import torch
    import torch.nn.functional as F
    from torch.profiler import ProfilerActivity, profile

    from add.models.detector import create_detector

    torch.manual_seed(0)
    model = create_detector(args.model, pretrained=True).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1
    y = torch.arange(args.batch) % 2

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        logits = model(x)
        F.cross_entropy(logits, y).backward()
        optimizer.step()

    def timed(fn, n):
        fn()  # warm-up: oneDNN JIT, allocator
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            fn()
        return (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n

    train = timed(train_step, args.steps)
    model.eval()
    with torch.no_grad():
        evaluate = timed(lambda: model(x), 2 * args.steps)
    kernels = set()
    for mode in ("train", "eval"):
        model.train(mode == "train")
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            if mode == "train":
                train_step()
            else:
                with torch.no_grad():
                    model(x)
        kernels |= {f"{e.key}/{mode}" for e in prof.key_averages()
                    if any(k in e.key for k in ("conv", "mkldnn", "nnpack"))
                    and e.key not in {"aten::conv2d", "aten::convolution", "aten::_convolution",
                                      "aten::convolution_backward", "aten::_nnpack_available"}}
    print(json.dumps({"train_s": train[0], "train_cpu_s": train[1], "eval_s": evaluate[0],
                      "eval_cpu_s": evaluate[1], "kernels": sorted(kernels)}))


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
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats of the cost measurement")
    parser.add_argument("--cost-steps", type=int, default=2, help="timed training steps per cost run")
    parser.add_argument("--params", default=str(REPO / "params.yaml"), help="model, batch, image size, threads")
    parser.add_argument("--after-pin", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--conv", choices=CONVS, help=argparse.SUPPRESS)
    parser.add_argument("--cost", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="tf_efficientnet_lite0", help=argparse.SUPPRESS)
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

    from add.core.io import atomic_write_text
    from add.core.params import load_params

    base = {k: v for k, v in os.environ.items() if k not in {*PINNED_ENV, *OLD_CPU, "MKL_CBWR", "OMP_NUM_THREADS",
                                                             "MKL_NUM_THREADS", "MKL_ENABLE_INSTRUCTIONS"}}

    def run_child(env: dict, *extra: str) -> dict | None:
        result = subprocess.run([sys.executable, __file__, "--child", *extra], env={**base, **env},
                                capture_output=True, text=True, check=False)
        if result.returncode:
            print(result.stderr, file=sys.stderr)
            return None
        return json.loads(result.stdout.strip().splitlines()[-1])

    print(f"load before: {os.getloadavg()}  ({cpu_description()}, torch {torch.__version__})", flush=True)
    rows, conv_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        shape = ["--steps", str(args.steps), "--batch", str(args.batch), "--size", str(args.size)]
        jobs = [(label, env, threads, pin, None, {}) for label, env, threads, pin in ROWS]
        jobs += [(f"pinned, {conv} convs, {cap}", {}, 2, True, conv, after) for conv in CONVS for cap, after in CAPS]
        references: dict = {}
        for i, (label, env, threads, pin, conv, after) in enumerate(jobs):
            out = Path(tmp) / f"{i}.pt"
            extra = [*shape, "--threads", str(threads), "--out", str(out), "--after-pin", json.dumps(after),
                     *(["--pin"] if pin else []), *(["--conv", conv] if conv else [])]
            measured = run_child(env, *extra)
            if measured is None:
                return 1
            row = {"setting": label, "env": env, "pin": pin, **({"conv": conv, "after_pin": after} if conv else {}),
                   **measured}
            saved = torch.load(out, weights_only=True)
            reference = references.setdefault(conv, saved)  # first row of each group
            row["max_abs_diff_weights"] = float((saved["weights"] - reference["weights"]).abs().max())
            row["max_abs_diff_sgemm"] = float((saved["product"] - reference["product"]).abs().max())
            (conv_rows if conv else rows).append(row)
            if i == len(ROWS):
                print("\nconvolution path x a different CPU's kernel choice (caps applied after pin_cpu); "
                      "max |diff| from each path's 'as pinned' row", flush=True)
            print(f"{label:58s} weights {row['weights']} (max |diff| {row['max_abs_diff_weights']:.2e})  "
                  f"sgemm {row['sgemm']} ({row['max_abs_diff_sgemm']:.2e})  ATen {row['aten']:7s} "
                  f"threads {row['threads']}  {row['cpu_s_per_step']} CPU-s/step"
                  + (f"  {','.join(row['conv_backends'])}" if conv else ""), flush=True)
    pinned = {r["weights"] for r in rows if r["pin"]}
    agree = {conv: len({r["weights"] for r in conv_rows if r["conv"] == conv}) == 1 for conv in CONVS}
    print(f"pinned rows agree: {len(pinned) == 1}; digests identical under every cap: {agree}")

    params = load_params(args.params)
    demo = {"model": params.model.name, "batch": params.train.batch_size, "size": params.data.image_size,
            "threads": params.train.threads}
    print(f"\ncost at the demo's {demo} (pinned, interleaved, {args.repeats} repeats); wall s (CPU s)", flush=True)
    cost = {conv: [] for conv in CONVS}
    for repeat in range(args.repeats):
        for conv in CONVS:
            measured = run_child({}, "--pin", "--cost", "--conv", conv, "--model", demo["model"],
                                 "--batch", str(demo["batch"]), "--size", str(demo["size"]),
                                 "--threads", str(demo["threads"]), "--steps", str(args.cost_steps))
            if measured is None:
                return 1
            measured["load"] = os.getloadavg()[0]
            cost[conv].append(measured)
            print(f"  repeat {repeat} {conv:6s}: train step {measured['train_s']:.2f} ({measured['train_cpu_s']:.2f})"
                  f"  eval batch {measured['eval_s']:.3f} ({measured['eval_cpu_s']:.3f})  load {measured['load']:.1f}",
                  flush=True)
    ratios = {}
    for key in ("train_s", "eval_s"):
        per_repeat = sorted(b[key] / a[key] for a, b in zip(cost["onednn"], cost["aten"], strict=True))
        ratios[key] = {"median": per_repeat[len(per_repeat) // 2], "min": per_repeat[0], "max": per_repeat[-1]}
        print(f"aten / onednn {key}: median {ratios[key]['median']:.2f} "
              f"(range {ratios[key]['min']:.2f}-{ratios[key]['max']:.2f})")
    for conv in CONVS:
        print(f"kernels ({conv}): {', '.join(cost[conv][0]['kernels'])}")
    print(f"load after: {os.getloadavg()}")

    atomic_write_text(args.json, json.dumps({
        "config": {"steps": args.steps, "batch": args.batch, "size": args.size, "torch": torch.__version__,
                   "cpu": cpu_description(), "cost_setting": demo, "cost_steps": args.cost_steps,
                   "repeats": args.repeats},
        "rows": rows, "pinned_rows_agree": len(pinned) == 1,
        "conv_rows": conv_rows, "conv_digests_identical_under_caps": agree,
        "cost": cost, "cost_ratio_aten_over_onednn": ratios}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
