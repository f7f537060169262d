"""``add predict`` cost on footage as people have it (issue 23), this code side by side with the previous code.

    uv run python bench/predict_cost.py                              # all cases, baseline f6ae47d, 1 repeat
    uv run python bench/predict_cost.py --cases help image --workdir /tmp/costbench --repeats 3
    uv run python bench/predict_cost.py --baseline-only ...          # (or --current-only) to split a long run

Cases (inputs built once per ``--workdir`` from ``tests/video_factory.py``: a real face photo over a smooth
panning background; the face is narrower than 1/8 of the frame, so the 640-px first detection pass misses it):

* ``help``: ``add predict --help`` (imports included).
* ``1080p``: 1920x1080, 25 fps, 10 s (250 frames), H.264 CRF 23, a ~150 px face.
* ``4k60``: 3840x2160, 60 fps, 20 s (1200 frames), H.264 CRF 23 (2 s GOP, as phones write), a ~290 px face.
* ``image``: a 12000x8000 JPEG without a face.

Each (case, code) runs ``add predict INPUT --model M --frames 32 --quiet --out ...`` in its own process; ``code`` is
``current`` (this checkout) or ``previous`` (``--baseline``, default f6ae47d, the commit before issue 23, extracted
with ``git archive`` into a temp folder and put first on ``PYTHONPATH``). Reported: wall seconds, the peak resident
memory (VmHWM) of the Python process and of its largest child (ffmpeg), the status and detected frames. The model is
``--model`` (default: the demo's ADD student when ``dvc repro`` has made it, else a random-weight ResNet-18 with a
model card; speed does not depend on the weights). Writes ``bench/results/predict_cost.json``.
Targets (issue 23): 4k60 <= 20 s and <= 1 GB peak, image <= 1.5 GB peak, help <= 2 s.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "predict_cost.json"
DEMO_MODEL = ROOT / "models" / "student" / "Deepfakes" / "c40" / "add" / "best.pt"
BASELINE = "f6ae47d"
CASES = {
    "1080p": {"width": 1920, "height": 1080, "fps": 25, "seconds": 10, "face": 300},
    "4k60": {"width": 3840, "height": 2160, "fps": 60, "seconds": 20, "face": 600},
    "image": {"width": 12000, "height": 8000},
    "help": {},
}
TARGETS = {"4k60": {"seconds": 20, "peak_gb": 1.0}, "image": {"peak_gb": 1.5}, "help": {"seconds": 2}}


# ------------------------------------------------------------------------------------------------------ inputs
def build_clip(path: Path, width: int, height: int, fps: int, seconds: int, face: int) -> Path:
    """The clip, encoded by ffmpeg (libx264 CRF 23, veryfast, 2 s GOP) from frames piped in; cached."""
    marker = path.with_suffix(".json")
    wanted = {"width": width, "height": height, "fps": fps, "seconds": seconds, "face": face}
    if path.is_file() and marker.is_file() and json.loads(marker.read_text()) == wanted:
        return path
    sys.path.insert(0, str(ROOT / "tests"))
    from video_factory import synth_frames

    from add.data.video_io import ffmpeg_exe

    n = fps * seconds
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt",
            "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:", "-c:v", "libx264", "-preset",
            "veryfast", "-crf", "23", "-g", str(2 * fps), "-pix_fmt", "yuv420p", str(path)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE)
    for frame in synth_frames(n, width, height, face="astronaut", face_size=face, seed=7):
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed to build {path}")
    marker.write_text(json.dumps(wanted))
    return path


def build_image(path: Path, width: int, height: int) -> Path:
    if path.is_file():
        return path
    import cv2

    sys.path.insert(0, str(ROOT / "tests"))
    from video_factory import background

    small = background(width // 8, height // 8, seed=11)
    cv2.imwrite(str(path), cv2.cvtColor(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC),
                                        cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def build_model(path: Path) -> Path:
    if path.is_file():
        return path
    import torch

    from add.data.faces import FaceSettings
    from add.models.card import PIXEL_MEAN, PIXEL_STD, Card
    from add.models.detector import create_detector
    from add.training.checkpoints import CHECKPOINT_FORMAT, save_checkpoint

    torch.manual_seed(0)
    model = create_detector("resnet18")
    card = Card("resnet18", 128, PIXEL_MEAN, PIXEL_STD, FaceSettings(), {"kind": "benchmark"}, 0.5).to_json()
    meta = {"kind": "benchmark", "model": "resnet18", "card": card}
    save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "meta": meta, "model": model.state_dict()})
    return path


def baseline_tree(rev: str, into: Path) -> Path:
    """``add/`` of ``rev`` extracted into ``into`` (git archive: nothing is added to the repository)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "add"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


# ------------------------------------------------------------------------------------------------------ worker
WORKER = r"""
import json, os, sys, threading, time
start = time.perf_counter()
me = os.getpid()
children = {}  # pid -> peak VmHWM (kB) seen; VmHWM is the high-water mark of that process alone


def hwm(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return 0


def watch():
    while True:
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                if ppid == me:
                    children[name] = max(children.get(name, 0), hwm(name))
        time.sleep(0.05)


threading.Thread(target=watch, daemon=True).start()
import add
from add.cli import main
argv = json.loads(sys.argv[1])
try:
    code = main(argv)
except SystemExit as e:
    code = e.code
seconds = time.perf_counter() - start
print("BENCH" + json.dumps({"seconds": seconds, "exit": code, "python_peak_mb": hwm(me) / 1024,
                            "child_peak_mb": max(children.values(), default=0) / 1024, "add": add.__file__}))
"""


def run_case(case: str, code_root: Path, inputs: dict[str, Path], model: Path, tmp: Path, frames: int) -> dict:
    out = tmp / f"{case}-{time.monotonic_ns()}.json"
    if case == "help":
        argv = ["predict", "--help"]
    else:
        argv = ["predict", str(inputs[case]), "--model", str(model), "--frames", str(frames), "--quiet", "--out",
                str(out)]
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WORKER, json.dumps(argv)], capture_output=True, text=True,
                          env=env, cwd=str(code_root), check=False)
    wall = time.perf_counter() - started
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH")), None)
    if line is None:
        raise RuntimeError(f"{case} ({code_root}) failed:\n{proc.stderr[-3000:]}")
    record = json.loads(line[5:])
    if not record["add"].startswith(str(code_root)):
        raise RuntimeError(f"{case}: imported add from {record['add']}, not {code_root}")
    record["process_seconds"] = wall
    if out.is_file():
        result = json.loads(out.read_text())["results"][0]
        record["status"] = result["status"]
        record["frames"] = len(result["frames"])
        record["detected"] = sum(f.get("face", "detected") == "detected" for f in result["frames"])
        record["score"] = result["score"]
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=None, help="where inputs are built/cached")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--baseline", default=BASELINE, help="the previous code's commit (default: %(default)s)")
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: the demo student if built)")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--current-only", action="store_true")
    which.add_argument("--baseline-only", action="store_true")
    parser.add_argument("--quick", action="store_true", help="inputs 1/4 the size and 1/5 the length (a smoke test "
                        "of this script, not the issue's figures)")
    parser.add_argument("--label", default="latest")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from labelled_runs import save_run

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-predict-cost-") as tmp_name:
        tmp = Path(tmp_name)
        workdir = args.workdir or tmp
        workdir.mkdir(parents=True, exist_ok=True)
        inputs = {}
        for case in args.cases:
            spec = dict(CASES[case])
            if args.quick:
                spec = {k: v // 4 if k in ("width", "height", "face") else max(1, v // 5) if k == "seconds" else v
                        for k, v in spec.items()}
            if case == "image":
                inputs[case] = build_image(workdir / f"huge-{spec['width']}x{spec['height']}.jpg", **spec)
            elif case != "help":
                inputs[case] = build_clip(workdir / f"{case}{'-quick' if args.quick else ''}.mp4", **spec)
        model = args.model or (DEMO_MODEL if DEMO_MODEL.is_file() else build_model(workdir / "resnet18.pt"))
        codes = {}
        if not args.baseline_only:
            codes["current"] = ROOT
        if not args.current_only:
            codes["previous"] = baseline_tree(args.baseline, tmp / "baseline")
        runs = []
        for repeat in range(args.repeats):
            for case in args.cases:
                for name, root in codes.items():
                    r = run_case(case, root, inputs, model, tmp, args.frames)
                    runs.append({"case": case, "code": name, "repeat": repeat, **r})
                    print(f"{case:<6s} {name:<9s} {r['seconds']:8.2f} s  python {r['python_peak_mb']:7.0f} MB  "
                          f"ffmpeg {r['child_peak_mb']:6.0f} MB  {r.get('status', '')} "
                          f"{r.get('detected', '')}/{r.get('frames', '')}", flush=True)
    summary: dict = {}
    for case in args.cases:
        for name in codes:
            mine = sorted(r["seconds"] for r in runs if r["case"] == case and r["code"] == name)
            mine_runs = [r for r in runs if r["case"] == case and r["code"] == name]
            summary.setdefault(case, {})[name] = {
                "seconds_median": mine[len(mine) // 2],
                "python_peak_mb": max(r["python_peak_mb"] for r in mine_runs),
                "ffmpeg_peak_mb": max(r["child_peak_mb"] for r in mine_runs)}
    print("\ncase    " + "".join(f"{n + ' (s, python MB, ffmpeg MB)':>36s}" for n in codes))
    for case, by_code in summary.items():
        cells = "".join(f"{v['seconds_median']:>18.2f} {v['python_peak_mb']:>8.0f} {v['ffmpeg_peak_mb']:>8.0f}"
                        for v in by_code.values())
        print(f"{case:<8s}{cells}")
    record = {
        "command": "uv run python bench/predict_cost.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_1min": round(os.getloadavg()[0], 2)},
        "baseline": args.baseline, "model": str(model), "frames": args.frames, "cases": {c: CASES[c] for c in
                                                                                        args.cases},
        "targets": TARGETS, "summary": summary, "runs": runs, "seconds_total": round(time.perf_counter() - started, 1),
        "units": "seconds: the predict process from start to exit (imports included); peak: max resident memory of "
                 "the Python process or of its largest child (ffmpeg), MB",
    }
    save_run(args.out, args.label, record)
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
