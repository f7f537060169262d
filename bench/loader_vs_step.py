"""One loader worker's supply (triplets/s) vs what a CPU training step consumes, measured in one run (issue 6, item 2).

Supply: one pass of ``make_loader(train=True, num_workers=--workers)`` over synthetic shards built by the real shards
stage (timed too; ``build_faces``: jittered face crops of ``skimage.data.astronaut()`` as raw, the same crop through
JPEG 75 / 30 as c23 / c40, all stored as PNG as the extract stage does, so PNG sizes and decode costs are close to
real crops), decoding raw+c40 (what training reads) and raw+c23+c40 (the spec's 3 PNG decodes), 128 px; the rate
counts triplets after the first batch, so the worker's start-up is left out.
Consumption: median of ``--steps`` training steps (forward + backward + Adam) of ``add.models.detector.create_detector``
students at 128 px with all cores as torch threads: plain CE, and an ``add`` distillation step, both as the trainer
takes them (``add.training.loop``: the frozen teacher's forward under no_grad, then ``TrainStep``).
Ratio = loader rate / step rate: how many times one worker out-supplies that step (target >= 2).

    uv run python bench/loader_vs_step.py --batch 32 --steps 3 --gpu-rate 3000
    uv run python bench/loader_vs_step.py --batch 144 --workers 2      # the loader at the paper's batch (was
                                                                       # bench/loader_throughput.py)
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from skimage.data import astronaut
from tqdm import tqdm

from add.core.io import atomic_write_json
from add.core.layout import MANIFEST_COLUMNS
from add.data import shards
from add.data.loader import make_loader
from add.losses import build_distiller
from add.models.detector import create_detector
from add.training.loop import TrainStep, teacher_outputs
from add.training.runtime import Runtime

DEFAULT_OUT = Path(__file__).parent / "results" / "loader_vs_step.json"
LOADER_QUALITIES = (("raw", "c40"), ("raw", "c23", "c40"))
MODELS = ("resnet18", "resnet50")
TARGET_RATIO = 2.0


QUALITY_JPEG = {"c23": 75, "c40": 30}


def crop(rng: np.random.Generator, face: np.ndarray, size: int) -> np.ndarray:
    side = int(rng.integers(170, 230))
    y, x = int(rng.integers(10, 40)), int(rng.integers(140, 170))
    return cv2.resize(face[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)


def png(bgr: np.ndarray) -> bytes:
    return cv2.imencode(".png", bgr)[1].tobytes()


def build_faces(root: Path, pairs: int, frames: int, size: int, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    face = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    rows = []
    ids = [f"{i:03d}" for i in range(2 * pairs)]
    videos = [("original", v) for v in ids]
    videos += [("Deepfakes", f"{a}_{b}") for i in range(pairs) for a, b in ((ids[2 * i], ids[2 * i + 1]),
                                                                         (ids[2 * i + 1], ids[2 * i]))]
    for method, video in videos:
        path = root / "faces" / method / f"{video}.tar"
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
            members = {}
            for frame in range(frames):
                raw = crop(rng, face, size)
                members[f"{frame:04d}.raw.png"] = png(raw)
                for quality, jpeg_quality in QUALITY_JPEG.items():
                    jpeg = cv2.imencode(".jpg", raw, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])[1]
                    members[f"{frame:04d}.{quality}.png"] = png(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))
                members[f"{frame:04d}.json"] = json.dumps({"box": [0, 0, size, size], "score": 1.0,
                                                          "status": "ok"}).encode()
                rows.append(["train", method, video, frame, int(method != "original"), 0, 0, size, size, 1.0, "ok",
                             ""])
            for name in sorted(members):
                info = tarfile.TarInfo(name)
                info.size = len(members[name])
                tar.addfile(info, io.BytesIO(members[name]))
    manifest = root / "manifest.parquet"
    pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).to_parquet(manifest, index=False)
    return root / "faces", manifest


def loader_rate(shard_dir: Path, qualities: tuple[str, ...], batch: int, workers: int = 1) -> dict:
    loader = make_loader(shard_dir, "Deepfakes", "train", qualities, batch, train=True, seed=0,
                         num_workers=workers)
    start = time.perf_counter()
    first_at, first_seen, seen = None, 0, 0
    for item in loader:
        seen += len(item["key"])
        if first_at is None:
            first_at, first_seen = time.perf_counter(), seen
    elapsed = time.perf_counter() - first_at
    if seen == first_seen:
        raise SystemExit(f"{shard_dir}: only one batch; use more --pairs/--frames or a smaller --batch")
    return {"row": f"loader({'+'.join(qualities)})", "triplets_per_s": (seen - first_seen) / elapsed,
            "triplets": seen, "first_batch_s": first_at - start}


def step_rate(name: str, kind: str, batch: int, size: int, steps: int, warmup: int, seed: int) -> dict:
    torch.manual_seed(seed)
    student = create_detector(name).train()
    params = list(student.parameters())
    teacher = distiller = None
    if kind == "add":
        teacher = create_detector(name).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        distiller = build_distiller("add", student.feature_channels, teacher.feature_channels, {}, beta=16)
        params += list(distiller.parameters())
    optimizer = torch.optim.Adam(params, lr=2e-4)
    data = torch.Generator().manual_seed(seed)
    raw = torch.rand(batch, 3, size, size, generator=data) * 2 - 1
    low = (raw + 0.05 * torch.randn(raw.shape, generator=data)).clamp(-1, 1)
    labels = torch.arange(batch) % 2
    generator = torch.Generator().manual_seed(seed)
    runtime = Runtime(torch.device("cpu"))
    step_module = TrainStep(student, distiller, runtime)
    times = []
    for index in tqdm(range(warmup + steps), desc=f"{name} {kind}", unit="step", file=sys.stderr):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        teacher_logits, teacher_feats = (None, None) if teacher is None else teacher_outputs(teacher, raw, runtime)
        sum(step_module(low, labels, teacher_feats, teacher_logits, generator).values()).backward()
        optimizer.step()
        if index >= warmup:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"row": f"step {name} {kind}", "triplets_per_s": batch / median, "median_step_s": median,
            "times_s": [round(t, 4) for t in times]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per row (median reported)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=4, help="id pairs of synthetic faces: 4 videos each")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--workers", type=int, default=1, help="loader workers (the ratios assume 1)")
    parser.add_argument("--gpu-rate", type=float, default=3000.0,
                        help="ASSUMED triplets/s a GPU consumes (not measured here)")
    parser.add_argument("--host-cores", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.batch < 2 or args.steps < 1 or args.warmup < 0 or args.gpu_rate <= 0 or args.pairs < 1 or args.frames < 1:
        parser.error("need --batch >= 2, --steps >= 1, --warmup >= 0, --gpu-rate > 0, --pairs >= 1, --frames >= 1")
    torch.set_num_threads(os.cpu_count() or 1)

    with tempfile.TemporaryDirectory(prefix="loader-vs-step-") as tmp:
        root = Path(tmp)
        faces, manifest = build_faces(root, args.pairs, args.frames, args.size, seed=args.seed)
        start = time.perf_counter()
        index = shards.run({"seed": args.seed, "shards": {"max_samples_per_shard": 1000}}, faces, manifest,
                           root / "shards")
        count = index["datasets"]["Deepfakes"]["train"]["count"]
        shards_s = time.perf_counter() - start
        print(f"shards stage: {count} train triplets (+ val/test) in {shards_s:.1f} s", file=sys.stderr)
        loaders = [loader_rate(root / "shards", q, args.batch, args.workers) for q in LOADER_QUALITIES]
    steps = [step_rate(m, k, args.batch, args.size, args.steps, args.warmup, args.seed)
             for m in MODELS for k in ("ce", "add")]

    print(f"\n{args.size} px, batch {args.batch}, {args.workers} loader worker(s), steps: median of {args.steps} "
          f"on {torch.get_num_threads()} torch threads ({os.cpu_count()} cores)")
    header = f"{'row':<26}{'triplets/s':>11}" + "".join(f"{'/' + r['row'][7:-1]:>13}" for r in loaders)
    print(header)
    for row in loaders + steps:
        cells = "".join(f"{(lo['triplets_per_s'] / row['triplets_per_s']):>13.1f}" if row in steps else f"{'-':>13}"
                        for lo in loaders)
        print(f"{row['row']:<26}{row['triplets_per_s']:>11.1f}{cells}")
    worst = min(lo["triplets_per_s"] / st["triplets_per_s"] for lo in loaders for st in steps)
    met = worst >= TARGET_RATIO
    print(f"target: one worker >= {TARGET_RATIO:g}x a CPU step's consumption: {'MET' if met else 'NOT MET'} "
          f"(smallest ratio {worst:.1f}x)")
    host = []
    for lo in loaders:
        workers = math.ceil(args.gpu_rate / lo["triplets_per_s"])
        host.append({"loader": lo["row"], "workers_needed": workers, "fits_host": workers <= args.host_cores - 1})
        print(f"a GPU consuming {args.gpu_rate:g} triplets/s (ASSUMED, not measured) needs {workers} "
              f"{lo['row']} workers at {lo['triplets_per_s']:.0f} triplets/s each: "
              f"{'fits' if workers <= args.host_cores - 1 else 'does NOT fit'} a {args.host_cores}-core host "
              f"(1 core kept for the training process)")

    result = {"config": {"batch": args.batch, "size": args.size, "steps": args.steps, "warmup": args.warmup,
                         "pairs": args.pairs, "frames": args.frames, "workers": args.workers,
                         "shards_stage_s": round(shards_s, 3), "threads": torch.get_num_threads(),
                         "cores": os.cpu_count(), "torch": torch.__version__, "seed": args.seed,
                         "cpu": platform.processor() or platform.machine()},
              "loaders": loaders, "steps": steps,
              "ratios": {f"{lo['row']} / {st['row']}": lo["triplets_per_s"] / st["triplets_per_s"]
                         for lo in loaders for st in steps},
              "target_ratio": TARGET_RATIO, "target_met": met, "smallest_ratio": worst,
              "gpu_rate_assumed": args.gpu_rate, "host_cores": args.host_cores, "host": host}
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
