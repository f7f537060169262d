"""Cross-dataset evaluation cost per video, beside today's FF++ extraction, and the hours for real test sets.

    uv run python bench/cross.py                                   # 720p and 1080p, 300-frame clips, 3 repeats
    uv run python bench/cross.py --sizes 360p --frames 24 --repeats 1 --out /tmp/cross.json   # a quick check

For each size, one synthetic clip (tests/video_factory.py: a real face over a panning background, raw = libx264rgb
crf 0, c23/c40 compressed from it; ``--frames`` frames at 30 fps, the face 40 % of the height) and, single process,
after one untimed warm-up, the median over ``--repeats`` of:

* ``cross_as_is``: :func:`add.evaluation.cross_faces.find_faces` on the c23 file (what a Celeb-DF/DFDC video is
  like): probe,
  decode 32 evenly sampled frames, dlib with the default card settings, crops at 96 px — the cross stage's
  per-video work before the model (its result is cached, so it is paid once per face settings, not per model);
* ``cross_c40``: the same after re-encoding the file with FF++'s c40 setting (libx264 -crf 40, single thread);
* ``ffpp_extract``: today's FF++ extraction of one original (:func:`add.data.extract.per_video.extract_video`, 64
  frames x raw/c23/c40, the stage defaults), for comparison.

CPU seconds = user + sys of this process and its ffmpeg children (``getrusage``), steadier than wall time on a
shared machine; wall seconds are reported too. Model scoring is not included (a forward of 32 crops per model,
see bench/predict.py). Extrapolation to a 16-core host, ``videos x CPU-s / 16``, no I/O limits: Celeb-DF v2 test
(518 videos, mostly ~13 s; the 720p figure, scaled by length) and DFDC public test (5 000 videos of 10 s at
1080p; the 1080p figure; with several faces a frame, ``faces: all`` crops more but detects the same), as-is and
as-is + c40. Writes JSON to ``--out`` (default bench/results/cross.json).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from video_factory import make_video  # noqa: E402

from add.core.io import atomic_write_json  # noqa: E402
from add.data.datasets.records import record  # noqa: E402
from add.data.extract.config import ExtractConfig  # noqa: E402
from add.data.extract.jobs import VideoJob  # noqa: E402
from add.data.extract.per_video import extract_video  # noqa: E402
from add.data.faces import FaceSettings  # noqa: E402
from add.evaluation.cross_faces import FaceKey, find_faces  # noqa: E402

SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}
FPS = 30
DATASETS = {  # name: (videos, seconds per video, the size whose figure applies)
    "celebdf_v2_test": (518, 13.0, "720p"),
    "dfdc_public_test": (5000, 10.0, "1080p"),
}
HOST_CORES = 16


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(fn, repeats: int) -> dict[str, float]:
    fn()  # warm-up: dlib's model, ffmpeg's first start
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = cpu_seconds(), time.perf_counter()
        fn()
        cpu.append(cpu_seconds() - c)
        wall.append(time.perf_counter() - w)
    return {"cpu_s": round(statistics.median(cpu), 3), "wall_s": round(statistics.median(wall), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["720p", "1080p"], choices=list(SIZES))
    parser.add_argument("--frames", type=int, default=300, help="frames per clip (30 fps)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("bench/results/cross.json"))
    args = parser.parse_args(argv)
    results: dict = {"frames": args.frames, "fps": FPS, "repeats": args.repeats, "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        for size in args.sizes:
            width, height = SIZES[size]
            paths = make_video(work / size, "000", args.frames, width=width, height=height, face="astronaut",
                               face_size=int(0.4 * height), seed=0, fps=FPS)
            c23 = record(work / size, "c23/000.mp4", 0)
            figures = {}
            for compression in ("as_is", "c40"):
                key = FaceKey(FaceSettings(), 96, 32, compression)
                faces = find_faces(c23, key)
                if faces.status != "ok":
                    raise SystemExit(f"{size}: no face found in the benchmark clip ({faces.status} {faces.error})")
                figures[f"cross_{compression}"] = measure(lambda key=key, c23=c23: find_faces(c23, key), args.repeats)
            cfg = ExtractConfig.from_params({"data": {"jobs": 1}})
            job = VideoJob(0, "train", "original", "000", 0, paths, str(work / size / "faces" / "000.tar"),
                           str(work / size / "faces" / "000.decisions.json"))
            figures["ffpp_extract"] = measure(lambda job=job, cfg=cfg: extract_video(job, cfg), args.repeats)
            results["sizes"][size] = figures
            print(f"{size} ({width}x{height}, {args.frames} frames): " + ", ".join(
                f"{k} {v['cpu_s']:.2f} CPU-s ({v['wall_s']:.2f} s wall)" for k, v in figures.items()))
    seconds = args.frames / FPS
    results["extrapolated_hours_16_cores"] = {}
    for name, (videos, length, size) in DATASETS.items():
        if size not in results["sizes"]:
            continue
        scale = length / seconds  # decoding the sampled frames grows with the file's length; detection does not
        figures = results["sizes"][size]
        as_is = videos * figures["cross_as_is"]["cpu_s"] * scale / HOST_CORES / 3600
        c40 = videos * figures["cross_c40"]["cpu_s"] * scale / HOST_CORES / 3600
        results["extrapolated_hours_16_cores"][name] = {"videos": videos, "as_is": round(as_is, 3),
                                                        "as_is_and_c40": round(as_is + c40, 3)}
        print(f"{name}: {videos} videos at {size}: as_is {as_is:.2f} h, as_is + c40 {as_is + c40:.2f} h "
              f"on {HOST_CORES} cores (upper bound: scaled by length as if decoding were all of it)")
    atomic_write_json(args.out, results)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
