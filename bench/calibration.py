"""The demo's calibration figures (issue 20, item 1), on the validation split of the params' seed.

    uv run python bench/calibration.py                  # after `uv run dvc repro` (data/demo, data/shards, models/)
    uv run python bench/calibration.py --skip-models    # the artifact energies only (needs data/demo)

- per artifact kind: the energy of each fake minus its strength-0 twin (the planted artifacts; the twin is built once
  into ``--clean`` with the demo's own settings) in the face box at raw, the energy of what c40 keeps of that same
  pattern (projected on it, so the two c40 encodings' own noise is left out) and the share c40 keeps (target: 5-40 %
  for every kind); the same against the original (the whole manipulation, swap included), for reference
  (``add.data.demo.calibration``);
- the raw-trained teacher's validation ACC on raw crops (target >= 0.95) and on c40 crops (target 0.60-0.85: the
  evidence weakened, not gone);
- the plain c40 student's (``none``) validation ACC on c40 (target: at least 10 points below the teacher on raw).

Prints the figures with their targets and writes ``bench/results/calibration.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "calibration.json"
KEPT = (0.05, 0.40)
TEACHER_RAW = 0.95
TEACHER_C40 = (0.60, 0.85)
STUDENT_GAP = 0.10


def clean_twin(demo: Path, clean: Path, jobs: int = 0) -> Path:
    """The strength-0 twin of the demo tree ``demo`` at ``clean`` (built when missing or not its twin)."""
    from add.data.demo.build import MARKER, build_demo

    config = json.loads((demo / MARKER).read_text(encoding="utf-8"))["config"]
    if (clean / MARKER).is_file():
        other = json.loads((clean / MARKER).read_text(encoding="utf-8"))["config"]
        if {**config, "strength": 0, "jobs": None} == {**other, "jobs": None}:
            return clean
    kwargs = {k: config[k] for k in ("seed", "pairs", "frames", "width", "height", "fps", "methods", "qualities")}
    return build_demo(clean, **kwargs, jobs=jobs, strength=0.0)


def val_accuracy(checkpoint: Path, shards: Path, quality: str, params) -> float:
    """ACC of ``checkpoint`` on the validation split of its method at ``quality``."""
    from add.data.loader import make_loader
    from add.models.metrics import accuracy
    from add.training.checkpoints import load_detector
    from add.training.predictions import predict
    from add.training.runtime import setup_runtime

    runtime = setup_runtime("cpu")
    model, meta = load_detector(checkpoint, runtime)
    batches = make_loader(shards, meta["method"], "val", [quality], params.train.batch_size, train=False,
                          seed=params.seed)
    preds = predict(model, batches, quality, runtime, desc=f"val {checkpoint.parent.name}/{quality}")
    return accuracy(preds.labels, preds.probs)


def checks(figures: dict) -> list[tuple[str, float, str, bool]]:
    """``(figure, value, target, met)`` for each calibration target present in ``figures``."""
    out = []
    for kind, e in sorted(figures.get("artifacts", {}).items()):
        out.append((f"artifacts {kind}: c40 keeps", e["kept"], f"{KEPT[0]:.0%}-{KEPT[1]:.0%}",
                    KEPT[0] <= e["kept"] <= KEPT[1]))
    models = figures.get("models", {})
    if "teacher_raw" in models:
        out.append(("teacher val ACC on raw", models["teacher_raw"], f">= {TEACHER_RAW}",
                    models["teacher_raw"] >= TEACHER_RAW))
    if "teacher_c40" in models:
        low, high = TEACHER_C40
        out.append(("teacher val ACC on c40", models["teacher_c40"], f"{low}-{high}",
                    low <= models["teacher_c40"] <= high))
    if "student_c40" in models and "teacher_raw" in models:
        limit = models["teacher_raw"] - STUDENT_GAP
        out.append(("plain c40 student val ACC", models["student_c40"], f"<= {limit:.3f} (teacher raw - 0.10)",
                    models["student_c40"] <= limit))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--demo", default=str(REPO / "data" / "demo"), help="the demo tree (videos stage)")
    parser.add_argument("--clean", default=str(REPO / "data" / "demo-clean"), help="its strength-0 twin (built)")
    parser.add_argument("--frames", type=int, nargs="+", default=None, help="frame indices (default: all)")
    parser.add_argument("--shards", default=str(REPO / "data" / "shards"))
    parser.add_argument("--models", default=str(REPO / "models"))
    parser.add_argument("--skip-models", action="store_true", help="artifact energies only")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)

    from add.core.io import atomic_write_json
    from add.core.layout import BEST, student_dir, teacher_dir
    from add.core.params import load_params
    from add.data.demo.calibration import artifact_retention

    params = load_params(args.params)
    method = params.data.methods[0]
    demo = Path(args.demo)
    clean = clean_twin(demo, Path(args.clean), params.data.jobs)
    figures: dict = {"method": method, "params": args.params,
                     "artifacts": artifact_retention(demo, clean, method, indices=args.frames),
                     "manipulation": artifact_retention(demo, None, method, indices=args.frames)}
    if not args.skip_models:
        teacher = teacher_dir(args.models, method) / BEST
        student = student_dir(args.models, method, "c40", "none") / BEST
        # "raw": the teacher's own crops (teacher.quality, raw unless a c23 teacher)
        figures["models"] = {"teacher_raw": val_accuracy(teacher, Path(args.shards), params.teacher.quality, params),
                             "teacher_c40": val_accuracy(teacher, Path(args.shards), "c40", params),
                             "student_c40": val_accuracy(student, Path(args.shards), "c40", params)}
    print(f"{'kind':10s} {'raw':>10s} {'c40':>10s} {'kept':>7s}   (fake - strength-0 twin, levels^2; "
          f"c40 projected on the raw artifact; against the original: kept)")
    for kind, e in sorted(figures["artifacts"].items()):
        whole = figures["manipulation"][kind]["kept"]
        print(f"{kind:10s} {e['raw']:10.2f} {e['c40']:10.2f} {e['kept']:7.1%}   ({whole:.1%})")
    for name, value, target, met in checks(figures):
        print(f"{name:34s} {value:7.3f}  target {target:28s} {'ok' if met else 'NOT MET'}")
    atomic_write_json(args.out, {**figures, "checks": [dict(zip(("figure", "value", "target", "met"), c,
                                                                strict=True)) for c in checks(figures)]})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
