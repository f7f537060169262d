"""Throughput of the shard loader (triplets/s) on synthetic shards built by the real shards stage.

Per-video face tars are made from ``skimage.data.astronaut()``: jittered 128 px face crops (raw), and the same crop
through JPEG at quality 75 / 30 for c23 / c40, all stored as PNG as the extract stage does, so PNG sizes and
decode costs are close to real face crops. The script then times the shards stage and one pass of
``make_loader(train=True)``.

    uv run python bench/loader_throughput.py --workers 1 --batch 144 --size 128 --qualities raw c40
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import tarfile
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from skimage.data import astronaut

from add.data import shards
from add.data.loader import make_loader
from add.layout import MANIFEST_COLUMNS

QUALITY_JPEG = {"c23": 75, "c40": 30}


def crop(rng: np.random.Generator, face: np.ndarray, size: int) -> np.ndarray:
    side = int(rng.integers(170, 230))
    y, x = int(rng.integers(10, 40)), int(rng.integers(140, 170))
    return cv2.resize(face[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)


def png(bgr: np.ndarray) -> bytes:
    return cv2.imencode(".png", bgr)[1].tobytes()


def build_faces(root: Path, pairs: int, frames: int, size: int, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    face = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    rows = []
    ids = [f"{i:03d}" for i in range(2 * pairs)]
    videos = [("original", v) for v in ids]
    videos += [("Deepfakes", f"{a}_{b}") for i in range(pairs) for a, b in ((ids[2 * i], ids[2 * i + 1]),
                                                                         (ids[2 * i + 1], ids[2 * i]))]
    for method, video in videos:
        path = root / "faces" / method / f"{video}.tar"
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
            members = {}
            for frame in range(frames):
                raw = crop(rng, face, size)
                members[f"{frame:04d}.raw.png"] = png(raw)
                for quality, jpeg_quality in QUALITY_JPEG.items():
                    jpeg = cv2.imencode(".jpg", raw, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])[1]
                    members[f"{frame:04d}.{quality}.png"] = png(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))
                members[f"{frame:04d}.json"] = json.dumps({"box": [0, 0, size, size], "score": 1.0,
                                                          "status": "ok"}).encode()
                rows.append(["train", method, video, frame, int(method != "original"), 0, 0, size, size, 1.0, "ok",
                             ""])
            for name in sorted(members):
                info = tarfile.TarInfo(name)
                info.size = len(members[name])
                tar.addfile(info, io.BytesIO(members[name]))
    manifest = root / "manifest.parquet"
    pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).to_parquet(manifest, index=False)
    return root / "faces", manifest


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children: a figure that a busy machine distorts less than wall time."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=16, help="id pairs: 4 videos each (2 real, 2 fake)")
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=144)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--qualities", nargs="+", default=["raw", "c40"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--dir", default=None, help="work folder (default: a temp folder)")
    parser.add_argument("--reuse", action="store_true", help="reuse the shards already in --dir")
    args = parser.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="loader-bench-"))

    if args.reuse and (root / "shards" / "index.json").is_file():
        print(f"reusing the shards in {root / 'shards'}")
    else:
        t0 = time.perf_counter()
        faces, manifest = build_faces(root, args.pairs, args.frames, args.size)
        t1 = time.perf_counter()
        index = shards.run({"seed": 0, "shards": {"max_samples_per_shard": 1000}}, faces, manifest, root / "shards")
        t2 = time.perf_counter()
        count = index["datasets"]["Deepfakes"]["train"]["count"]
        shard_bytes = sum(p.stat().st_size for p in (root / "shards").rglob("*.tar"))
        print(f"{count} triplets ({shard_bytes / count / 1024:.1f} KiB each with 3 PNGs) built in {t1 - t0:.1f} s; "
              f"shards stage {t2 - t1:.1f} s ({count / (t2 - t1):.0f} triplets/s)")

    loader = make_loader(root / "shards", "Deepfakes", "train", args.qualities, args.batch, train=True, seed=0,
                         num_workers=args.workers)
    for epoch in range(args.epochs):
        loader.set_epoch(epoch)
        cpu_start = cpu_seconds()
        start, seen, first = time.perf_counter(), 0, None
        for batch in loader:
            seen += len(batch["key"])
            first = first or time.perf_counter() - start
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds() - cpu_start  # this process + the (exited) DataLoader workers
        print(f"epoch {epoch}: {len(loader)} batches of {args.batch}, {seen} triplets in {elapsed:.2f} s "
              f"= {seen / elapsed:.0f} triplets/s wall, {seen / cpu:.0f} triplets per CPU-second "
              f"(workers={args.workers}, qualities={args.qualities}, {args.size} px; first batch after {first:.2f} s)")


if __name__ == "__main__":
    main()
