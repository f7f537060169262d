"""Per-video extraction time: 64 frames x raw/c23/c40 of an 854x480 clip, and where the time goes.

    uv run python bench/extract_time.py                  # 256-frame clip, 64 sampled frames, 3 repeats
    uv run python bench/extract_time.py --frames 300 --repeats 5 --workdir /tmp/bench

Builds one synthetic clip with the test factory (tests/video_factory.py: a real face over a panning background,
raw = libx264rgb crf 0, c23/c40 compressed from it), then times, single-process, after one warm-up:

* ``extract_video``: the whole per-video work of the stage for an original (hash the inputs for the resume
  fingerprint, in a thread; probe the three files; decode the 64 sampled frames of raw, c23 and c40 in three
  concurrent ffmpeg passes while dlib runs on raw; crop; PNG, in a thread; tar; sidecar) — bench/extraction.py
  compares it, and the fakes that reuse an original's boxes, with the naive way and the floor;
* its parts: probing, decoding the 64 frames of each quality alone (one ffmpeg ``select`` pass each), and dlib on
  the 64 raw frames at several working resolutions / upsampling factors, with their detection rate and the IoU of
  their boxes with the full-resolution upsample-1 boxes (the most sensitive setting).

Reports medians over the repeats. CPU contention from other processes inflates every figure alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from video_factory import make_video  # noqa: E402

from add.data.extract.config import ExtractConfig  # noqa: E402
from add.data.extract.jobs import VideoJob  # noqa: E402
from add.data.extract.per_video import extract_video  # noqa: E402
from add.data.extract.sidecar import fingerprint  # noqa: E402
from add.data.faces import FaceDetector  # noqa: E402
from add.data.sampling import sample_indices  # noqa: E402
from add.data.video_io import probe, read_frames  # noqa: E402


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def iou(a, b) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    return ix * iy / (a.area + b.area - ix * iy)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=256, help="frames in the clip")
    parser.add_argument("--width", type=int, default=854)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--per-video", type=int, default=64, help="data.frames_per_video")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="where to write the clip (default: a temp dir)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        start = time.perf_counter()
        paths = make_video(work / "src", "000", args.frames, width=args.width, height=args.height,
                           face="astronaut", face_size=int(0.4 * args.height), seed=0)
        print(f"clip: {args.width}x{args.height}, {args.frames} frames, made in {time.perf_counter() - start:.1f} s; "
              + ", ".join(f"{q} {Path(p).stat().st_size / 1e6:.1f} MB" for q, p in paths.items()))

        cfg = ExtractConfig.from_params({"data": {"frames_per_video": args.per_video, "jobs": 1}})
        job = VideoJob(0, "train", "original", "000", 0, paths, str(work / "faces" / "original" / "000.tar"),
                       str(work / "faces" / "original" / "000.decisions.json"))
        result = extract_video(job, cfg)  # warm-up (and a check that the video is kept)
        statuses = [d["status"] for d in result.decisions]
        print(f"decisions: {len(statuses)} frames, {statuses.count('ok')} ok, {statuses.count('fallback')} fallback, "
              f"{statuses.count('dropped_video')} dropped")

        total = median_time(lambda: extract_video(job, cfg), args.repeats)
        print(f"\nextract_video (whole per-video work, defaults): {total:.2f} s per video "
              f"({args.per_video} frames x {len(paths)} qualities)")

        info = probe(paths["raw"])
        indices = sample_indices(info.frames, args.per_video)
        parts = {
            "sha256 of the 3 inputs (resume fingerprint)": lambda: fingerprint(job, cfg),
            "probe x3": lambda: [probe(p) for p in paths.values()],
        }
        for q, p in paths.items():
            parts[f"decode {len(indices)} frames of {q} (one select pass)"] = (
                lambda p=p: sum(1 for _ in read_frames(p, indices, info)))
        for name, fn in parts.items():
            print(f"  {name:<48s} {median_time(fn, args.repeats):6.3f} s")

        frames = [f.copy() for _, f in read_frames(paths["raw"], indices, info)]
        print(f"\ndlib on {len(frames)} raw frames (threshold {cfg.faces.threshold}); IoU vs full-res upsample 1:")
        reference = None
        for label, upsample, max_side in [("full res, upsample 1", 1, 0), ("full res, upsample 0", 0, 0),
                                          ("max side 640, upsample 0 (default)", 0, 640),
                                          ("max side 427, upsample 1", 1, 427), ("max side 427, upsample 0", 0, 427)]:
            det = FaceDetector(cfg.faces.threshold, upsample, max_side)
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                found = [det(f) for f in frames]
                times.append(time.perf_counter() - start)
            reference = reference or found
            ious = [iou(a[0], b[0]) for a, b in zip(found, reference, strict=True) if a and b]
            print(f"  {label:<36s} {1000 * statistics.median(times) / len(frames):6.1f} ms/frame  "
                  f"found {sum(map(bool, found))}/{len(frames)}  "
                  f"IoU median {statistics.median(ious) if ious else float('nan'):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
