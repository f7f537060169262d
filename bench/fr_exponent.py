"""γ_FR by a stated rule (issue 20): the largest exponent γ·mean_c d of the frequency weights at initialisation ≈ 1-3.

    uv run python bench/fr_exponent.py                  # after the teacher is trained (`uv run dvc repro teacher`)
    uv run python bench/fr_exponent.py --batches 8 --params P --shards S --teacher T.pt

The student starts as the params' student does (``model.*``, seeded by ``train.seed``/``seed``; ImageNet weights
with ``model.pretrained``, or the teacher's with ``distill.init_from_teacher``); on ``--batches`` validation batches
(the teacher on its ``teacher.quality`` crops, the student on ``distill.quality`` crops of the same samples) it
measures, per distilled stage, mean_c d(u, v) (``add.losses.frequency_distance``: the exponent of w over γ_FR) —
its maximum over samples and frequencies, its 99th percentile and its mean — and prints the γ_FR that puts the
largest exponent over the stages FR uses (the resolved ``distill.fr_weights``, e.g. the model's default) at 1, 2
and 3: with it w = exp(γ·mean_c d) stays a focal weight in [1, e^3] at the start instead of exploding.
Writes ``bench/results/fr_exponent.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "fr_exponent.json"
TARGETS = (1.0, 2.0, 3.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    parser.add_argument("--shards", default=str(REPO / "data" / "shards"))
    parser.add_argument("--teacher", default=None, help="default: models/teacher/{method}/best.pt")
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)

    from add.core.io import atomic_write_json
    from add.core.layout import BEST, MODELS, teacher_dir
    from add.core.params import load_params
    from add.data.loader import make_loader
    from add.losses import distill_config, frequency_distance
    from add.models.backbones import backbone_of
    from add.training.checkpoints import load_detector
    from add.training.config import ModelConfig, TrainConfig
    from add.training.runtime import seed_everything, setup_runtime

    params = load_params(args.params)
    method, quality = params.data.methods[0], params.distill.quality
    runtime = setup_runtime("cpu")
    teacher_path = Path(args.teacher) if args.teacher else teacher_dir(REPO / MODELS, method) / BEST
    teacher, _ = load_detector(teacher_path, runtime)
    seed_everything(TrainConfig.from_params(params, student=True).seed)
    model = ModelConfig.from_params(params)
    student = model.create().eval()
    if params.distill.init_from_teacher:
        student.load_state_dict(teacher.state_dict())
    stages = len(student.feature_channels)
    cfg = distill_config(params.distill, beta=params.beta, stages=stages, model=model.name)
    batches = make_loader(args.shards, method, "val", [params.teacher.quality, quality], params.train.batch_size,
                          train=False, seed=params.seed)
    distances: list[list[torch.Tensor]] = [[] for _ in range(stages)]
    with torch.no_grad():
        for i, batch in enumerate(batches):
            if i >= args.batches:
                break
            _, teacher_feats, _ = teacher(batch[params.teacher.quality], features=True)
            _, student_feats, _ = student(batch[quality], features=True)
            for stage, (s, t) in enumerate(zip(student_feats, teacher_feats, strict=True)):
                distances[stage].append(frequency_distance(s.float(), t.float()).flatten())
    rows = []
    for stage, parts in enumerate(distances):
        values = torch.cat(parts)
        rows.append({"stage": stage, "module": student.feature_modules[stage], "fr_weight": cfg.fr_weights[stage],
                     "max": values.max().item(), "p99": torch.quantile(values, 0.99).item(),
                     "mean": values.mean().item()})
    used = [r for r in rows if r["fr_weight"] > 0] or rows
    largest = max(r["max"] for r in used)
    gammas = {f"{t:g}": t / largest for t in TARGETS}
    print(f"model {model.name} (its default gamma_fr {backbone_of(model.name)[1].gamma_fr:g}; resolved "
          f"{cfg.gamma_fr:g}), fr_weights {list(cfg.fr_weights)}, {args.batches} validation batches")
    print(f"{'stage':5s} {'module':14s} {'w_FR':>5s} {'max':>12s} {'p99':>12s} {'mean':>12s} "
          f"{'exponent at gamma':>18s}")
    for r in rows:
        print(f"{r['stage']:5d} {r['module']:14s} {r['fr_weight']:5g} {r['max']:12.4g} {r['p99']:12.4g} "
              f"{r['mean']:12.4g} {cfg.gamma_fr * r['max']:18.4g}")
    print("gamma_fr for a largest exponent of " + ", ".join(f"{t}: {g:.3g}" for t, g in gammas.items()))
    atomic_write_json(args.out, {"model": model.name, "params": args.params, "batches": args.batches,
                                 "gamma_fr": cfg.gamma_fr, "fr_weights": list(cfg.fr_weights), "stages": rows,
                                 "gamma_for_largest_exponent": gammas})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
