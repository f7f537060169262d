"""The seeded study (issue 20): fixed data and teacher, K students per distiller differing only in ``train.seed``.

    uv run python bench/study.py data      # demo videos, faces, shards and the teacher, once (in --work)
    uv run python bench/study.py select    # add students over an alpha x beta grid at seed 1000: best val ACC only
    uv run python bench/study.py pilot     # none and add at the pilot seeds: sigma_d -> K, written to plan.json
    uv run python bench/study.py run       # the K seeds of plan.json for every distiller, and the control
    uv run python bench/study.py collect   # results.csv, README.md, study.json and the plot from --work

The study's params are ``docs/study/params.yaml`` (``--params``; beside its results: the study may use a larger demo
than ``dvc repro``). ``data`` builds the dataset and trains the teacher ONCE with them (the ``add`` stages, one
process each, as ``dvc repro`` runs them, into ``--work``, default ``data/study``); every student then reads the same
shards and teacher, with its own params file ``{work}/params/seed{S}.yaml`` = the study's params plus
``train.seed: S``. ``train.seed`` seeds only a student (initialisation, data order, augmentation, dropout: see
``add/core/params.py``), so the students of one seed share everything but their distiller: paired.

Sizing, before the run (pre-registration): ``pilot`` trains ``none`` and ``add`` at the pilot seeds (``--pilot-seeds``,
at least 4), takes the SD σ_d of the paired ``add − none`` test ACC differences and writes ``plan.json``:
K = the smallest K ≥ 8 with t_{0.975, K−1} · σ_d / √K ≤ h, h = ``--half-width`` (0.03: ± 3 ACC points)
(``add.evaluation.study_stats.seeds_needed``), the seeds 0..K−1 (the pilot's first:
an internal pilot, sized on the variance only, never on the effect). Commit plan.json before ``run``.

``run`` trains, for each seed of plan.json, the students ``--distill`` (default ``none add fr mv kd``) and, for the
first ``--secondary-seeds`` seeds (default 3), ``--secondary`` (``mv_nocontrast fitnet at nl``), plus the positive
control ``none_half``: the plain student with half the training steps (``train.max_steps`` halved, or
``train.epochs`` halved when it is null), a difference the study must detect, and the information-matched control
``add_c40teacher`` (issue 28): the same ``add`` student distilled from a teacher trained on the students' own c40
crops, so that whatever the teacher knows is reachable from the student's input. The pipeline refuses a teacher at
the students' quality (``add.core.qualities``); this study-only teacher is trained in ``data`` by ``study.py
fit-c40`` (:func:`fit_c40`, the teacher's params and seed), which builds the training specs itself. Each student
is evaluated on the test split (``add evaluate --predictions``: per-frame P(fake), for the bootstrap). A finished
student (its metrics and predictions exist) is not trained again: an interrupted run continues where it stopped.

``collect`` writes, from ``--work``:
- ``results.csv``: ``distill, seed, test_quality, acc, auc, video_auc, val_acc`` (one row per student and test
  quality; the teacher's rows are ``distill=teacher`` on raw and c40 with an empty seed);
- ``README.md`` and ``study.json``: per distiller vs ``none``, the mean paired difference in frame ACC and AUC with its
  95 % t interval over seeds, a bootstrap interval resampling the test identity pairs
  (add/evaluation/study_stats.py) and the seeds better / worse; the plan, the wall time and the exact commands;
- ``c40_acc.png``: c40 test ACC per distiller, each seed a point, mean ± std.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "study"  # results.csv, README.md, study.json, plan.json, the plot and the params
WORK = REPO / "data" / "study"
PARAMS = OUT / "params.yaml"
FINDINGS = "findings.md"  # beside the results: what they show, in words (README.md quotes it after the plan)
CALIBRATION = REPO / "bench" / "results" / "calibration.json"  # bench/calibration.py's figures, quoted in README.md
MAIN = ("none", "add", "fr", "mv", "kd")
SECONDARY = ("mv_nocontrast", "fitnet", "at", "nl")
CONTROL = "none_half"  # the positive control: the plain student with half the training steps
C40_CONTROL = "add_c40teacher"  # add distilled from a teacher trained on c40 crops (study-only)
C40_TEACHER = "teacher_c40"  # that teacher's rows in results.csv
C40_FOLDER = "c40teacher"  # its models, logs and metrics under --work; its students' run names start with it
TEACHERS = ("teacher", C40_TEACHER)  # rows that are no student: no seed, no paired difference, not in the plot
ORDER = ("teacher", C40_TEACHER, "none", CONTROL, "add", C40_CONTROL, "fr", "mv", "kd", *SECONDARY)
COLUMNS = ("distill", "seed", "test_quality", "acc", "auc", "video_auc", "val_acc")
QUALITY = "c40"
PILOT_SEEDS = (0, 1, 2, 3)
HALF_WIDTH = 0.03
MIN_SEEDS = 8
RESAMPLES = 2000
SELECT_SEED = 1000  # the selection grid's student seed: none of the study's 0..K-1

Runner = Callable[[list[str]], None]


class StudyError(RuntimeError):
    pass


def run_command(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    if subprocess.run(cmd, cwd=REPO, check=False).returncode:
        raise StudyError(f"failed: {' '.join(cmd)}")


def add_command() -> list[str]:
    """The ``add`` CLI of this environment, one process per stage (as dvc repro runs it: pinned CPU kernels)."""
    return [sys.executable, "-c", "import sys; from add.cli import main; sys.exit(main(sys.argv[1:]))"]


class Study:
    """The study's folders and commands; ``runner`` runs one argv list (tests pass a fake)."""

    def __init__(self, params: Path = PARAMS, work: Path = WORK, out: Path = OUT, runner: Runner = run_command):
        self.params, self.work, self.out, self.runner = Path(params), Path(work), Path(out), runner
        if not self.params.is_file():
            raise StudyError(f"{self.params}: the study's params file is missing; start from a copy of params.yaml "
                             f"(e.g. `cp params.yaml {self.params}`) and size its demo (demo.pairs) for the study")
        self.raw = yaml.safe_load(self.params.read_text(encoding="utf-8")) or {}
        self.method = (self.raw.get("data") or {}).get("methods", ["Deepfakes"])[0]

    # ---------------------------------------------------------------------------------------------------- paths
    @property
    def shards(self) -> Path:
        return self.work / "shards"

    @property
    def teacher(self) -> Path:
        return self.work / "models" / "teacher" / self.method / "best.pt"

    @property
    def c40_teacher(self) -> Path:
        return self.work / C40_FOLDER / "models" / "teacher" / self.method / "best.pt"

    def run_name(self, distill: str, seed: int) -> str:
        return {CONTROL: "control-", C40_CONTROL: f"{C40_FOLDER}-"}.get(distill, "") + f"seed{seed}"

    def trained_as(self, distill: str) -> str:
        return {CONTROL: "none", C40_CONTROL: "add"}.get(distill, distill)

    def metrics_path(self, distill: str, seed: int) -> Path:
        return (self.work / "metrics" / self.run_name(distill, seed) / "student" / self.method / QUALITY /
                f"{self.trained_as(distill)}.json")

    def predictions_path(self, distill: str, seed: int) -> Path:
        return self.work / "predictions" / self.run_name(distill, seed) / f"{self.trained_as(distill)}.csv"

    def teacher_metrics_path(self, quality: str, teacher: str = "teacher") -> Path:
        folder = "teacher" if teacher == "teacher" else C40_FOLDER
        return self.work / "metrics" / folder / "teacher" / self.method / f"{quality}.json"

    # ------------------------------------------------------------------------------------------------- commands
    def data_commands(self) -> list[list[str]]:
        add, p, w = add_command(), ["--params", str(self.params)], self.work
        cmds = [
            [*add, "videos", *p, "--out", str(w / "videos.parquet"), "--demo-root", str(w / "demo"),
             "--twins", str(w / "twins")],  # a data.list source's c23/c40 twins: the study's own, not data/twins
            [*add, "extract", *p, "--videos", str(w / "videos.parquet"), "--out-dir", str(w / "faces"),
             "--manifest", str(w / "manifest.parquet"), "--metrics", str(w / "extract.json")],
            [*add, "shards", *p, "--faces", str(w / "faces"), "--manifest", str(w / "manifest.parquet"),
             "--out", str(self.shards)],
            [*add, "teacher", *p, "--method", self.method, "--shards", str(self.shards), "--models", str(w / "models"),
             "--dvclive", str(w / "dvclive")],
        ]
        for quality in ("raw", QUALITY):
            cmds.append([*add, "evaluate", *p, "--kind", "teacher", "--method", self.method, "--test-quality", quality,
                         "--shards", str(self.shards), "--models", str(w / "models"),
                         "--metrics", str(w / "metrics" / "teacher"), "--plots", str(w / "plots" / "teacher")])
        c40 = w / C40_FOLDER
        cmds += [
            self.fit_c40_command(self.params, "teacher", c40 / "models", c40 / "dvclive"),
            [*add, "evaluate", *p, "--kind", "teacher", "--method", self.method, "--test-quality", QUALITY,
             "--shards", str(self.shards), "--models", str(c40 / "models"),
             "--metrics", str(w / "metrics" / C40_FOLDER), "--plots", str(w / "plots" / C40_FOLDER)],
        ]
        return cmds

    def fit_c40_command(self, params: Path, role: str, models: Path, live: Path) -> list[str]:
        """``study.py fit-c40``: the study-only c40 teacher (``role`` teacher) or an ``add`` student of it."""
        cmd = [sys.executable, str(Path(__file__).resolve()), "fit-c40", role, "--params", str(params), "--method",
               self.method, "--shards", str(self.shards), "--models", str(models), "--dvclive", str(live)]
        return cmd + (["--teacher", str(self.c40_teacher)] if role == "student" else [])

    def student_params(self, distill: str, seed: int, run: str | None = None, overrides: dict | None = None) -> Path:
        """The study's params with ``train.seed: seed`` (and half the steps for the control), written to the work.

        ``overrides``: top-level keys or ``section.key`` set on top (the selection grid's ``beta``, ``distill.alpha``).
        """
        raw = json.loads(json.dumps(self.raw))  # a deep copy
        for key, value in (overrides or {}).items():
            section, _, name = key.rpartition(".")
            (raw.setdefault(section, {}) if section else raw)[name] = value
        train = raw.setdefault("train", {}) or {}
        raw["train"] = train
        train["seed"] = seed
        if distill == CONTROL:
            if train.get("max_steps") is not None:
                train["max_steps"] = max(1, int(train["max_steps"]) // 2)
            else:
                epochs = int(train.get("epochs", 10))
                if epochs < 2:
                    raise StudyError(f"{self.params}: the control halves train.epochs ({epochs}); set "
                                     f"train.max_steps instead")
                train["epochs"] = epochs // 2
                train["warmup_epochs"] = min(int(train.get("warmup_epochs", 0)), train["epochs"] - 1)
        path = self.work / "params" / f"{run or self.run_name(distill, seed)}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        return path

    def train_command(self, params: Path, distill: str, run: str) -> list[str]:
        """``add student`` for run ``run``: its models and DVCLive logs under ``{work}/students|dvclive/{run}``."""
        return [*add_command(), "student", "--params", str(params), "--method", self.method, "--quality", QUALITY,
                "--distill", distill, "--shards", str(self.shards), "--models", str(self.work / "students" / run),
                "--dvclive", str(self.work / "dvclive" / run), "--teacher", str(self.teacher)]

    def student_commands(self, distill: str, seed: int) -> list[list[str]]:
        add, run = add_command(), self.run_name(distill, seed)
        params = self.student_params(distill, seed)
        p = ["--params", str(params), "--method", self.method]
        models, trained = str(self.work / "students" / run), self.trained_as(distill)
        if distill == C40_CONTROL:
            train = self.fit_c40_command(params, "student", self.work / "students" / run, self.work / "dvclive" / run)
        else:
            train = self.train_command(params, trained, run)
        return [
            train,
            [*add, "evaluate", *p, "--kind", "student", "--quality", QUALITY, "--distill", trained,
             "--shards", str(self.shards), "--models", models, "--metrics", str(self.work / "metrics" / run),
             "--plots", str(self.work / "plots" / run), "--predictions", str(self.predictions_path(distill, seed))],
        ]

    def select(self, grid: list[dict], seed: int) -> list[dict]:
        """Train an ``add`` student per setting of ``grid`` at the selection seed (none of the study's) and read its
        best validation ACC from its DVCLive log. Validation only: nothing is evaluated on test. Writes
        selection.json."""
        if not self.teacher.is_file():
            raise StudyError(f"{self.teacher}: no teacher yet; run `bench/study.py data` first")
        results = []
        for overrides in grid:
            run = "select-" + "-".join(f"{k.rpartition('.')[2]}{v}" for k, v in overrides.items()) + f"-seed{seed}"
            live = self.work / "dvclive" / run
            found = sorted(live.glob("**/metrics.json"))
            if not found:
                params = self.student_params("add", seed, run=run, overrides=overrides)
                self.runner(self.train_command(params, "add", run))
                found = sorted(live.glob("**/metrics.json"))
            if not found:
                raise StudyError(f"{live}: the selection run {run} left no DVCLive metrics")
            logged = json.loads(found[0].read_text(encoding="utf-8"))
            best = logged.get("best", {})
            results.append({**{k.rpartition(".")[2]: v for k, v in overrides.items()}, "seed": seed,
                            "val_acc": best.get("val_acc"), "step": best.get("step"),
                            "grad": logged.get("grad"), "train": logged.get("train")})
            print(f"selection {run}: best val ACC {best.get('val_acc')}", flush=True)
        write_json(self.out / "selection.json", results)
        return results

    # ----------------------------------------------------------------------------------------------------- phases
    def build_data(self) -> None:
        for cmd in self.data_commands():
            self.runner(cmd)

    def train(self, distill: str, seed: int) -> None:
        if self.metrics_path(distill, seed).is_file() and self.predictions_path(distill, seed).is_file():
            return
        teacher = self.c40_teacher if distill == C40_CONTROL else self.teacher
        if not teacher.is_file():
            raise StudyError(f"{teacher}: no teacher yet; run `bench/study.py data` first")
        for cmd in self.student_commands(distill, seed):
            self.runner(cmd)

    def pilot(self, seeds: list[int], half_width: float = HALF_WIDTH) -> dict:
        if len(seeds) < 4:
            raise StudyError(f"the pilot needs at least 4 seeds, got {seeds}")
        for seed in seeds:
            for distill in ("none", "add"):
                self.train(distill, seed)
        from add.evaluation.study_stats import paired_differences, seeds_needed

        rows = self.student_rows(["none", "add"], {"none": seeds, "add": seeds})
        plan = {"pilot_seeds": seeds, "half_width": half_width, "minimum": MIN_SEEDS}
        for metric in ("acc", "auc"):
            diffs = list(paired_differences(rows, metric, quality=QUALITY)["add"].values())
            plan[f"sd_{metric}"] = statistics.stdev(diffs)
            plan[f"pilot_mean_{metric}"] = statistics.fmean(diffs)
        plan["K"] = seeds_needed(plan["sd_acc"], half_width, MIN_SEEDS)
        plan["seeds"] = list(range(plan["K"]))
        write_json(self.out / "plan.json", plan)
        return plan

    def plan(self) -> dict:
        path = self.out / "plan.json"
        if not path.is_file():
            raise StudyError(f"{path}: no plan; run `bench/study.py pilot` (and commit plan.json) first")
        return json.loads(path.read_text(encoding="utf-8"))

    def schedule(self, main: list[str], secondary: list[str], secondary_seeds: int) -> dict[str, list[int]]:
        seeds = list(self.plan()["seeds"])
        schedule = {d: seeds for d in main}
        schedule[CONTROL] = seeds
        schedule[C40_CONTROL] = seeds
        schedule.update({d: seeds[:secondary_seeds] for d in secondary})
        return schedule

    def run(self, schedule: dict[str, list[int]]) -> None:
        """Seed by seed, the distillers at every seed first, then those at fewer seeds (cut first if time is short)."""
        full = max(len(seeds) for seeds in schedule.values())
        for group in ([d for d, s in schedule.items() if len(s) == full], [d for d, s in schedule.items()
                                                                            if len(s) < full]):
            for seed in sorted({s for d in group for s in schedule[d]}):
                for distill in group:
                    if seed in schedule[distill]:
                        self.train(distill, seed)

    # ---------------------------------------------------------------------------------------------------- results
    def student_rows(self, distills: list[str], schedule: dict[str, list[int]]) -> list[dict]:
        rows = []
        for distill in distills:
            for seed in schedule[distill]:
                path = self.metrics_path(distill, seed)
                if not path.is_file():
                    raise StudyError(f"{path}: student {distill} of seed {seed} has no metrics (not run yet?)")
                rows.append(row(distill, seed, QUALITY, json.loads(path.read_text(encoding="utf-8"))))
        return rows

    def rows(self, schedule: dict[str, list[int]]) -> list[dict]:
        rows = []
        for teacher, quality in (("teacher", "raw"), ("teacher", QUALITY), (C40_TEACHER, QUALITY)):
            path = self.teacher_metrics_path(quality, teacher)
            if path.is_file():
                rows.append(row(teacher, None, quality, json.loads(path.read_text(encoding="utf-8"))))
        rows += self.student_rows(list(schedule), schedule)
        return sorted(rows, key=lambda r: (order(r["distill"]), r["test_quality"] != "raw", r["seed"] or 0))

    def predictions(self, distill: str, seed: int):
        return read_predictions(self.predictions_path(distill, seed))


def row(distill: str, seed: int | None, quality: str, metrics: dict) -> dict:
    return {"distill": distill, "seed": seed, "test_quality": quality,
            **{key: metrics.get(key) for key in ("acc", "auc", "video_auc", "val_acc")}}


def order(distill: str) -> int:
    return ORDER.index(distill) if distill in ORDER else len(ORDER)


def read_predictions(path: Path):
    from add.evaluation.study_stats import Frames

    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return Frames([r["key"] for r in rows], [r["video"] for r in rows], np.array([int(r["label"]) for r in rows]),
                  np.array([float(r["prob"]) for r in rows]))


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------------------------ summaries
def summarize(study: Study, rows: list[dict], *, resamples: int = RESAMPLES) -> list[dict]:
    """Per distiller vs ``none``: paired ACC/AUC differences, t and identity-pair bootstrap intervals, counts."""
    from add.evaluation.study_stats import better_worse, bootstrap_paired, paired_differences, t_interval
    from add.models.metrics import accuracy, roc_auc

    metrics = {"acc": accuracy, "auc": roc_auc}
    out = []
    diffs = {metric: paired_differences(rows, metric, quality=QUALITY) for metric in metrics}
    for distill in sorted(diffs["acc"], key=order):
        if distill in TEACHERS:
            continue
        entry = {"distill": distill}
        for metric, fn in metrics.items():
            per_seed = diffs[metric].get(distill, {})
            if not per_seed:
                continue
            t = t_interval(per_seed.values())
            pairs = [(study.predictions(distill, s), study.predictions("none", s)) for s in per_seed]
            boot = bootstrap_paired(pairs, fn, resamples=resamples, seed=0)
            better, worse = better_worse(per_seed.values())
            entry[metric] = {"mean_diff": t.estimate, "sd_diff": t.sd, "t_low": t.low, "t_high": t.high,
                             "boot_low": boot.low, "boot_high": boot.high, "seeds": t.n, "better": better,
                             "worse": worse, "per_seed": per_seed}
        out.append(entry)
    return out


def mean_std(values: list) -> tuple[float, float]:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def write_csv(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("" if r[k] is None else round(r[k], 6) if isinstance(r[k], float) else r[k])
                             for k in COLUMNS})


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from add.evaluation.figures import save_png

    names = [d for d in ORDER if d not in TEACHERS and any(r["distill"] == d for r in rows)]
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=120)
    for i, distill in enumerate(names):
        points = sorted((r["seed"], r["acc"]) for r in rows if r["distill"] == distill and r["test_quality"] == QUALITY)
        offsets = [(j - (len(points) - 1) / 2) * 0.03 for j in range(len(points))]
        ax.scatter([i + o for o in offsets], [p[1] for p in points], s=12, color="tab:blue", alpha=0.7, zorder=3)
        mean, std = mean_std([p[1] for p in points])
        ax.errorbar(i + 0.3, mean, yerr=std, fmt="s", color="black", capsize=4, zorder=4)
    for quality, style in (("raw", ":"), (QUALITY, "--")):
        mean, _ = mean_std([r["acc"] for r in rows if r["distill"] == "teacher" and r["test_quality"] == quality])
        if not math.isnan(mean):
            ax.axhline(mean, color="tab:red", linestyle=style, linewidth=1, label=f"teacher on {quality}")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel(f"{QUALITY} test ACC")
    ax.set_title(f"students on {QUALITY}, one dataset and teacher: student seeds (points), mean ± std (squares)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_png(fig, path)


def points(value: float) -> str:
    return f"{100 * value:+.1f}"


def readme(summary: list[dict], rows: list[dict], meta: dict) -> str:
    plan = meta["plan"]
    lines = [
        "# The seeded study: one dataset and teacher, K student seeds per distiller", "",
        f"Generated by `bench/study.py` (commit {meta['commit']}) with the params "
        f"[`{meta['params']}`]({Path(meta['params']).name}). The demo, its shards and the teacher are built once; "
        f"every student differs from the others of its distiller only in `train.seed`, and every distiller shares "
        f"the seeds, so the differences below are paired.", "",
        f"Pre-registered plan ([plan.json](plan.json)): a pilot of `none` and `add` at seeds {plan['pilot_seeds']} "
        f"gave σ_d = {100 * plan['sd_acc']:.1f} ACC points for the paired differences, so "
        f"K = the smallest K ≥ {plan['minimum']} with t_(0.975, K−1) · σ_d / √K ≤ {100 * plan['half_width']:.0f} "
        f"points = {plan['K']} seeds." + (f" {plan['amended']}" if plan.get("amended") else ""), "",
        *([meta["findings"], ""] if meta.get("findings") else []),
        "Commands:", "", "```bash", *meta["commands"], "```", "",
        f"Wall time: {meta['wall']}.", "",
        f"## Paired differences vs `none` on {QUALITY} test crops (points)", "",
        "Mean of the per-seed differences; 95 % t interval over seeds (training noise on this test set); 95 % "
        "bootstrap interval resampling the test identity pairs (which faces are in the test split); seeds better / "
        f"worse. `{CONTROL}` is the positive control: the plain student with half the training steps; "
        f"`{C40_CONTROL}` the information-matched control: `add` distilled from a teacher trained on {QUALITY} crops "
        f"(`{C40_TEACHER}`, study-only).", "",
        "| distiller | seeds | ACC diff | t 95 % | bootstrap 95 % | better / worse | AUC diff | t 95 % | "
        "bootstrap 95 % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in summary:
        acc, auc = entry.get("acc"), entry.get("auc")
        if acc is None:
            continue
        auc_cells = ["n/a"] * 3 if auc is None else [
            points(auc["mean_diff"]), f"[{points(auc['t_low'])}, {points(auc['t_high'])}]",
            f"[{points(auc['boot_low'])}, {points(auc['boot_high'])}]"]
        lines.append(f"| {entry['distill']} | {acc['seeds']} | {points(acc['mean_diff'])} | "
                     f"[{points(acc['t_low'])}, {points(acc['t_high'])}] | "
                     f"[{points(acc['boot_low'])}, {points(acc['boot_high'])}] | {acc['better']} / {acc['worse']} | "
                     + " | ".join(auc_cells) + " |")
    lines += ["", "## Test metrics, mean ± std over seeds", "",
              "| model | test crops | seeds | ACC | AUC | video AUC | best val ACC |", "|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["distill"], r["test_quality"]), []).append(r)
    for (distill, quality), group in groups.items():
        cells = []
        for key in ("acc", "auc", "video_auc", "val_acc"):
            mean, std = mean_std([r[key] for r in group])
            cells.append("n/a" if math.isnan(mean) else f"{mean:.3f} ± {std:.3f}")
        lines.append(f"| {distill} | {quality} | {len(group)} | " + " | ".join(cells) + " |")
    lines += ["", f"![{QUALITY} test ACC per distiller]({QUALITY}_acc.png)", ""]
    calibration = meta.get("calibration")
    if calibration:
        lines += ["## The demo's calibration (`dvc repro`'s demo, validation split)", "",
                  "Measured by `uv run python bench/calibration.py` after `uv run dvc repro` "
                  "([bench/results/calibration.json](../../bench/results/calibration.json)): the pipeline's models "
                  "(seed 0) and, where the figure says so, the mean over teachers that differ only in their training "
                  "seed; the study's demo is built by the same code with more identity pairs.", "",
                  "| figure | value | target | met |", "|---|---|---|---|"]
        for check in calibration.get("checks", []):
            lines.append(f"| {check['figure']} | {check['value']:.3f} | {check['target']} | "
                         f"{'yes' if check['met'] else 'no'} |")
        lines.append("")
    lines += ["How α, β and γ_FR were chosen (validation only): [selection.md](selection.md).", ""]
    return "\n".join(lines)


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                         check=False)
    return out.stdout.strip() or "?"


def collect(study: Study, schedule: dict[str, list[int]], meta: dict, *, resamples: int = RESAMPLES) -> list[dict]:
    rows = study.rows(schedule)
    summary = summarize(study, rows, resamples=resamples)
    out = study.out
    write_csv(rows, out / "results.csv")
    plot(rows, out / f"{QUALITY}_acc.png")
    meta = {**meta, "plan": study.plan(), "params": str(study.params)}
    if CALIBRATION.is_file() and "calibration" not in meta:
        meta["calibration"] = json.loads(CALIBRATION.read_text(encoding="utf-8"))
    if study.params.resolve().parent != out.resolve():
        shutil.copyfile(study.params, out / study.params.name)  # the params live beside the results
    findings = out / FINDINGS
    if findings.is_file():  # the written reading of the numbers, kept apart so that collect can be rerun
        meta["findings"] = findings.read_text(encoding="utf-8").strip()
    (out / "README.md").write_text(readme(summary, rows, meta), encoding="utf-8")
    write_json(out / "study.json", {"meta": meta, "paired": summary})
    return summary


# ------------------------------------------------------------------------------------------------- c40 teacher
def fit_c40(argv: list[str]) -> int:
    """``study.py fit-c40 teacher|student``: train the study-only teacher on the students' quality (the teacher's
    params, seed and training; distiller none), or an ``add`` student distilled from it, teacher and student then
    seeing the same c40 crop. ``add teacher``/``add student`` refuse both (a teacher must see a better quality than
    its students), so the specs are built here and handed to the same ``fit``."""
    from add.core.params import load_params
    from add.core.registry import PAPER_DISTILLER, PLAIN_STUDENT
    from add.training.spec import TrainingSpec, fit

    parser = argparse.ArgumentParser(prog="study.py fit-c40", description=fit_c40.__doc__)
    parser.add_argument("role", choices=("teacher", "student"))
    for name in ("--params", "--method", "--shards", "--models", "--dvclive"):
        parser.add_argument(name, required=True)
    parser.add_argument("--teacher", default=None, help="student: the c40 teacher's checkpoint")
    args = parser.parse_args(argv)
    if args.role == "student" and not args.teacher:
        parser.error("a student needs --teacher (the c40 teacher's best.pt)")
    params = load_params(args.params)
    if args.role == "teacher":
        spec = TrainingSpec("teacher", args.method, QUALITY, PLAIN_STUDENT, QUALITY)
    else:
        spec = TrainingSpec("student", args.method, QUALITY, PAPER_DISTILLER, QUALITY)
    fit(params, spec, shards=args.shards, models=args.models, live=args.dvclive, teacher=args.teacher)
    return 0


# ------------------------------------------------------------------------------------------------------------ cli
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fit-c40"]:
        return fit_c40(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=("data", "select", "pilot", "run", "collect", "all"))
    parser.add_argument("--params", default=str(PARAMS), help="the study's params (default: %(default)s)")
    parser.add_argument("--work", default=str(WORK), help="data, models and metrics (default: %(default)s)")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--pilot-seeds", type=int, nargs="+", default=list(PILOT_SEEDS))
    parser.add_argument("--half-width", type=float, default=HALF_WIDTH, help="target 95 %% half-width (ACC)")
    parser.add_argument("--distill", nargs="+", default=list(MAIN), help="distillers at the K seeds")
    parser.add_argument("--secondary", nargs="*", default=list(SECONDARY), help="distillers at fewer seeds")
    parser.add_argument("--secondary-seeds", type=int, default=3)
    parser.add_argument("--alphas", type=float, nargs="+", default=[1.0, 0.1, 0.01], help="select: α grid")
    parser.add_argument("--betas", type=float, nargs="+", default=[16.0, 4.0], help="select: β grid")
    parser.add_argument("--select-seed", type=int, default=SELECT_SEED, help="select: the student seed")
    parser.add_argument("--wall", default=None, help="collect: README's wall-time line (default: this phase's)")
    parser.add_argument("--resamples", type=int, default=RESAMPLES, help="bootstrap resamples")
    args = parser.parse_args(argv)
    if "none" not in args.distill:
        args.distill = ["none", *args.distill]
    try:
        study = Study(Path(args.params), Path(args.work), Path(args.out))
        started = time.perf_counter()
        if args.phase in ("data", "all"):
            study.build_data()
        if args.phase == "select":
            grid = [{"distill.alpha": a, "beta": b} for a in args.alphas for b in args.betas]
            study.select(grid, args.select_seed)
        if args.phase in ("pilot", "all"):
            plan = study.pilot(args.pilot_seeds, args.half_width)
            print(f"pilot: sd of add - none ACC {plan['sd_acc']:.4f} -> K = {plan['K']} ({study.out / 'plan.json'})")
        schedule = None
        if args.phase in ("run", "all", "collect"):
            schedule = study.schedule(args.distill, args.secondary, args.secondary_seeds)
        if args.phase in ("run", "all"):
            study.run(schedule)
        if args.phase in ("collect", "all", "run"):
            commands = [f"uv run python bench/study.py {phase} --params {args.params}" for phase in
                        ("data", "select", "pilot", "run")]
            wall = time.perf_counter() - started
            meta = {"commit": git_commit(), "commands": commands,
                    "wall": args.wall or f"{wall / 60:.1f} min for this `{args.phase}`"}
            summary = collect(study, schedule, meta, resamples=args.resamples)
            for entry in summary:
                acc = entry.get("acc")
                if acc:
                    print(f"{entry['distill']:14s} vs none: ACC {points(acc['mean_diff'])} points, t 95 % "
                          f"[{points(acc['t_low'])}, {points(acc['t_high'])}], better on {acc['better']}/"
                          f"{acc['seeds']} seeds")
            print(f"wrote {study.out}/results.csv, {QUALITY}_acc.png, README.md, study.json")
    except StudyError as e:
        print(f"study: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
