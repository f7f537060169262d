"""Measure training and inference throughput of the detectors on this machine (CPU or GPU).

    uv run python bench/train_step.py --models resnet18 resnet50 --sizes 64 96 128 --batch 32 --steps 5

Per (model, size): a teacher step (forward + backward + Adam on one batch), a student step as the trainer takes it
(``add.training.loop``: the frozen teacher's forward under no_grad when the distiller reads it, then ``TrainStep``:
the student's forward, CE plus the given distiller's terms, backward) and inference (forward only, no grad).
Prints one row per setting with wall and CPU seconds per step; ``--json PATH`` also writes them.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch
import torch.nn.functional as F

from add.models.detector import create_detector
from add.training.loop import TrainStep, teacher_outputs
from add.training.runtime import Runtime


def _time(fn, steps: int, warmup: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process over all threads) per call."""
    for _ in range(warmup):
        fn()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def bench(name: str, size: int, batch: int, steps: int, warmup: int, distill: str | None, device: torch.device) -> dict:
    torch.manual_seed(0)
    model = create_detector(name).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    x = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    y = torch.randint(0, 2, (batch,), device=device)

    def teacher_step():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    model.train()
    t_train, c_train = _time(teacher_step, steps, warmup)

    teacher = create_detector(name).to(device).eval().requires_grad_(False)
    distiller = None
    if distill is not None:
        from add.losses import build_distiller

        distiller = build_distiller(distill, model.feature_channels, teacher.feature_channels, {}, beta=16).to(device)
        optimizer.add_param_group({"params": list(distiller.parameters())})

    runtime = Runtime(device)
    step_module = TrainStep(model, distiller, runtime)
    reads_teacher = distiller is not None and getattr(distiller, "needs_teacher", True)

    def student_step():
        optimizer.zero_grad(set_to_none=True)
        t_logits, t_feats = teacher_outputs(teacher, x, runtime) if reads_teacher else (None, None)
        sum(step_module(x, y, t_feats, t_logits).values()).backward()
        optimizer.step()

    t_student, c_student = _time(student_step, steps, warmup)

    model.eval()

    def infer():
        with torch.no_grad():
            model(x, features=True)

    t_infer, c_infer = _time(infer, steps, warmup)
    return {"model": name, "size": size, "batch": batch, "distill": distill or "-",
            "teacher_step_s": t_train, "student_step_s": t_student, "infer_batch_s": t_infer,
            "teacher_step_cpu_s": c_train, "student_step_cpu_s": c_student, "infer_batch_cpu_s": c_infer,
            "train_img_per_s": batch / t_train, "student_img_per_s": batch / t_student,
            "infer_img_per_s": batch / t_infer}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 96, 128])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--distill", default=None, help="a distiller name from add.losses (default: CE only)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"# torch {torch.__version__}, {device}, {torch.get_num_threads()} threads, {platform.processor() or ''}")
    print("# wall s per step (CPU s of all threads in brackets: on a shared machine wall >> CPU / threads)")
    print(f"{'model':<16}{'px':>5}{'batch':>6}{'teacher step':>18}{'student step':>18}{'infer batch':>18}")
    rows = []
    for name in args.models:
        for size in args.sizes:
            row = bench(name, size, args.batch, args.steps, args.warmup, args.distill, device)
            rows.append(row)
            cells = "".join(f"{row[k + '_s']:>9.3f} ({row[k + '_cpu_s']:>6.3f})"
                            for k in ("teacher_step", "student_step", "infer_batch"))
            print(f"{name:<16}{size:>5}{args.batch:>6}{cells}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
