"""Stage ``shards``: pack the per-video face tars into shuffled WebDataset shards, one dataset per (method, split).

    add shards                       # params.yaml: seed, shards.max_samples_per_shard

The dataset of method M, split s is M's fakes in s plus the originals of the same ids: an original is included
when its id is the target (``a`` of ``a_b``) of one of M's fake videos that the manifest lists for s, whatever
became of that fake's frames. Only frames the manifest kept (``ok`` / ``fallback``) become samples.

One sample: key ``{method}_{video}_{frame:04d}``, the PNG bytes of every quality copied verbatim from the
per-video tar (lossless, never re-encoded), ``cls`` (``b"0"`` real, ``b"1"`` fake) and ``json`` (the manifest's
metadata). Samples are shuffled by the seed, then written to ``{out}/{method}/{split}-{n:05d}.tar`` with at most
``shards.max_samples_per_shard`` each; tar members carry mtime 0, uid/gid 0 and a fixed order, so a rerun is
byte-identical (and DVC reruns nothing downstream). ``{out}/index.json`` lists per dataset its shards with their
sample count, size and sha256 (the loader checks them before training or evaluation reads a shard).

Memory: only the list of manifest row numbers is shuffled; per dataset, every per-video tar it needs is indexed
once (member name -> data offset and size, read from the tar headers without loading data), then samples are
written in the shuffled order by reading just their members at those offsets. RAM holds one dataset's offsets
(~40 MB for FF++ train: 1440 videos x 64 frames) and one sample's bytes, never a whole video or shard.

The whole output is built in a temp folder beside ``out_dir`` and swapped in at the end, so an interrupted run
leaves the previous shards untouched. ``out_dir`` is the only folder the stage deletes: it refuses (naming both
paths) when the face folder, the manifest or, for FF++, ``data.root`` lies inside it or contains it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import struct
import sys
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import webdataset as wds
from tqdm import tqdm

from add.core.args import stage_parser
from add.core.errors import AddError
from add.core.io import HashingWriter, atomic_write, atomic_write_json, make_temp_dir, refuse_overlap, replace_tree
from add.core.layout import (
    FACES,
    INDEX,
    LIST_METHOD,
    MANIFEST,
    MANIFEST_COLUMNS,
    METHOD_CHOICES,
    ORIGINAL,
    QUALITIES,
    SHARDS,
    SPLITS,
)
from add.core.params import Params, as_params, load_params
from add.data.ffpp import VIDEO_RE, video_target
from add.data.seeds import rng_for

REQUIRED_COLUMNS = tuple(c for c in MANIFEST_COLUMNS if c != "reason")  # "reason" only explains a dropped frame
KEPT_STATUSES = ("ok", "fallback")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# How to repair a damaged face tar: extraction redoes a video whose tar differs from what its sidecar recorded.
REDO_FACES = "rerun the extract stage (`add extract`, or `dvc repro -f extract`) to extract it again"


class ShardsError(AddError):
    """The face tars or the manifest are missing, unreadable or inconsistent; the message names the file."""


@dataclass(frozen=True)
class ShardsConfig:
    seed: int
    max_samples_per_shard: int

    @classmethod
    def from_params(cls, params: Params | dict) -> ShardsConfig:
        params = as_params(params)
        return cls(seed=params.seed, max_samples_per_shard=params.shards.max_samples_per_shard)


# ----------------------------------------------------------------------------------------------- the manifest


def read_manifest(path: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The manifest's kept frames (status ok / fallback) in a fixed order, and its (split, method, video) list."""
    path = Path(path)
    if not path.is_file():
        raise ShardsError(f"{path}: manifest not found (run the extract stage first)")
    try:
        table = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for a corrupt file
        raise ShardsError(f"{path}: cannot read the manifest: {e}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ShardsError(f"{path}: manifest lacks column(s) {missing}")
    kept = table[table["status"].isin(KEPT_STATUSES)].copy()
    if kept["frame"].isna().any() or (kept["frame"] < 0).any():
        raise ShardsError(f"{path}: a kept row (status ok/fallback) has no valid frame index")
    kept["frame"] = kept["frame"].astype("int64")
    kept["label"] = kept["label"].astype("int64")
    for column in ("split", "method", "video"):
        kept[column] = kept[column].astype(str)
        table[column] = table[column].astype(str)
    bad_split = sorted(set(table["split"]) - set(SPLITS))
    if bad_split:
        raise ShardsError(f"{path}: unknown split(s) {bad_split}; expected {list(SPLITS)}")
    bad_method = sorted(set(table["method"]) - {ORIGINAL, *METHOD_CHOICES})
    if bad_method:
        raise ShardsError(f"{path}: unknown method(s) {bad_method}; expected {[ORIGINAL, *METHOD_CHOICES]}")
    for method, video in table[["method", "video"]].drop_duplicates().itertuples(index=False):
        match = VIDEO_RE.fullmatch(video)
        if not match or (match["source"] is None) != (method == ORIGINAL):
            kind = "an FF++ id like '000'" if method == ORIGINAL else "a fake name like '000_003'"
            raise ShardsError(f"{path}: {method} video name {video!r} is not {kind}")
    wrong_label = kept[kept["label"] != (kept["method"] != ORIGINAL).astype("int64")]
    if len(wrong_label):
        row = wrong_label.iloc[0]
        raise ShardsError(f"{path}: {row['method']}/{row['video']} frame {row['frame']} has label {row['label']}; "
                          f"originals are 0 and fakes 1")
    duplicated = kept.duplicated(["split", "method", "video", "frame"])
    if duplicated.any():
        row = kept[duplicated].iloc[0]
        raise ShardsError(f"{path}: frame {row['frame']} of {row['method']}/{row['video']} is listed twice")
    order = {s: i for i, s in enumerate(SPLITS)}
    kept = kept.sort_values(["split", "method", "video", "frame"],
                            key=lambda c: c.map(order) if c.name == "split" else c)
    videos = table[["split", "method", "video"]].drop_duplicates().reset_index(drop=True)
    return kept.reset_index(drop=True), videos


def dataset_rows(kept: pd.DataFrame, videos: pd.DataFrame, method: str, split: str, manifest: Path) -> np.ndarray:
    """Row numbers of ``kept`` forming the dataset (method, split): its fakes + the originals of their targets."""
    in_split = videos[videos["split"] == split]
    if method == LIST_METHOD:  # a list source: its fakes and every real of the split (no FF++ pairing)
        mask = (kept["split"] == split) & kept["method"].isin([method, ORIGINAL])
        return np.flatnonzero(mask.to_numpy())
    fake_videos = in_split[in_split["method"] == method]["video"]
    targets = {video_target(v) for v in fake_videos}
    known_originals = set(in_split[in_split["method"] == ORIGINAL]["video"])
    absent = sorted(targets - known_originals)
    if absent:
        raise ShardsError(f"{manifest}: {method} fakes in {split} target original(s) {absent[:5]} that the manifest "
                          f"does not list in {split} ({len(absent)} missing)")
    mask = (kept["split"] == split) & ((kept["method"] == method) |
                                       ((kept["method"] == ORIGINAL) & kept["video"].isin(targets)))
    return np.flatnonzero(mask.to_numpy())


# ------------------------------------------------------------------------------------------- per-video tars


@dataclass
class VideoTar:
    """Where each kept frame's PNGs sit inside one per-video tar (offsets from the tar headers)."""

    path: Path
    members: dict[str, tuple[int, int]]  # member name -> (data offset, size)


def index_video_tar(path: Path) -> VideoTar:
    if not path.is_file():
        raise ShardsError(f"{path}: per-video face tar is missing; {REDO_FACES}")
    size = path.stat().st_size
    members = {}
    try:
        with tarfile.open(path, "r:") as tar:
            for info in tar:
                if info.isreg():
                    members[info.name] = (info.offset_data, info.size)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ShardsError(f"{path}: unreadable face tar: {e}; {REDO_FACES}") from None
    for name, (offset, length) in members.items():
        if offset + length > size:
            raise ShardsError(f"{path}: truncated face tar: member {name} ends at byte {offset + length} "
                              f"but the file has {size}; {REDO_FACES}")
    return VideoTar(path, members)


def png_size(data: bytes, where: str) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, checking the signature (no decoding)."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ShardsError(f"{where}: not a PNG image")
    return struct.unpack(">II", data[16:24])


def read_member(tar: VideoTar, name: str, handle) -> bytes:
    if name not in tar.members:
        raise ShardsError(f"{tar.path}: member {name} is missing (the manifest keeps this frame); {REDO_FACES}")
    offset, length = tar.members[name]
    handle.seek(offset)
    data = handle.read(length)
    if len(data) != length:
        raise ShardsError(f"{tar.path}: truncated face tar: member {name} has {len(data)} of {length} bytes; "
                          f"{REDO_FACES}")
    return data


def frame_qualities(tar: VideoTar, frame: int) -> list[str]:
    """Qualities stored for a frame, in the canonical order raw, c23, c40."""
    return [q for q in QUALITIES if f"{frame:04d}.{q}.png" in tar.members]


# ---------------------------------------------------------------------------------------------------- writing


def sample_key(method: str, video: str, frame: int) -> str:
    return f"{method}_{video}_{frame:04d}"


def sample_meta(row) -> bytes:
    def number(value):
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return None
        return value.item() if hasattr(value, "item") else value

    meta = {
        "split": row.split, "method": row.method, "video": row.video, "frame": int(row.frame),
        "label": int(row.label), "box": [number(row.x0), number(row.y0), number(row.x1), number(row.y1)],
        "score": number(row.score), "status": row.status,
    }
    return json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("utf-8")


def shard_sizes(count: int, max_samples: int) -> list[int]:
    """Full shards of ``max_samples``, then the rest."""
    return [min(max_samples, count - start) for start in range(0, count, max_samples)]


def write_dataset(kept: pd.DataFrame, rows: np.ndarray, faces: Path, out_dir: Path, method: str, split: str,
                  max_samples: int, layout_info: dict, progress: tqdm) -> dict:
    """Write the shards of one dataset in the order of ``rows``; return its index entry."""
    videos = sorted({(m, v) for m, v in zip(kept["method"].to_numpy()[rows], kept["video"].to_numpy()[rows],
                                             strict=True)})
    tars = {}
    for m, v in videos:
        tars[(m, v)] = index_video_tar(faces / m / f"{v}.tar")
    shards, start = [], 0
    counts = {"real": 0, "fake": 0}
    for n, size in enumerate(shard_sizes(len(rows), max_samples)):
        rel = f"{method}/{split}-{n:05d}.tar"
        with atomic_write(out_dir / rel) as stream:
            stream = HashingWriter(stream)
            # USTAR, mtime 0, uid/gid 0, fixed names and mode: byte-identical on a rerun. TarWriter writes a
            # sample's members in sorted extension order (c23.png, c40.png, cls, json, raw.png).
            with wds.TarWriter(stream, user="", group="", mode=0o444, mtime=0, encoder=False) as writer:
                for row in kept.iloc[rows[start:start + size]].itertuples(index=False):
                    writer.write(build_sample(row, tars[(row.method, row.video)], layout_info))
                    counts["fake" if row.label else "real"] += 1
                    progress.update(1)
        shards.append({"path": rel, "count": size, **stream.record()})
        start += size
    return {"shards": shards, "count": len(rows), **counts}


def build_sample(row, tar: VideoTar, layout_info: dict) -> dict:
    frame = int(row.frame)
    qualities = layout_info.get("qualities")
    if qualities is None:
        qualities = layout_info["qualities"] = frame_qualities(tar, frame)
        if not qualities:
            raise ShardsError(f"{tar.path}: no {frame:04d}.{{raw,c23,c40}}.png member (the manifest keeps this "
                              f"frame)")
    sample = {"__key__": sample_key(row.method, row.video, frame), "cls": b"1" if row.label else b"0",
              "json": sample_meta(row)}
    with open(tar.path, "rb") as handle:
        for quality in qualities:
            name = f"{frame:04d}.{quality}.png"
            data = read_member(tar, name, handle)
            size = png_size(data, f"{tar.path}: {name}")
            expected = layout_info.setdefault("size", size)
            if size != expected or size[0] != size[1]:
                raise ShardsError(f"{tar.path}: {name} is {size[0]}x{size[1]}, other crops are "
                                  f"{expected[0]}x{expected[1]} (crops must be square and all the same size)")
            sample[f"{quality}.png"] = data
    return sample


# ------------------------------------------------------------------------------------------------------ stage


def settings(params: Params | dict) -> tuple[ShardsConfig, Path | None]:
    """What the stage reads: ``seed``, ``shards.*`` and, for FF++, ``data.root`` (never written into)."""
    params = as_params(params)
    cfg = ShardsConfig.from_params(params)
    return cfg, Path(params.data.root) if params.data.source == "ffpp" else None


def run(params: Params | dict, faces: str | os.PathLike = FACES, manifest: str | os.PathLike = MANIFEST,
        out_dir: str | os.PathLike = SHARDS) -> dict:
    """Build ``out_dir`` (shards + index.json) from the face tars and the manifest; return the index."""
    cfg, data_root = settings(params)
    faces, manifest, out_dir = Path(faces), Path(manifest), Path(out_dir)
    if not faces.is_dir():
        raise ShardsError(f"{faces}: face tar folder not found (run the extract stage first)")
    refuse_overlap(out_dir, faces, output_what="the shard folder", other_what="the face folder")
    refuse_overlap(out_dir, manifest, output_what="the shard folder", other_what="the manifest")
    if data_root is not None:
        refuse_overlap(out_dir, data_root, output_what="the shard folder", other_what="data.root")
    kept, videos = read_manifest(manifest)
    methods = sorted(set(videos["method"]) - {ORIGINAL}, key=METHOD_CHOICES.index)
    if not methods:
        raise ShardsError(f"{manifest}: no fake videos listed (no method to build a dataset for)")
    plans = {}
    for method in methods:
        for split in SPLITS:
            rows = dataset_rows(kept, videos, method, split, manifest)
            rng = rng_for(cfg.seed, f"{method}/{split}")  # an independent, stable shuffle per dataset
            plans[(method, split)] = rows[rng.permutation(len(rows))]

    staging = make_temp_dir(out_dir)
    try:
        layout_info: dict = {}
        datasets: dict = {}
        total = sum(len(rows) for rows in plans.values())
        with tqdm(total=total, desc="shards", unit="sample") as progress:
            for (method, split), rows in plans.items():
                progress.set_postfix_str(f"{method}/{split}")
                entry = write_dataset(kept, rows, faces, staging, method, split, cfg.max_samples_per_shard,
                                      layout_info, progress)
                datasets.setdefault(method, {})[split] = entry
        index = {
            "image_size": layout_info["size"][0] if "size" in layout_info else None,
            "qualities": layout_info.get("qualities", []),
            "seed": cfg.seed,
            "datasets": datasets,
        }
        atomic_write_json(staging / INDEX, index)
        replace_tree(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return index


def summary(index: dict) -> Iterable[str]:
    yield f"shards: {index['image_size']} px, qualities {index['qualities']}"
    for method, by_split in index["datasets"].items():
        for split, entry in by_split.items():
            yield (f"  {method:15s} {split:5s} {entry['count']:7d} samples ({entry['real']} real, "
                   f"{entry['fake']} fake) in {len(entry['shards'])} shard(s)")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add shards", __doc__)
    parser.add_argument("--faces", default=FACES, help="folder of per-video face tars")
    parser.add_argument("--manifest", default=MANIFEST)
    parser.add_argument("--out", default=SHARDS, help="output folder (shards + index.json)")
    args = parser.parse_args(argv)
    index = run(load_params(args.params), args.faces, args.manifest, args.out)
    with contextlib.suppress(BrokenPipeError):
        print("\n".join(summary(index)), file=sys.stdout)
    return 0
