"""Cost of the distillation losses in one training step of a ResNet50 student at 128 px, on CPU.

One step = student forward (+ teacher forward under no_grad for the distillation rows) + CE (+ distillation terms)
+ backward + Adam step (student, and the distiller's own parameters when it has any). Rows:

* ``ce``: the plain student (``forward``), CE only: the reference (ratio 1);
* ``none``: the student's features via ``forward_intermediates`` and the teacher's forward, no loss: what any
  feature distillation pays before its loss, so ``vs none`` isolates the loss itself;
* one row per distiller of the registry.

Variants are interleaved round-robin (one step each per round) so that load from other processes on a shared
machine spreads over all of them; after ``--warmup`` rounds the median of ``--steps`` rounds is reported, for two
clocks: the process's CPU time (the ratios to trust on a shared machine: waiting for a core does not count) and wall
time. One torch thread by default, so that CPU time holds no spin-waiting of idle worker threads.

    uv run python bench/loss_overhead.py --batch 16 --steps 3        # table on stdout, JSON in bench/results/
    uv run python bench/loss_overhead.py --profile add               # torch.profiler table of one ADD step
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from tqdm import tqdm

from add.core.io import atomic_write_json
from add.losses import DISTILLERS, build_distiller

STAGES = [2, 3, 4]  # timm ResNet feature indices of layer2, layer3, layer4
DEFAULT_OUT = Path(__file__).parent / "results" / "loss_overhead.json"


class Variant:
    def __init__(self, name: str, student: torch.nn.Module, teacher: torch.nn.Module, channels: list[int],
                 cfg: dict):
        self.name = name
        self.student, self.teacher = student, teacher
        self.distiller = None if name == "ce" else build_distiller(name, channels, channels, cfg)
        params = list(student.parameters())
        if self.distiller is not None:
            params += list(self.distiller.parameters())
        self.optimizer = torch.optim.Adam(params, lr=2e-4)
        self.cpu_times: list[float] = []
        self.wall_times: list[float] = []

    def step(self, low: torch.Tensor, raw: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.distiller is None:
            loss = F.cross_entropy(self.student(low), labels)
        else:
            with torch.no_grad():
                teacher_final, teacher_feats = self.teacher.forward_intermediates(raw, indices=STAGES)
                teacher_logits = self.teacher.forward_head(teacher_final)
            final, feats = self.student.forward_intermediates(low, indices=STAGES)
            logits = self.student.forward_head(final)
            terms = self.distiller(feats, teacher_feats, logits, teacher_logits, labels, generator=generator)
            loss = F.cross_entropy(logits, labels) + sum(terms.values())
        loss.backward()
        self.optimizer.step()


def make_models(image_size: int) -> tuple[torch.nn.Module, torch.nn.Module, list[int]]:
    student = timm.create_model("resnet50", pretrained=False, num_classes=2).train()
    teacher = timm.create_model("resnet50", pretrained=False, num_classes=2).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    channels = [student.feature_info[i]["num_chs"] for i in STAGES]
    return student, teacher, channels


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    student, teacher, channels = make_models(args.image_size)
    names = ["ce", *args.methods]
    cfg = {}  # the default loss settings; beta: build_distiller's default (16)
    variants = [Variant(name, student, teacher, channels, cfg) for name in names]
    data = torch.Generator().manual_seed(args.seed)
    raw = torch.rand(args.batch, 3, args.image_size, args.image_size, generator=data) * 2 - 1
    low = (raw + 0.05 * torch.randn(raw.shape, generator=data)).clamp(-1, 1)
    labels = torch.arange(args.batch) % 2
    generator = torch.Generator().manual_seed(args.seed)
    rounds = args.warmup + args.steps
    for round_index in tqdm(range(rounds), desc="rounds", unit="round", file=sys.stderr):
        for variant in variants:
            cpu, wall = time.process_time(), time.perf_counter()
            variant.step(low, raw, labels, generator)
            if round_index >= args.warmup:
                variant.cpu_times.append(time.process_time() - cpu)
                variant.wall_times.append(time.perf_counter() - wall)
    rows = []
    for clock in ("cpu", "wall"):
        medians = {v.name: statistics.median(getattr(v, f"{clock}_times")) for v in variants}
        for variant in variants:
            median = medians[variant.name]
            rows.append({"clock": clock, "method": variant.name, "median_s": round(median, 4),
                         "ratio_vs_ce": round(median / medians["ce"], 3),
                         "ratio_vs_none": round(median / medians["none"], 3) if "none" in medians else None,
                         "times_s": [round(t, 4) for t in getattr(variant, f"{clock}_times")]})
    return {"config": {"model": "resnet50", "image_size": args.image_size, "batch": args.batch,
                       "steps": args.steps, "warmup": args.warmup, "threads": torch.get_num_threads(),
                       "device": "cpu", "torch": torch.__version__, "timm": timm.__version__,
                       "cpu": platform.processor() or platform.machine(), "seed": args.seed},
            "rows": rows}


def print_table(result: dict) -> None:
    cfg = result["config"]
    print(f"resnet50 {cfg['image_size']} px, batch {cfg['batch']}, {cfg['threads']} threads, "
          f"median of {cfg['steps']} steps (after {cfg['warmup']} warm-up)")
    cpu = {row["method"]: row for row in result["rows"] if row["clock"] == "cpu"}
    wall = {row["method"]: row for row in result["rows"] if row["clock"] == "wall"}
    print(f"{'method':<15}{'cpu s/step':>11}{'vs ce':>8}{'vs none':>9}{'wall s/step':>13}{'vs ce':>8}{'vs none':>9}")
    for method, row in cpu.items():
        cells = []
        for r in (row, wall[method]):
            vs_none = f"{r['ratio_vs_none']:.3f}" if r["ratio_vs_none"] is not None else "-"
            cells.append(f"{r['median_s']:.3f}|{r['ratio_vs_ce']:.3f}|{vs_none}".split("|"))
        print(f"{method:<15}{cells[0][0]:>11}{cells[0][1]:>8}{cells[0][2]:>9}{cells[1][0]:>13}{cells[1][1]:>8}"
              f"{cells[1][2]:>9}")


def profile(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    student, teacher, channels = make_models(args.image_size)
    variant = Variant(args.profile, student, teacher, channels, {"beta": 16})
    raw = torch.rand(args.batch, 3, args.image_size, args.image_size) * 2 - 1
    labels = torch.arange(args.batch) % 2
    generator = torch.Generator().manual_seed(args.seed)
    variant.step(raw, raw, labels, generator)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        variant.step(raw, raw, labels, generator)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="timed rounds (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--methods", nargs="+", default=list(DISTILLERS), choices=list(DISTILLERS))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--profile", choices=list(DISTILLERS), help="profile one step of this method instead")
    args = parser.parse_args(argv)
    if args.batch < 2 or args.steps < 1 or args.warmup < 0:
        parser.error("need --batch >= 2, --steps >= 1, --warmup >= 0")
    if args.profile:
        profile(args)
        return 0
    result = run(args)
    print_table(result)
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
