"""Costs of training on your own data: the twin encoding per video and the scaling of ``add extract --part i/N``.

    uv run python bench/own_data.py                       # demo-sized videos (854x480, 32 frames), ~5-10 min
    uv run python bench/own_data.py --pairs 1 1 1 --frames 8 --width 320 --height 240   # a quick check

1. **Twins**: every original of a demo tree (as a list source gives it, the best quality) is re-encoded to c23 and
   c40 (:func:`add.data.twins.make_twin`: FF++'s libx264 settings, then the frame-alignment check); seconds per
   video for both twins, and for a rerun where the cache is current.
2. **Parts**: the same extraction (raw + c23 + c40 crops, ``data.jobs: 1`` per process) first as one part
   (``--part 0/1``, one process), then as three parts at once (``--part i/3``, three processes on one machine, one
   folder); wall time and videos per hour for each, and their ratio. On N machines each part gets a machine; here the
   three share this machine's cores, so the ratio is bounded by the free cores.

Writes ``bench/results/own_data.json``. Run it alone on the machine: other jobs change both figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from add.core.determinism import usable_cpus  # noqa: E402
from add.core.layout import ORIGINAL  # noqa: E402
from add.data import videos as sources  # noqa: E402
from add.data.demo.build import build_demo  # noqa: E402
from add.data.ffpp import video_path  # noqa: E402
from add.data.twins import make_twin, twin_path  # noqa: E402


def extract_parts(work: Path, params: Path, videos: Path, parts: int) -> float:
    """Wall seconds of ``parts`` processes running ``add extract --part i/parts`` at once into a fresh folder."""
    out = work / f"faces-{parts}"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    runs = [subprocess.Popen([sys.executable, "-m", "add.cli", "extract", "--params", str(params), "--videos",
                              str(videos), "--out-dir", str(out), "--part", f"{i}/{parts}"], cwd=work,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(parts)]
    for run in runs:
        _, err = run.communicate()
        if run.returncode != 0:
            raise SystemExit(f"extract part failed: {err[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, nargs=3, default=[3, 1, 1], help="demo id pairs in train/val/test")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--width", type=int, default=854)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--per-video", type=int, default=16, help="data.frames_per_video")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "own_data.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="own-data-") as tmp:
        work = Path(tmp)
        tree = build_demo(work / "tree", seed=0, pairs=args.pairs, frames=args.frames, width=args.width,
                          height=args.height, fps=25, methods=("Deepfakes",), jobs=0, progress=False)
        originals = sorted(p.stem for p in (tree / "original_sequences/youtube/raw/videos").glob("*.mp4"))

        start = time.perf_counter()
        for name in originals:
            for quality in ("c23", "c40"):
                make_twin(video_path(tree, ORIGINAL, "raw", name), twin_path(work / "twins", quality, name), quality)
        twins_s = (time.perf_counter() - start) / len(originals)
        start = time.perf_counter()
        for name in originals:
            for quality in ("c23", "c40"):
                assert not make_twin(video_path(tree, ORIGINAL, "raw", name),
                                     twin_path(work / "twins", quality, name), quality)
        cached_s = (time.perf_counter() - start) / len(originals)

        params = {"seed": 0, "data": {"source": "ffpp", "root": str(tree), "methods": ["Deepfakes"],
                                      "qualities": ["raw", "c23", "c40"], "frames_per_video": args.per_video,
                                      "image_size": 128, "jobs": 1}}
        params_path = work / "params.yaml"
        params_path.write_text(yaml.safe_dump(params))
        sources.run(params, work / "videos.parquet", work / "demo", work / "empty-twins")
        n_videos = len(originals) * 2  # originals and as many fakes
        one = extract_parts(work, params_path, work / "videos.parquet", 1)
        three = extract_parts(work, params_path, work / "videos.parquet", 3)

    result = {
        "machine": {"cpus": usable_cpus(), "platform": platform.platform()},
        "video": {"width": args.width, "height": args.height, "frames": args.frames},
        "twins": {"videos": len(originals), "seconds_per_video_c23_and_c40": round(twins_s, 3),
                  "seconds_per_video_cached": round(cached_s, 3)},
        "parts": {"videos": n_videos, "frames_per_video": args.per_video,
                  "one_part_s": round(one, 2), "three_parts_s": round(three, 2),
                  "one_part_videos_per_hour": round(n_videos / one * 3600),
                  "three_parts_videos_per_hour": round(n_videos / three * 3600),
                  "speedup": round(one / three, 2)},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
