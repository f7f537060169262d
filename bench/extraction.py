"""Extraction per video (issue 6, item 1): ours vs a naive DeepfakeBench-style pipeline vs the floor.

    uv run python bench/extraction.py                                   # inputs built in a temp dir, 3 repeats
    uv run python bench/extraction.py --workdir /tmp/extbench --repeats 5 --label after
    git archive 9c721bc add | tar -x -C /tmp/before                     # an older stage, to measure beside ours:
    uv run python bench/extraction.py --workdir /tmp/extbench --baseline /tmp/before

Inputs, built with the demo generator (``add.data.demo.build.build_demo``, one [target, source] pair, method Deepfakes:
originals 000, 001 and fakes 000_001, 001_000) and cached in ``--workdir``:

* ``480p``: the demo at its default frame size (854x480), ``--demo-frames`` frames (default 128) per video;
* ``720p``: a longer clip made the same way, 1280x720, ``--long-frames`` frames (default 300); original 000 and
  fake 000_001 are measured;
* ``warmup``: a tiny demo (320x240, 16 frames) that every measuring process runs through first, untimed.

Per video, 64 frames (``data.frames_per_video``) x raw/c23/c40, single process:

* ``ours``: the extract stage's own per-video code (:func:`add.data.extract.scheduler.extract_videos`, which
  ``add.data.extract.stage.run`` calls, with the stage defaults): hash inputs, probe, decode, detect, crop, PNG, tar,
  sidecar. Videos run in the stage's order: originals first, then the fakes, which reuse their original's boxes.
* ``baseline`` (with ``--baseline DIR``): the same call into the ``add`` package found in DIR (an older revision).
* ``floor``: the irreducible work: decode only the sampled frames of the three qualities (one ffmpeg ``select``
  pass each, frame counts given for free) plus one detector call per raw frame at ours' detector settings
  (``data.detect_*``: threshold 0.2, upsample 0, longer side 640). Nothing is cropped or written.
* ``naive``: how DeepfakeBench's ``preprocessing/preprocess.py`` does it: per quality, ``cv2.VideoCapture`` reads
  (decodes) every frame, and each sampled frame goes through ``face_detector(rgb, 1)`` (dlib at full resolution,
  upsample 1, threshold 0), each quality separately; the largest face is cropped (1.3x square box, 128 px; no
  landmark alignment) and written as a PNG file. It is slow, so it runs on one original and one fake per set,
  ``--naive-repeats`` times. The issue's target (>= 5x) is against this one.
* ``naive_ourdet``: the same pipeline with ours' detector settings, so that its ratio shows what the pipeline's
  structure alone costs (decode every frame, detect on every quality).

Each (approach, input set, repeat) runs in its own subprocess, so memory peaks never mix approaches; approaches
are interleaved within every repeat (rotated order) and medians are reported, because the CPU may be shared. Wall
seconds are what one process takes (ours overlaps its ffmpeg decoders with detection, so on an idle machine its
wall time is below its CPU time); CPU seconds (user + sys of the process and its ffmpeg children) are steadier on a
shared machine and give videos/hour per core; ratios are given for both. Memory: the peak RSS of the Python process
(VmHWM, from the timed runs), and from one more, untimed subprocess per approach, per video, the peak of
``tracemalloc`` (Python-side allocations, numpy buffers included) and the peak RSS of the process plus its ffmpeg
children (sampled every 20 ms). The 1-minute load average is sampled before every subprocess. Writes
``bench/results/extraction.json`` (runs keyed by ``--label``; runs under other labels already there are kept).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "extraction.json"
QUALITIES = ("raw", "c23", "c40")
APPROACHES = ("ours", "floor", "naive", "naive_ourdet")
# naive (DeepfakeBench's detector call) is slow: measured on one original and one fake per set, --naive-repeats times.
NAIVE_VIDEOS = ("480p/original/000", "480p/Deepfakes/000_001", "720p/original/000", "720p/Deepfakes/000_001")
SETS = {  # name: (width, height, frames argument, videos measured)
    "480p": (854, 480, "demo_frames", ("original/000", "original/001", "Deepfakes/000_001", "Deepfakes/001_000")),
    "720p": (1280, 720, "long_frames", ("original/000", "Deepfakes/000_001")),
}
WARMUP = ("warmup", 320, 240, 16, ("original/000", "Deepfakes/000_001"))
TARGETS = {"naive_over_ours_min": 5.0, "ours_over_floor_max": 1.3}
RATIOS = (("ours", "floor"), ("naive", "ours"), ("naive_ourdet", "ours"), ("baseline", "ours"),
          ("baseline", "floor"))


# ------------------------------------------------------------------------------------------------------ inputs
def _demo_set(workdir: Path, name: str, width: int, height: int, frames: int, measured: tuple[str, ...],
              seed: int = 0) -> list[dict[str, Any]]:
    """Build (or reuse, when its ``demo.json`` says it was built with the same arguments) one demo tree."""
    from add.data import ffpp
    from add.data.demo.build import build_demo
    from add.data.video_io import probe

    root = workdir / name
    wanted = {"seed": seed, "pairs": [1, 0, 0], "frames": frames, "width": width, "height": height}
    marker = root / "demo.json"
    have = json.loads(marker.read_text())["config"] if marker.is_file() else {}
    if any(have.get(k) != v for k, v in wanted.items()):
        start = time.perf_counter()
        build_demo(root, seed=seed, pairs=(1, 0, 0), frames=frames, width=width, height=height,
                   methods=("Deepfakes",), progress=False)
        print(f"built the {name} demo ({width}x{height}, {frames} frames) in {time.perf_counter() - start:.0f} s")
    table = ffpp.list_videos(root, ["Deepfakes"], QUALITIES)
    rows = {f"{r['method']}/{r['video']}": r for r in table.to_dict("records")}
    videos = []
    for key in measured:
        r = rows[key]
        info = probe(r["raw"])
        videos.append({"name": f"{name}/{key}", "split": r["split"], "method": r["method"], "video": r["video"],
                       "label": int(r["label"]), "target": r["target"], "paths": {q: str(r[q]) for q in QUALITIES},
                       "frames": info.frames, "width": info.width, "height": info.height, "fps": info.fps,
                       "mb": {q: round(Path(r[q]).stat().st_size / 1e6, 2) for q in QUALITIES}})
    return videos


def build_inputs(workdir: Path, frames: dict[str, int]) -> tuple[dict[str, list[dict]], list[dict]]:
    inputs = {name: _demo_set(workdir, name, w, h, frames[key], measured)
              for name, (w, h, key, measured) in SETS.items()}
    return inputs, _demo_set(workdir, *WARMUP)


# ------------------------------------------------------------------------------------------------- approaches
def _extract():
    """The extraction API of the ``add`` being measured: the ``add.data.extract`` package, or the single module of a
    --baseline from before it was split."""
    import types

    from add.data import extract

    if hasattr(extract, "ExtractConfig"):
        return extract
    from add.data import sampling
    from add.data.extract import config, jobs, per_video, scheduler

    return types.SimpleNamespace(
        ExtractConfig=config.ExtractConfig, sample_indices=sampling.sample_indices,
        SIDECAR_SUFFIX=config.SIDECAR_SUFFIX,
        VideoJob=jobs.VideoJob, extract_video=per_video.extract_video, extract_videos=scheduler.extract_videos,
        __file__=extract.__file__)


def _cfg():
    return _extract().ExtractConfig.from_params({"seed": 0, "data": {"frames_per_video": 64, "jobs": 1}})


def _ours(videos: list[dict], out_dir: Path, record) -> None:
    """The stage's per-video code on these videos, in the stage's order; ``record(name)`` after each video."""
    import dataclasses

    extract = _extract()
    cfg = _cfg()
    # the jobs extract._jobs makes from videos.parquet, without pandas (the stage's workers never import it)
    has_target = "target" in {f.name for f in dataclasses.fields(extract.VideoJob)}
    jobs = []
    for i, v in enumerate(videos):
        stem = out_dir / v["method"] / v["video"]
        extra = {"target": v["target"]} if has_target else {}
        jobs.append(extract.VideoJob(i, v["split"], v["method"], v["video"], v["label"], dict(v["paths"]),
                                     f"{stem}.tar", f"{stem}{extract.SIDECAR_SUFFIX}", **extra))
    names = {job.index: v["name"] for job, v in zip(jobs, videos, strict=True)}
    if hasattr(extract, "extract_videos"):
        extract.extract_videos(jobs, cfg, workers=1, force=True, done=lambda result: record(names[result.index]))
    else:  # a baseline from before issue 6: the stage called extract_video per video
        for job in jobs:
            record(names[extract.extract_video(job, cfg).index])


def _floor(video: dict, detector) -> None:
    from add.data.video_io import VideoInfo, read_frames

    sample_indices = _extract().sample_indices

    info = VideoInfo(video["paths"]["raw"], video["width"], video["height"], video["fps"], video["frames"])
    indices = sample_indices(info.frames, 64)
    for _, frame in read_frames(video["paths"]["raw"], indices, info):
        detector(frame)
    for q in ("c23", "c40"):
        for _ in read_frames(video["paths"][q], indices, info):
            pass


def _naive(video: dict, detector, out_dir: Path) -> None:
    import cv2

    from add.data.faces import crop, square_box

    sample_indices = _extract().sample_indices

    for q in QUALITIES:
        cap = cv2.VideoCapture(video["paths"][q])
        if not cap.isOpened():
            raise RuntimeError(f"OpenCV cannot open {video['paths'][q]}")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        wanted = set(sample_indices(n, 64))
        folder = out_dir / video["name"] / q
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            ok, bgr = cap.read()  # decodes every frame, as cap.read() in DeepfakeBench's loop
            if not ok:
                break
            if i not in wanted:
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            found = detector(rgb)
            if found:
                h, w = rgb.shape[:2]
                face = crop(rgb, square_box(found[0], w, h, 1.3), 128)
                cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
        cap.release()


def _rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    """This process's peak RSS since its exec (VmHWM; ``ru_maxrss`` would include the parent's before the exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


class TreeRss:
    """Samples, every ``interval`` seconds in a thread, the RSS of this process plus its children (the ffmpeg
    decoders): the peak of the sum. Scanning /proc costs ~2 ms, so it runs only in the untimed memory pass."""

    def __init__(self, interval: float = 0.02):
        import threading

        self.interval, self.peak_mb = interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _children(self) -> list[str]:
        me, pids = str(os.getpid()), []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        if f.read().rsplit(")", 1)[1].split()[1] == me:
                            pids.append(pid)
                except (OSError, IndexError):
                    pass
        return pids

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            total = _rss_mb()
            for pid in self._children():
                try:
                    total += _rss_mb(pid)
                except OSError:
                    pass
            self.peak_mb = max(self.peak_mb, total)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def worker(spec: dict) -> dict:
    """Run one approach over one input set in this (fresh) process: warm-up, then per-video wall and CPU seconds,
    and the process's peaks."""
    from add.data.faces import FaceDetector

    extract = _extract()
    approach, videos = spec["approach"], spec["videos"]
    cfg = _cfg()
    if approach == "naive":
        detector = FaceDetector(0.0, 1, 0)  # DeepfakeBench: face_detector(rgb, 1)
    else:
        detector = FaceDetector(cfg.faces.threshold, cfg.faces.upsample, cfg.faces.max_side)
    out_dir = Path(tempfile.mkdtemp(prefix=f"bench-{approach}-", dir=spec["tmp"]))

    def run(videos: list[dict], record) -> None:
        if approach in ("ours", "baseline"):
            _ours(videos, out_dir / "ours", record)
            return
        for video in videos:
            if approach == "floor":
                _floor(video, detector)
            else:
                _naive(video, detector, out_dir)
            record(video["name"])

    warmup = spec["warmup"] if approach in ("ours", "baseline") else spec["warmup"][:1]
    run(warmup, lambda name: None)  # loads dlib's models, libpng, ffmpeg's binary, lazy imports: untimed
    rss_ready = _rss_mb()
    memory = spec["memory"]
    per_video: dict[str, dict] = {}
    clock = {"t": time.perf_counter(), "cpu": _cpu()}
    tree = TreeRss()

    def record(name: str) -> None:
        now, cpu = time.perf_counter(), _cpu()
        per_video[name] = {"seconds": now - clock["t"], "cpu_seconds": cpu - clock["cpu"]}
        if memory:
            per_video[name]["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
            per_video[name]["tree_peak_rss_mb"] = tree.peak_mb
            tracemalloc.reset_peak()
            tree.peak_mb = 0.0
        clock["t"], clock["cpu"] = time.perf_counter(), _cpu()

    if memory:
        tracemalloc.start()
        with tree:
            run(videos, record)
    else:
        run(videos, record)
    return {"videos": per_video, "rss_ready_mb": rss_ready, "extract_module": extract.__file__,
            "peak_rss_mb": _peak_rss_mb()}


def run_worker(spec: dict, tmp: Path, baseline: Path | None = None) -> dict:
    spec_path = tmp / f"spec-{time.monotonic_ns()}.json"
    spec_path.write_text(json.dumps({**spec, "tmp": str(tmp)}))
    out_path = spec_path.with_suffix(".out.json")
    env = dict(os.environ)
    if spec["approach"] == "baseline":
        env["PYTHONPATH"] = os.pathsep.join([str(baseline)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    proc = subprocess.run([sys.executable, __file__, "--worker", str(spec_path), str(out_path)],
                          capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['approach']} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(out_path.read_text())


# ------------------------------------------------------------------------------------------------------ report
def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarise(inputs: dict, runs: list[dict], traced: dict, approaches: tuple[str, ...]) -> dict:
    """Medians per (approach, video), ratios of wall and CPU seconds, videos/hour per core and memory."""
    rows = []
    for set_name, videos in inputs.items():
        for video in videos:
            name = video["name"]
            row: dict[str, Any] = {"video": name, "frames": video["frames"],
                                   "size": f"{video['width']}x{video['height']}",
                                   "kind": "original" if video["method"] == "original" else "fake"}
            for approach in approaches:
                mine = [r for r in runs if r["approach"] == approach and r["set"] == set_name
                        and name in r["result"]["videos"]]
                if not mine:
                    continue
                got = [r["result"]["videos"][name] for r in mine]
                row[f"{approach}_s"] = _median([g["seconds"] for g in got])
                row[f"{approach}_cpu_s"] = _median([g["cpu_seconds"] for g in got])
                row[f"{approach}_repeats"] = len(got)
                row[f"{approach}_videos_per_hour_per_core"] = 3600 / row[f"{approach}_cpu_s"]
                row[f"{approach}_peak_rss_mb"] = max(r["result"]["peak_rss_mb"] for r in mine)
                t = traced.get((approach, set_name), {}).get(name)
                if t is not None:
                    row[f"{approach}_traced_peak_mb"] = t["traced_peak_mb"]
                    row[f"{approach}_tree_peak_rss_mb"] = t["tree_peak_rss_mb"]
            paired = {}
            for a, b in RATIOS:
                if f"{a}_s" not in row or f"{b}_s" not in row:
                    continue
                row[f"{a}_over_{b}"] = row[f"{a}_s"] / row[f"{b}_s"]
                row[f"{a}_over_{b}_cpu"] = row[f"{a}_cpu_s"] / row[f"{b}_cpu_s"]
                # paired: both from the same repeat, so a change of load between repeats cancels out
                ratios = []
                for rep in sorted({r["repeat"] for r in runs}):
                    x = [r["result"]["videos"][name]["seconds"] for r in runs if r["repeat"] == rep
                         and r["approach"] == a and r["set"] == set_name and name in r["result"]["videos"]]
                    y = [r["result"]["videos"][name]["seconds"] for r in runs if r["repeat"] == rep
                         and r["approach"] == b and r["set"] == set_name and name in r["result"]["videos"]]
                    if x and y:
                        ratios.append(x[0] / y[0])
                paired[f"{a}_over_{b}"] = _median(ratios)
            row["paired_median_wall_ratios"] = paired
            rows.append(row)
    return {"rows": rows}


def ffpp_mix(rows: list[dict], set_name: str, approaches: tuple[str, ...], methods: int = 5) -> dict | None:
    """Per-video cost at FF++'s mix (1 original per ``methods`` fakes), from the set's originals and fakes that
    every approach measured: an extrapolation from measured rows."""
    both = [r for r in rows if r["video"].startswith(set_name + "/") and all(f"{a}_s" in r for a in approaches)]
    orig = [r for r in both if r["kind"] == "original"]
    fake = [r for r in both if r["kind"] == "fake"]
    if not orig or not fake:
        return None
    out: dict[str, Any] = {"videos": [r["video"] for r in both]}
    for approach in approaches:
        for key in (f"{approach}_s", f"{approach}_cpu_s"):
            o, f = statistics.mean(r[key] for r in orig), statistics.mean(r[key] for r in fake)
            out[key] = (o + methods * f) / (methods + 1)
        out[f"{approach}_videos_per_hour_per_core"] = 3600 / out[f"{approach}_cpu_s"]
    for a, b in RATIOS:
        if a in approaches and b in approaches:
            out[f"{a}_over_{b}"] = out[f"{a}_s"] / out[f"{b}_s"]
            out[f"{a}_over_{b}_cpu"] = out[f"{a}_cpu_s"] / out[f"{b}_cpu_s"]
    return out


def _fmt(value: float | None, spec: str, width: int, unit: str = "") -> str:
    return (f"{value:{spec}}{unit}" if value is not None else "-").rjust(width)


def print_table(summary: dict, approaches: tuple[str, ...]) -> None:
    seconds = [("ours", "ours s"), ("floor", "floor s"), ("naive", "naive s"), ("naive_ourdet", "n-ourdet s"),
               ("baseline", "baseline s")]
    ratios = [("ours_over_floor", "ours/floor", ".2f"), ("naive_over_ours", "naive/ours", ".1f"),
              ("naive_ourdet_over_ours", "n-ourdet/ours", ".1f"), ("baseline_over_ours", "baseline/ours", ".2f")]
    cols = [(label, key) for key, label in seconds if key in approaches]
    rats = [r for r in ratios if r[0].split("_over_")[0] in approaches]
    head = f"{'video':<34s}" + "".join(f"{label:>11s}" for label, _ in cols)
    head += "".join(f"{label + ' wall|cpu':>24s}" for _, label, _ in rats)
    head += f"{'ours cpu s':>11s}{'v/h/core ours':>14s}{'v/h/core naive':>15s}"
    head += "".join(f"{'MB ' + name + ' proc|tree':>22s}" for name in ("ours", "floor", "n-ourdet"))
    print(head)
    print("-" * len(head))
    lines = [(r["video"], r) for r in summary["rows"]]
    lines += [(f"FF++ mix {n} (1 orig : 5 fakes)", m) for n, m in summary.get("ffpp_mix", {}).items() if m]
    for label, r in lines:
        line = f"{label:<34s}" + "".join(_fmt(r.get(f"{key}_s"), ".2f", 11) for _, key in cols)
        for key, _, spec in rats:
            pair = _fmt(r.get(key), spec, 0, "x") + " | " + _fmt(r.get(f"{key}_cpu"), spec, 0, "x")
            line += pair.rjust(24)
        line += (_fmt(r.get("ours_cpu_s"), ".2f", 11) + _fmt(r.get("ours_videos_per_hour_per_core"), ".0f", 14)
                 + _fmt(r.get("naive_videos_per_hour_per_core"), ".0f", 15))
        for name in ("ours", "floor", "naive_ourdet"):
            line += (_fmt(r.get(f"{name}_peak_rss_mb"), ".0f", 0) + " | "
                     + _fmt(r.get(f"{name}_tree_peak_rss_mb"), ".0f", 0)).rjust(22)
        print(line)


def _git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "add/data/extract", "add/data/faces.py"],
                               cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        return out + (" + uncommitted add/data/extract or faces.py" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=None, help="where the input videos are built/cached "
                        "(default: a temp dir, removed at the end)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of every approach but naive")
    parser.add_argument("--naive-repeats", type=int, default=1, help="repeats of naive (0: skip it)")
    parser.add_argument("--demo-frames", type=int, default=128, help="frames per 480p demo video")
    parser.add_argument("--long-frames", type=int, default=300, help="frames of the 720p clip")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a folder holding an older 'add' package, measured beside ours as 'baseline'")
    parser.add_argument("--no-memory", action="store_true", help="skip the (untimed) tracemalloc/RSS pass")
    parser.add_argument("--label", default="latest", help="key of this run in the JSON (other keys are kept)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        spec = json.loads(Path(args.worker[0]).read_text())
        Path(args.worker[1]).write_text(json.dumps(worker(spec)))
        return 0
    if args.long_frames < 300:
        parser.error("--long-frames must be >= 300 (issue 6: a >= 300-frame 720p clip)")
    if args.repeats < 1 or args.naive_repeats < 0:
        parser.error("--repeats must be >= 1 and --naive-repeats >= 0")
    if args.baseline is not None and not any((args.baseline / "add" / "data" / name).is_file()
                                             for name in ("extract.py", "extract/__init__.py")):
        parser.error(f"--baseline {args.baseline}: no add/data/extract in it")
    approaches = APPROACHES + (("baseline",) if args.baseline else ())

    from labelled_runs import save_run

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-extraction-") as tmp_name:
        tmp = Path(tmp_name)
        workdir = args.workdir or tmp / "inputs"
        inputs, warmup = build_inputs(workdir, {"demo_frames": args.demo_frames, "long_frames": args.long_frames})
        loads: list[float] = []
        runs: list[dict] = []
        for repeat in range(max(args.repeats, args.naive_repeats)):
            order = [approaches[(i + repeat) % len(approaches)] for i in range(len(approaches))]
            for approach in order:
                if repeat >= (args.naive_repeats if approach == "naive" else args.repeats):
                    continue
                for set_name, videos in inputs.items():
                    if approach == "naive":
                        videos = [v for v in videos if v["name"] in NAIVE_VIDEOS]
                    if not videos:
                        continue
                    loads.append(os.getloadavg()[0])
                    spec = {"approach": approach, "videos": videos, "warmup": warmup, "memory": False}
                    result = run_worker(spec, tmp, args.baseline)
                    runs.append({"repeat": repeat, "approach": approach, "set": set_name, "result": result})
                    wall = sum(v["seconds"] for v in result["videos"].values())
                    cpu = sum(v["cpu_seconds"] for v in result["videos"].values())
                    print(f"repeat {repeat} {approach:<12s} {set_name}: {wall:7.2f} s wall, {cpu:7.2f} s cpu for "
                          f"{len(videos)} videos (load {loads[-1]:.1f})", flush=True)
        traced = {}
        if not args.no_memory:
            for approach in ("ours", "floor", "naive_ourdet"):
                for set_name, videos in inputs.items():
                    spec = {"approach": approach, "videos": videos, "warmup": warmup, "memory": True}
                    traced[(approach, set_name)] = run_worker(spec, tmp)["videos"]
        loads.append(os.getloadavg()[0])

    summary = summarise(inputs, runs, traced, approaches)
    summary["ffpp_mix"] = {name: ffpp_mix(summary["rows"], name, approaches) for name in inputs}
    print()
    print_table(summary, approaches)
    rows = summary["rows"]
    with_naive = [r for r in rows if "naive_over_ours" in r]
    verdict: dict[str, Any] = {}
    for unit, suffix in (("wall", ""), ("cpu", "_cpu")):
        verdict[f"ours_over_floor_max_{unit}"] = max(r[f"ours_over_floor{suffix}"] for r in rows)
        verdict[f"naive_over_ours_min_{unit}"] = (min(r[f"naive_over_ours{suffix}"] for r in with_naive)
                                                  if with_naive else None)
        verdict[f"naive_ourdet_over_ours_min_{unit}"] = min(r[f"naive_ourdet_over_ours{suffix}"] for r in rows)
        verdict[f"meets_targets_{unit}"] = (
            verdict[f"naive_over_ours_min_{unit}"] is not None
            and verdict[f"naive_over_ours_min_{unit}"] >= TARGETS["naive_over_ours_min"]
            and verdict[f"ours_over_floor_max_{unit}"] <= TARGETS["ours_over_floor_max"])
    print()
    for unit in ("wall", "cpu"):
        naive_min = verdict[f"naive_over_ours_min_{unit}"]
        print(f"{unit:>4s}: naive/ours min {'-' if naive_min is None else f'{naive_min:.1f}x'} "
              f"(target >= {TARGETS['naive_over_ours_min']:g}x; with ours' detector "
              f"{verdict[f'naive_ourdet_over_ours_min_{unit}']:.1f}x), ours/floor max "
              f"{verdict[f'ours_over_floor_max_{unit}']:.2f}x (target <= {TARGETS['ours_over_floor_max']:g}x)")
    print(f"load average (1 min) {min(loads):.1f}-{max(loads):.1f} (median {statistics.median(loads):.1f}) "
          f"on {os.cpu_count()} CPUs")

    run_record = {
        "command": "uv run python bench/extraction.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "revision": _git_revision(),
        "baseline": str(args.baseline) if args.baseline else None,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_1min": {"min": min(loads), "median": statistics.median(loads), "max": max(loads),
                                          "samples": [round(x, 2) for x in loads]}},
        "settings": {"frames_per_video": 64, "qualities": list(QUALITIES), "repeats": args.repeats,
                     "naive_repeats": args.naive_repeats, "demo_frames": args.demo_frames,
                     "long_frames": args.long_frames,
                     "detectors": {"ours, floor, naive_ourdet": "dlib HOG, threshold 0.2, upsample 0, longer side 640",
                                   "naive": "dlib HOG, threshold 0, upsample 1, full resolution (DeepfakeBench)"},
                     "units": "seconds per video (median over repeats, one process); *_cpu_s = user+sys of the "
                              "process and its ffmpeg children; ratios *_over_* of wall seconds, *_cpu of CPU "
                              "seconds; videos/hour/core = 3600 / cpu_s; RSS and traced peaks in MiB"},
        "inputs": inputs,
        "targets": TARGETS,
        "verdict": verdict,
        "summary": summary,
        "runs": runs,
        "seconds_total": round(time.perf_counter() - started, 1),
    }
    save_run(args.out, args.label, run_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
