"""Scale of each loss term of the ``add`` student, relative to CE, for both multi-view forms, on the demo data.

The paper's weights (γ_MV = 100, η_MV = 50, Δ = 0.012, β = 16) were tuned for the authors' multi-view vectors (group
masses over equal-width bins); this shows what each form gives on the same features. For each start of the student
(``teacher``: the teacher's weights, ``distill.init_from_teacher``; ``scratch``: seeded random weights; ``imagenet``:
the backbone's ImageNet weights, the paper's and the demo's start) and each form (``authors``: the default; ``cdf``:
``mv_vectors: cdf, mv_bins: count, mv_coords: unit, mv_contrast: student``, the earlier default), the student is
measured on fixed validation batches (eval mode, fixed MV directions and partners) at initialisation and after
``--steps`` training steps of Adam at ``train.lr`` with that form's full ADD loss:

* ``ce``: the student's cross-entropy on its c40 crops;
* ``fr``: α·Σ_l w_FR[l]·L_FR(l);  ``mv_swd``: β·Σ_l w_MV[l]·γ_MV·mean_i SWD(S_i, T_i);  ``mv_contrast``:
  β·Σ_l w_MV[l]·η_MV·mean_i (contrastive bracket) — each also divided by CE (``/ce`` columns);
* ``margin active``: the share of negative pairs whose SWD is below Δ (where the margin term pushes at all);
  ``contr−Δ``: ``mv_contrast`` less the constant part of the active hinges, β·w·η·Δ each (what is left depends on
  the features: the positive pairs' SWD minus the negative pairs' where the hinge is active);
* ``cdf/mass``: per stage, mean SWD of the CDF form over that of the authors' form on the same features and
  directions (both with equal-width bins and index coordinates, so only the vectors differ).

    uv run python bench/loss_scale.py                       # after `uv run dvc repro` (demo shards and teacher)
    uv run python bench/loss_scale.py --shards S --teacher T.pt --steps 30

Params (``beta``, ``train.lr``, ``train.batch_size``, ``distill.*``) come from ``--params``; the table is printed and
the JSON written to ``bench/results/loss_scale.json``. CPU, one torch thread by default.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from add.core.io import atomic_write_json
from add.core.params import load_params
from add.data.loader import make_loader
from add.losses import build_distiller, distill_config, frequency_attention_loss, multi_view_terms
from add.models.detector import create_detector
from add.training.checkpoints import load_detector
from add.training.loop import TrainStep
from add.training.runtime import setup_runtime

DEFAULT_OUT = Path(__file__).parent / "results" / "loss_scale.json"
FORMS = {
    "authors": {"mv_vectors": "mass", "mv_bins": "width", "mv_coords": "index", "mv_contrast": "both"},
    "cdf": {"mv_vectors": "cdf", "mv_bins": "count", "mv_coords": "unit", "mv_contrast": "student"},
}


def features(model, x):
    logits, feats, _ = model(x, features=True)
    return logits.float(), [f.float() for f in feats]


@torch.no_grad()
def measure(student, teacher, batches, cfg_dict: dict, seed: int, beta: float) -> dict:
    """The weighted terms of one form on fixed batches, averaged over them (student in eval mode)."""
    cfg = distill_config(cfg_dict, beta=beta, model=student.name)
    was_training = student.training
    student.eval()
    sums = {"ce": 0.0, "fr": 0.0, "mv_swd": 0.0, "mv_contrast": 0.0, "mv_contrast_minus_margin": 0.0}
    active = pairs = 0
    ratios = None
    generator = torch.Generator().manual_seed(seed)  # the same directions and partners for every measurement
    for batch in batches:
        labels = batch["label"]
        _, teacher_feats = features(teacher, batch["raw"])
        logits, student_feats = features(student, batch["c40"])
        sums["ce"] += F.cross_entropy(logits, labels).item()
        sums["fr"] += cfg.alpha * sum(w * frequency_attention_loss(s, t, cfg.gamma_fr, cfg.fr_max_exponent).item()
                                      for w, s, t in zip(cfg.fr_weights, student_feats, teacher_feats, strict=True))
        stage_ratios = []
        for w, s, t in zip(cfg.mv_weights, student_feats, teacher_feats, strict=True):
            terms = multi_view_terms(s, t, labels, num_directions=cfg.directions, groups=cfg.groups,
                                     coords=cfg.mv_coords, vectors=cfg.mv_vectors, bins=cfg.mv_bins,
                                     contrast=cfg.mv_contrast, margin=cfg.margin, generator=generator)
            sums["mv_swd"] += cfg.beta * w * cfg.gamma_mv * terms.swd.mean().item()
            contrast = cfg.beta * w * cfg.eta_mv * terms.contrastive.mean().item()
            sums["mv_contrast"] += contrast
            margin = cfg.beta * w * cfg.eta_mv * cfg.margin * terms.margin_active.item() / len(labels)
            sums["mv_contrast_minus_margin"] += contrast - margin
            active += terms.margin_active.item()
            pairs += terms.negative_pairs.item()
            same = {"directions": None, "num_directions": cfg.directions, "groups": cfg.groups, "coords": "index",
                    "bins": "width", "contrastive": False}
            directions = torch.Generator().manual_seed(seed + 1)
            mass = multi_view_terms(s, t, **same, vectors="mass", generator=directions).swd.mean().item()
            directions = torch.Generator().manual_seed(seed + 1)
            cdf = multi_view_terms(s, t, **same, vectors="cdf", generator=directions).swd.mean().item()
            stage_ratios.append(cdf / mass if mass > 0 else float("nan"))
        ratios = stage_ratios if ratios is None else [a + b for a, b in zip(ratios, stage_ratios, strict=True)]
    student.train(was_training)
    n = len(batches)
    out = {k: v / n for k, v in sums.items()}
    out.update({f"{k}/ce": out[k] / out["ce"] for k in ("fr", "mv_swd", "mv_contrast", "mv_contrast_minus_margin")})
    out["margin_active"] = active / pairs if pairs else float("nan")
    out["cdf/mass"] = [r / n for r in ratios]
    return out


def run(args: argparse.Namespace) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    params = load_params(args.params)
    base, beta = params.distill.to_dict(), params.beta
    lr, batch_size, seed = params.train.lr, params.train.batch_size, params.seed
    for path, what in ((args.shards / "index.json", "demo shards"), (args.teacher, "teacher checkpoint")):
        if not Path(path).is_file():
            sys.exit(f"{path}: {what} not found; run `uv run dvc repro` first or pass --shards/--teacher")
    setup_runtime("cpu")
    teacher, meta = load_detector(args.teacher)
    teacher.requires_grad_(False)

    def loader(split, epoch=0):
        return make_loader(args.shards, args.method, split, ["raw", "c40"], batch_size, train=split == "train",
                           seed=seed, epoch=epoch)

    held_out = list(loader("val"))[:args.measure_batches]
    results = []
    for init in args.inits:
        for form, form_cfg in FORMS.items():
            cfg = {**base, **form_cfg}
            torch.manual_seed(seed)
            student = create_detector(meta.get("model", "resnet18"), pretrained=init == "imagenet")
            if init == "teacher":
                student.load_state_dict(teacher.state_dict())
            student.train()
            distiller = build_distiller("add", student.feature_channels, teacher.feature_channels, cfg, beta=beta,
                                        model=student.name)
            step_module = TrainStep(student, distiller, setup_runtime("cpu"))
            optimizer = torch.optim.Adam(student.parameters(), lr=lr)
            generator = torch.Generator().manual_seed(seed + 1_000_003)
            row = {"init": init, "form": form, "at_init": measure(student, teacher, held_out, cfg, seed, beta)}
            logged, step, epoch, started = [], 0, 0, time.perf_counter()
            with tqdm(total=args.steps, desc=f"{init}/{form}", leave=False, file=sys.stderr) as bar:
                while step < args.steps:
                    for batch in loader("train", epoch):
                        with torch.no_grad():
                            _, teacher_feats = features(teacher, batch["raw"])
                        terms = step_module(batch["c40"], batch["label"], teacher_feats, None, generator)
                        loss = sum(terms.values())
                        optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        optimizer.step()
                        logged.append({k: float(v.detach()) for k, v in {**terms, "loss": loss}.items()})
                        step += 1
                        bar.update()
                        if step >= args.steps:
                            break
                    epoch += 1
            row["after"] = measure(student, teacher, held_out, cfg, seed, beta)
            row["steps"] = step
            row["seconds"] = round(time.perf_counter() - started, 1)
            last = logged[-args.log_window:]
            row["logged_last"] = {k: sum(r[k] for r in last) / len(last) for k in last[0]}
            results.append(row)
    return {"config": {"params": str(args.params), "shards": str(args.shards), "teacher": str(args.teacher),
                       "model": meta.get("model"), "method": args.method, "beta": beta,
                       "lr": lr, "batch": batch_size, "steps": args.steps, "measure_batches": len(held_out),
                       "measured_samples": sum(len(b["label"]) for b in held_out), "seed": seed,
                       "threads": torch.get_num_threads(), "torch": torch.__version__},
            "rows": results}


def print_table(result: dict) -> None:
    cfg = result["config"]
    print(f"{cfg['model']} student, {cfg['method']} c40, beta {cfg['beta']}, lr {cfg['lr']}, batch {cfg['batch']}; "
          f"measured on {cfg['measured_samples']} validation samples; 'after' = after {cfg['steps']} steps")
    head = (f"{'init':<8}{'form':<9}{'when':<7}{'CE':>7}{'FR':>9}{'MV swd':>11}{'MV contr':>10}{'FR/CE':>8}"
            f"{'swd/CE':>9}{'contr/CE':>9}{'contr-D/CE':>11}{'margin on':>10}  cdf/mass SWD per stage")
    print(head)
    for row in result["rows"]:
        for when in ("at_init", "after"):
            m = row[when]
            ratio = " ".join(f"{r:.1f}" for r in m["cdf/mass"])
            print(f"{row['init']:<8}{row['form']:<9}{'init' if when == 'at_init' else 'after':<7}{m['ce']:>7.3f}"
                  f"{m['fr']:>9.3g}{m['mv_swd']:>11.4g}{m['mv_contrast']:>10.4g}{m['fr/ce']:>8.3g}"
                  f"{m['mv_swd/ce']:>9.3g}{m['mv_contrast/ce']:>9.3g}{m['mv_contrast_minus_margin/ce']:>11.3g}"
                  f"{m['margin_active']:>10.2f}  {ratio}")
    print("logged training terms, mean of the last steps (what the trainer logs as train/*):")
    for row in result["rows"]:
        logged = row["logged_last"]
        print(f"  {row['init']:<8}{row['form']:<9}" + "  ".join(f"{k} {v:.4g}" for k, v in logged.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--shards", type=Path, default=Path("data/shards"))
    parser.add_argument("--teacher", type=Path, default=Path("models/teacher/Deepfakes/best.pt"))
    parser.add_argument("--method", default="Deepfakes")
    parser.add_argument("--steps", type=int, default=20, help="training steps between the two measurements")
    parser.add_argument("--measure-batches", type=int, default=3, help="validation batches measured")
    parser.add_argument("--log-window", type=int, default=5, help="last training steps averaged for 'logged'")
    parser.add_argument("--inits", nargs="+", default=["teacher", "scratch"],
                        choices=["teacher", "scratch", "imagenet"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.measure_batches < 1 or args.log_window < 1:
        parser.error("need --steps, --measure-batches and --log-window >= 1")
    result = run(args)
    print_table(result)
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
