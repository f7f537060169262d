"""The seeded study: every distiller over several seeds on the demo, as DVC experiments; writes ``docs/study/``.

    uv run python docs/study/study.py                          # seeds 0 1 2, one experiment at a time
    uv run python docs/study/study.py --seeds 0 1 2 3 4        # more seeds
    uv run python docs/study/study.py --collect                # only rewrite docs/study/ from finished experiments

One DVC experiment per seed (``dvc exp run --queue -S seed=S -S students.distill=[all distillers]``), run by
``dvc exp run --run-all --jobs J``: each builds the demo of its seed, trains its teacher on raw crops, a c40 student per
distiller and evaluates them all on the test split. ``params.yaml`` pins ``train.threads: 2`` (the weights depend on
the thread count, see ``add/determinism.py``), so one experiment at a time uses both cores of a 2-core machine and
seed 0 reproduces ``dvc repro``'s metrics. ``--jobs 2 --set train.threads=1`` runs two at once with other (equally
valid, not identical) numbers. Experiments are named ``{--name}-seed{S}`` and stay in the repository (``dvc exp show``);
any ``-S key=value`` given with ``--set`` applies to all of them (e.g. ``--set beta=20``). Hyper-parameters are
whatever ``params.yaml`` holds: choose them on validation (the ``val_acc`` column) first, e.g. with ``--set beta=...``
studies under other names, never on the test split. ``--collect`` finds experiments queued from any of the last 20
commits.

Writes, from the finished experiments named ``{--name}-seed*``:
- ``docs/study/results.csv``: ``distill, seed, test_quality, acc, auc, video_auc, val_acc`` (one row per model and
  test quality; the teacher's rows are ``distill=teacher`` on raw and c40);
- ``docs/study/c40_acc.png``: c40 test ACC per distiller, each seed a point, mean ± std as a bar;
- ``docs/study/README.md``: mean ± std per distiller, the paired per-seed difference of each distiller vs ``none``,
  the wall time and the exact command; ``docs/study/study.json``: the same summary as data.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent  # this folder: the driver sits beside what it writes
REPO = OUT.parents[1]
DISTILLERS = ("none", "add", "fr", "mv", "mv_nocontrast", "fitnet", "at", "nl", "kd")
COLUMNS = ("distill", "seed", "test_quality", "acc", "auc", "video_auc", "val_acc")
QUALITY = "c40"
METHOD = "Deepfakes"
DEFAULT_SEEDS = (0, 1, 2)
COLLECT_COMMITS = 20


class StudyError(RuntimeError):
    pass


# ------------------------------------------------------------------------------------------------------ running


def experiment_name(name: str, seed: int) -> str:
    return f"{name}-seed{seed}"


def queue_commands(seeds: list[int], name: str, extra: list[str]) -> list[list[str]]:
    """``dvc exp run --queue`` per seed: all distillers on c40, the teacher evaluated on raw and c40."""
    # the plain student (none) is always trained (stage student_none); students.distill lists the distillers
    distilled = ",".join(d for d in DISTILLERS if d != "none")
    common = ["-S", f"students.distill=[{distilled}]", "-S", f"students.qualities=[{QUALITY}]",
              "-S", f"evaluate.teacher_qualities=[raw,{QUALITY}]", "-S", f"data.methods=[{METHOD}]"]
    for setting in extra:
        common += ["-S", setting]
    return [["dvc", "exp", "run", "--queue", "--name", experiment_name(name, seed), "-S", f"seed={seed}", *common]
            for seed in seeds]


def run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    if subprocess.run(cmd, cwd=REPO, check=False).returncode:
        raise StudyError(f"failed: {' '.join(cmd)}")


def run_study(seeds: list[int], name: str, jobs: int, extra: list[str]) -> float:
    """Queue one experiment per seed and run them all; returns the wall seconds of the run."""
    for cmd in queue_commands(seeds, name, extra):
        run(cmd)
    started = time.perf_counter()
    run(["dvc", "exp", "run", "--run-all", "--jobs", str(jobs)])
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------------- collecting


def find_experiments(tree, prefix: str) -> dict[str, dict]:
    """``{name: data}`` of every experiment in ``dvc exp show --json`` output whose name starts with ``prefix``."""
    found: dict[str, dict] = {}

    def walk(node) -> None:
        if isinstance(node, dict):
            name = node.get("name")
            if isinstance(name, str) and name.startswith(prefix) and isinstance(node.get("data"), dict):
                found.setdefault(name, node["data"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return found


def metric_file(data: dict, path: str) -> dict | None:
    entry = (data.get("metrics") or {}).get(path)
    return entry.get("data") if isinstance(entry, dict) else None


def experiment_rows(data: dict, seed: int) -> list[dict]:
    """Result rows of one experiment: the teacher on raw and c40, every distiller's student on c40."""
    models = [("teacher", q, f"metrics/teacher/{METHOD}/{q}.json") for q in ("raw", QUALITY)]
    models += [(d, QUALITY, f"metrics/student/{METHOD}/{QUALITY}/{d}.json") for d in DISTILLERS]
    rows = []
    for distill, quality, path in models:
        metrics = metric_file(data, path)
        if metrics is None:
            raise StudyError(f"experiment of seed {seed} has no {path} (did it fail? see `dvc queue logs`)")
        rows.append({"distill": distill, "seed": seed, "test_quality": quality,
                     **{key: metrics.get(key) for key in ("acc", "auc", "video_auc", "val_acc")}})
    return rows


def collect(name: str) -> list[dict]:
    # -n: the experiments of the last commits too, so the study can be collected after committing on top of it
    out = subprocess.run(["dvc", "exp", "show", "--json", "--no-pager", "-n", str(COLLECT_COMMITS)], cwd=REPO,
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise StudyError(f"dvc exp show failed: {out.stderr.strip()}")
    experiments = find_experiments(json.loads(out.stdout), f"{name}-seed")
    if not experiments:
        raise StudyError(f"no finished experiment named {name}-seed*; run the study first")
    rows = []
    for exp_name, data in sorted(experiments.items()):
        params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
        rows += experiment_rows(data, int(params.get("seed", exp_name.rsplit("seed", 1)[1])))
    return sorted(rows, key=lambda r: (order(r["distill"]), r["test_quality"] != "raw", r["seed"]))


def order(distill: str) -> int:
    return -1 if distill == "teacher" else DISTILLERS.index(distill)


# ---------------------------------------------------------------------------------------------------- summaries


def mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(rows: list[dict]) -> dict:
    """Mean ± std per (distill, quality) and, per distiller, the paired per-seed c40 ACC difference vs ``none``."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["distill"], row["test_quality"]), []).append(row)
    table = []
    for (distill, quality), group in groups.items():
        entry = {"distill": distill, "test_quality": quality, "seeds": len(group)}
        for key in ("acc", "auc", "video_auc", "val_acc"):
            entry[key], entry[f"{key}_std"] = mean_std([r[key] for r in group])
        table.append(entry)
    none = {r["seed"]: r["acc"] for r in rows if r["distill"] == "none" and r["test_quality"] == QUALITY}
    paired = []
    for distill in DISTILLERS[1:]:
        diffs = {r["seed"]: r["acc"] - none[r["seed"]] for r in rows
                 if r["distill"] == distill and r["test_quality"] == QUALITY and r["seed"] in none}
        if not diffs:
            continue
        mean, std = mean_std(list(diffs.values()))
        paired.append({"distill": distill, "mean_diff": mean, "std_diff": std, "seeds": len(diffs),
                       "better": sum(d > 0 for d in diffs.values()), "worse": sum(d < 0 for d in diffs.values()),
                       "per_seed": dict(sorted(diffs.items()))})
    return {"table": table, "paired": paired}


def write_csv(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row[k] is None else round(row[k], 6) if isinstance(row[k], float) else row[k])
                             for k in COLUMNS})


def plot(rows: list[dict], summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from add.figures import save_png

    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=120)
    for i, distill in enumerate(DISTILLERS):
        points = sorted((r["seed"], r["acc"]) for r in rows if r["distill"] == distill and r["test_quality"] == QUALITY)
        if not points:
            continue
        offsets = [(j - (len(points) - 1) / 2) * 0.06 for j in range(len(points))]
        ax.scatter([i + o for o in offsets], [p[1] for p in points], s=14, color="tab:blue", alpha=0.7, zorder=3)
        mean, std = mean_std([p[1] for p in points])
        ax.errorbar(i + 0.3, mean, yerr=std, fmt="s", color="black", capsize=4, zorder=4)
    for quality, style in (("raw", ":"), (QUALITY, "--")):
        mean, _ = mean_std([r["acc"] for r in rows if r["distill"] == "teacher" and r["test_quality"] == quality])
        if not math.isnan(mean):
            ax.axhline(mean, color="tab:red", linestyle=style, linewidth=1, label=f"teacher on {quality} (mean)")
    ax.set_xticks(range(len(DISTILLERS)), DISTILLERS)
    ax.set_ylabel(f"{QUALITY} test ACC")
    ax.set_title(f"students on {QUALITY}: seeds (points), mean ± std (squares)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_png(fig, path)


def fmt(mean: float, std: float) -> str:
    return "n/a" if math.isnan(mean) else f"{mean:.3f} ± {std:.3f}"


def readme(summary: dict, rows: list[dict], meta: dict, out: Path = OUT) -> str:
    seeds = sorted({r["seed"] for r in rows})
    lines = [
        "# The seeded study: every distiller on the demo", "",
        f"Generated by `docs/study/study.py` from the DVC experiments `{meta['name']}-seed*` "
        f"(commit {meta['commit']}). "
        f"Seeds {seeds}; each seed builds its own demo (identities, splits, artifacts), teacher and students. "
        f"Params: `params.yaml` of that commit"
        f"{' with ' + ', '.join(f'`{s}`' for s in meta['set']) if meta['set'] else ''}.", "",
        "Command:", "", "```bash", meta["command"], "```", "",
        f"Wall time: {meta['wall']}.", "",
        *(["How the loss settings were chosen, on validation only: [selection.md](selection.md).", ""]
          if (out / "selection.md").is_file() else []),
        f"## Test ACC / AUC, mean ± std over {len(seeds)} seeds", "",
        "| model | test crops | ACC | AUC | video AUC | best val ACC |", "|---|---|---|---|---|---|",
    ]
    for entry in sorted(summary["table"], key=lambda e: (order(e["distill"]), e["test_quality"] != "raw")):
        lines.append(f"| {entry['distill']} | {entry['test_quality']} | {fmt(entry['acc'], entry['acc_std'])} | "
                     f"{fmt(entry['auc'], entry['auc_std'])} | {fmt(entry['video_auc'], entry['video_auc_std'])} | "
                     f"{fmt(entry['val_acc'], entry['val_acc_std'])} |")
    lines += ["", f"## Paired per-seed difference in {QUALITY} test ACC vs `none`", "",
              "Same seed = same demo, same teacher, same data order: the difference isolates the distiller.", "",
              "| distiller | mean diff ± std | seeds better / worse | per seed |", "|---|---|---|---|"]
    for p in summary["paired"]:
        per_seed = ", ".join(f"{s}: {d:+.3f}" for s, d in p["per_seed"].items())
        lines.append(f"| {p['distill']} | {p['mean_diff']:+.3f} ± {p['std_diff']:.3f} | {p['better']} / "
                     f"{p['worse']} | {per_seed} |")
    lines += ["", "![c40 test ACC per distiller](c40_acc.png)", "",
              "A distiller beats `none` beyond the seed spread only where its mean difference clearly exceeds the std "
              "of the differences and it is better on (nearly) every seed.", ""]
    return "\n".join(lines)


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                         check=False)
    return out.stdout.strip() or "?"


def write_outputs(rows: list[dict], meta: dict, out: Path = OUT) -> dict:
    summary = summarize(rows)
    write_csv(rows, out / "results.csv")
    plot(rows, summary, out / f"{QUALITY}_acc.png")
    (out / "README.md").write_text(readme(summary, rows, meta, out))
    (out / "study.json").write_text(json.dumps({"meta": meta, **summary}, indent=2, default=str) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--jobs", type=int, default=1, help="experiments run at once (default: %(default)s)")
    parser.add_argument("--name", default="study", help="experiment name prefix (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra -S for every experiment (repeatable)")
    parser.add_argument("--collect", action="store_true", help="do not run; rewrite docs/study/ from experiments")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    command = "uv run python docs/study/study.py" + (f" --seeds {' '.join(map(str, args.seeds))}"
                                                 if args.seeds != list(DEFAULT_SEEDS) else "")
    command += "".join(f" --{k} {v}" for k, v, d in (("jobs", args.jobs, 1), ("name", args.name, "study")) if v != d)
    command += "".join(f" --set {s}" for s in args.set)
    meta_path = Path(args.out) / "study.json"
    wall = None
    try:
        if not args.collect:
            wall = run_study(args.seeds, args.name, args.jobs, args.set)
        elif meta_path.is_file():
            wall = json.loads(meta_path.read_text()).get("meta", {}).get("wall_seconds")
        rows = collect(args.name)
    except StudyError as e:
        print(f"study: error: {e}", file=sys.stderr)
        return 1
    minutes = "not measured (--collect)" if wall is None else f"{wall / 60:.1f} min"
    meta = {"name": args.name, "commit": git_commit(), "command": command, "set": args.set, "jobs": args.jobs,
            "wall_seconds": wall, "wall": f"{minutes} for {len({r['seed'] for r in rows})} seeds x "
                                          f"{len(DISTILLERS)} distillers, {args.jobs} experiment(s) at a time"}
    summary = write_outputs(rows, meta, Path(args.out))
    for p in summary["paired"]:
        print(f"{p['distill']:14s} vs none: {p['mean_diff']:+.3f} ± {p['std_diff']:.3f} "
              f"(better on {p['better']}/{p['seeds']} seeds)")
    print(f"wrote {args.out}/results.csv, {QUALITY}_acc.png, README.md, study.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
