"""Streaming loader over the WebDataset shards of one (method, split), with an exact epoch length.

``make_loader`` returns an iterable of batches (dicts): one float32 ``B x 3 x S x S`` tensor in [-1, 1] per requested
quality, ``label`` (int64, 0 real / 1 fake), ``video`` (``"{method}/{video}"``) and ``key`` (the sample key). Only
the requested qualities' PNGs are read from the tars and decoded.

How samples are split, so that every rank and worker knows its exact share from ``index.json`` alone:
the dataset's shards, in an order, form one virtual stream of ``count`` samples (circular). Each consumer takes a
contiguous range of that stream, expressed as (shard, samples to skip, samples to take) segments, and reads it with
WebDataset's tar iterator.

- ``train=True``: per epoch, the shard order and a start offset in the stream are drawn from ``seed + epoch`` (the
  same on every rank, so every rank must pass the same seed). Rank ``r`` of ``W`` takes ``count // W`` samples,
  i.e. ``len = (count // W) // batch_size`` full batches, the same on every rank (DDP never waits on a rank that
  ran out). The rank's batches are dealt to its DataLoader workers as contiguous blocks; each worker shuffles its
  block through a seeded buffer (``shuffle_buffer`` samples) and flips each sample horizontally with p = 0.5, the
  same flip on all its qualities. The samples left over (``count % W``, then ``(count // W) % batch_size`` per
  rank) change every epoch with the offset, so none is left out for good.
  Shards are already shuffled by the writer, so contiguous blocks of them are random samples of the dataset.
- ``train=False``: every sample exactly once, no flip, in the order of the index (shard by shard); batches are dealt
  to workers as contiguous blocks (the DataLoader interleaves them, in a deterministic order); the last batch may
  be partial and ``len = ceil(count / batch_size)``. Evaluation ignores DDP: each rank reads the whole split.

Orders are deterministic given (seed, epoch, world size, num_workers); ``set_epoch`` (or ``epoch=``) changes them.

Before a loader is made, the method's shards are checked against ``index.json`` (:func:`verify_shards`), so a
truncated or damaged shard stops training or evaluation at start-up, naming the file and how to rebuild it, instead
of failing when an epoch reaches it.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from add.core.errors import AddError
from add.core.io import file_record, safe_join
from add.core.layout import INDEX

DEFAULT_SHUFFLE_BUFFER = 1000

# (shard path, samples to skip, samples to take)
Segment = tuple[str, int, int]
REBUILD = "rebuild the shards: `dvc repro -f shards` (or `add shards`)"
# Shards whose sha256 matched index.json in this process, with the (size, mtime_ns, inode, sha256) they had then:
# a loader is made per epoch and per validation, a shard is read through once.
_VERIFIED: dict[Path, tuple[int, int, int, str]] = {}


class LoaderError(AddError):
    """The shards or their index are missing, inconsistent with each other, or the request makes no sense."""


def load_index(shard_dir: str | os.PathLike) -> dict:
    path = Path(shard_dir) / INDEX
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LoaderError(f"{path}: shard index not found (run the shards stage first)") from None
    except (OSError, ValueError) as e:
        raise LoaderError(f"{path}: unreadable shard index: {e}") from None
    if not isinstance(index, dict) or not isinstance(index.get("datasets"), dict):
        raise LoaderError(f"{path}: not a shard index (no 'datasets' mapping)")
    return index


def verify_shards(shard_dir: str | os.PathLike, index: dict, method: str, split: str) -> None:
    """Check the shards of ``method`` against the index before anything reads them: the shards of every split must
    exist with the size the shards stage recorded (one stat each: a truncated file is found at start-up whichever
    split it is in), and those of ``split`` must have the recorded sha256 (read once per process while the file is
    unchanged). LoaderError names the file and how to recover."""
    shard_dir = Path(shard_dir)
    where = shard_dir / INDEX
    for name, entry in index["datasets"][method].items():
        try:
            items = [(str(item["path"]), item.get("size"), item.get("sha256")) for item in entry["shards"]]
        except (KeyError, TypeError, AttributeError) as e:
            raise LoaderError(f"{where}: malformed entry for {method}/{name}: {e!r}") from None
        for rel, size, digest in items:
            if not (isinstance(size, int) and not isinstance(size, bool) and isinstance(digest, str)):
                raise LoaderError(f"{where}: shard {rel} has no size and sha256 (an index written by an older "
                                  f"shards stage); {REBUILD}")
            try:
                path = safe_join(shard_dir, rel)
            except ValueError as e:
                raise LoaderError(f"{where}: {e}") from None
            try:
                st = path.stat()
            except OSError as e:
                raise LoaderError(f"{path}: shard listed in {where} cannot be read ({e.strerror}); "
                                  f"{REBUILD}") from None
            if st.st_size != size:
                raise LoaderError(f"{path}: {st.st_size} bytes, {where} says {size} (truncated or replaced after the "
                                  f"shards stage wrote it); {REBUILD}")
            if name != split:
                continue
            stamp = (st.st_size, st.st_mtime_ns, st.st_ino, digest)
            if _VERIFIED.get(path) == stamp:
                continue
            if file_record(path)["sha256"] != digest:
                raise LoaderError(f"{path}: its content does not match the sha256 that {where} records (damaged "
                                  f"after the shards stage wrote it); {REBUILD}")
            _VERIFIED[path] = stamp


def split_range(total: int, parts: int, part: int) -> tuple[int, int]:
    """The ``part``-th of ``parts`` contiguous, near-equal blocks of ``range(total)``."""
    return total * part // parts, total * (part + 1) // parts


def segments(shards: Sequence[tuple[str, int]], offset: int, start: int, stop: int) -> list[Segment]:
    """Positions ``[start, stop)`` of the circular stream of ``shards`` begun at ``offset``, as tar segments."""
    counts = [count for _, count in shards]
    total = sum(counts)
    ends = np.cumsum([0, *counts]).tolist()
    result, pos = [], start
    while pos < stop:
        at = (offset + pos) % total
        i = bisect.bisect_right(ends, at) - 1  # the last shard starting at or before ``at`` (skips empty ones)
        skip = at - ends[i]
        take = min(counts[i] - skip, stop - pos)
        result.append((shards[i][0], skip, take))
        pos += take
    return result


def _seed_int(*values: int) -> int:
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1, np.uint64)[0])


def _dist_rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class ShardStream(IterableDataset):
    """The batches of one rank for one epoch; inside a DataLoader worker, that worker's share of them."""

    def __init__(self, shard_dir: Path, shards: list[tuple[str, int]], qualities: list[str],
                 image_size: int, batch_size: int, *, train: bool, seed: int, epoch: int, rank: int,
                 world_size: int, shuffle_buffer: int):
        super().__init__()
        self.shard_dir, self.shards = shard_dir, shards
        self.qualities, self.image_size, self.batch_size = qualities, image_size, batch_size
        self.train, self.seed, self.epoch = train, seed, epoch
        self.rank, self.world_size, self.shuffle_buffer = rank, world_size, shuffle_buffer
        self.count = sum(count for _, count in shards)
        if train:
            self.rank_samples = self.count // world_size
            self.num_batches = self.rank_samples // batch_size
        else:
            self.rank_samples = self.count
            self.num_batches = math.ceil(self.count / batch_size)

    # ------------------------------------------------------------------------------------------------ planning

    def plan(self, worker: int, num_workers: int) -> list[Segment]:
        """The segments worker ``worker`` of ``num_workers`` reads this epoch."""
        first, last = split_range(self.num_batches, num_workers, worker)
        start, stop = first * self.batch_size, min(last * self.batch_size, self.rank_samples)
        if not self.train:
            return segments(self.shards, 0, start, stop)
        rng = np.random.default_rng([self.seed, self.epoch])
        order = [self.shards[i] for i in rng.permutation(len(self.shards))]
        offset = int(rng.integers(self.count))
        base = self.rank * self.rank_samples
        return segments(order, offset, base + start, base + stop)

    # ----------------------------------------------------------------------------------------------- iterating

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        samples = self.read(self.plan(worker, num_workers))
        flips = None
        if self.train:
            rng = random.Random(_seed_int(self.seed, self.epoch, self.rank, worker, num_workers))
            samples = wds.shuffle(self.shuffle_buffer, initial=self.shuffle_buffer, rng=rng)(samples)
            flips = random.Random(_seed_int(self.seed, self.epoch, self.rank, worker, num_workers, 1))
        batch = []
        for sample in samples:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate(batch, flips)
                batch = []
        if batch and not self.train:
            yield self.collate(batch, flips)

    def read(self, plan: list[Segment]) -> Iterator[dict]:
        wanted = {f"{q}.png" for q in self.qualities} | {"cls", "json"}

        def select(name: str) -> bool:
            return name.split(".", 1)[-1] in wanted

        for rel, skip, take in plan:
            path = safe_join(self.shard_dir, rel)
            stream = iter(wds.tarfile_samples([{"url": str(path)}], select_files=select))
            seen = 0
            while seen < skip + take:
                try:
                    sample = next(stream)
                except StopIteration:
                    raise LoaderError(f"{path}: has {seen} samples, {self.shard_dir / INDEX} says at least "
                                      f"{skip + take} (stale index? rerun the shards stage)") from None
                except Exception as e:
                    raise LoaderError(f"{path}: unreadable shard: {e}") from None
                if seen >= skip:
                    yield sample
                seen += 1
            stream.close()

    def collate(self, samples: list[dict], flips: random.Random | None) -> dict:
        size, n = self.image_size, len(samples)
        images = {q: np.empty((n, 3, size, size), np.uint8) for q in self.qualities}
        labels, videos, keys = [], [], []
        for i, sample in enumerate(samples):
            key, where = sample["__key__"], f"{sample.get('__url__')}: sample {sample['__key__']}"
            flip = flips is not None and flips.random() < 0.5
            for quality in self.qualities:
                image = decode_png(sample.get(f"{quality}.png"), size, f"{where}.{quality}.png")
                images[quality][i] = (image[:, ::-1] if flip else image).transpose(2, 0, 1)
            try:
                meta = json.loads(sample["json"])
                label = int(sample["cls"])
            except (KeyError, ValueError) as e:
                raise LoaderError(f"{where}: bad cls/json: {e}") from None
            labels.append(label)
            videos.append(f"{meta['method']}/{meta['video']}")
            keys.append(key)
        batch = {q: to_tensor(images[q]) for q in self.qualities}
        batch["label"] = torch.tensor(labels, dtype=torch.int64)
        batch["video"], batch["key"] = videos, keys
        return batch


def decode_png(data: bytes | None, size: int, where: str) -> np.ndarray:
    """An ``S x S x 3`` RGB uint8 array (a view)."""
    if data is None:
        raise LoaderError(f"{where}: missing from the shard")
    # BGR decode + a reversed view is faster than IMREAD_COLOR_RGB; the batch copy makes it contiguous anyway.
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise LoaderError(f"{where}: not a decodable image")
    if image.shape != (size, size, 3):
        raise LoaderError(f"{where}: is {image.shape[1]}x{image.shape[0]}, index.json says {size}x{size}")
    return image[:, :, ::-1]


# uint8 -> [-1, 1] in one table look-up pass (exactly -1 and 1 at 0 and 255; faster than convert, scale, shift)
_TO_UNIT = (np.arange(256, dtype=np.float64) / 127.5 - 1.0).astype(np.float32)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """``B x 3 x S x S`` uint8 -> float32 in [-1, 1]."""
    return torch.from_numpy(np.take(_TO_UNIT, images))


class ShardLoader:
    """Batches of one (method, split) for this rank: ``len()`` is exact; ``set_epoch`` reshuffles (train)."""

    def __init__(self, stream: ShardStream, num_workers: int, pin_memory: bool):
        self.stream, self.num_workers, self.pin_memory = stream, num_workers, pin_memory

    def __len__(self) -> int:
        return self.stream.num_batches

    @property
    def num_samples(self) -> int:
        """Samples yielded per epoch on this rank."""
        if self.stream.train:
            return self.stream.num_batches * self.stream.batch_size
        return self.stream.count

    @property
    def epoch(self) -> int:
        return self.stream.epoch

    def set_epoch(self, epoch: int) -> None:
        self.stream.epoch = int(epoch)

    def __iter__(self) -> Iterator[dict]:
        if self.num_workers == 0:
            return iter(self.stream)
        loader = DataLoader(self.stream, batch_size=None, num_workers=self.num_workers, pin_memory=self.pin_memory)
        return iter(loader)


def make_loader(shard_dir: str | os.PathLike, method: str, split: str, qualities: Sequence[str], batch_size: int,
                *, train: bool, seed: int, epoch: int = 0, num_workers: int = 0, rank: int | None = None,
                world_size: int | None = None, shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
                pin_memory: bool = False) -> ShardLoader:
    """A loader over ``{shard_dir}/{method}/{split}-*.tar`` (see the module docstring for the contract).

    ``rank``/``world_size`` default to torch.distributed's when it is initialised, else 0/1 (pass them to simulate
    DDP). They only matter for ``train=True``.
    """
    shard_dir = Path(shard_dir)
    index = load_index(shard_dir)
    where = shard_dir / INDEX
    datasets = index["datasets"]
    if method not in datasets or split not in datasets[method]:
        available = sorted(f"{m}/{s}" for m, by_split in datasets.items() for s in by_split)
        raise LoaderError(f"{where}: no dataset {method}/{split}; available: {available}")
    qualities = list(qualities)
    stored = index.get("qualities", [])
    bad = [q for q in qualities if q not in stored]
    if not qualities or bad or len(set(qualities)) != len(qualities):
        raise LoaderError(f"{where}: qualities must be distinct and among the stored {stored}, got {qualities}")
    for name, value, low in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0), ("seed", seed, 0),
                             ("epoch", epoch, 0), ("shuffle_buffer", shuffle_buffer, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise LoaderError(f"make_loader: {name} must be an integer >= {low}, got {value!r}")
    dist_rank, dist_world = _dist_rank_world()
    rank = dist_rank if rank is None else rank
    world_size = dist_world if world_size is None else world_size
    if not (isinstance(world_size, int) and world_size >= 1 and isinstance(rank, int) and 0 <= rank < world_size):
        raise LoaderError(f"make_loader: need 0 <= rank < world_size, got rank={rank!r}, world_size={world_size!r}")
    entry = datasets[method][split]
    try:
        shards = [(str(item["path"]), int(item["count"])) for item in entry["shards"]]
        total = int(entry["count"])
    except (KeyError, TypeError, ValueError) as e:
        raise LoaderError(f"{where}: malformed entry for {method}/{split}: {e!r}") from None
    for rel, _ in shards:
        try:
            safe_join(shard_dir, rel)
        except ValueError as e:
            raise LoaderError(f"{where}: {e}") from None
    if sum(count for _, count in shards) != total or any(count < 0 for _, count in shards):
        raise LoaderError(f"{where}: {method}/{split} shard counts do not add up to its count {total}")
    verify_shards(shard_dir, index, method, split)
    image_size = index.get("image_size")
    if not isinstance(image_size, int) or image_size < 1:
        if total:
            raise LoaderError(f"{where}: no valid image_size ({image_size!r})")
        image_size = 1
    stream = ShardStream(shard_dir, shards, qualities, image_size, batch_size, train=train,
                         seed=seed, epoch=epoch,
                         rank=rank if train else 0, world_size=world_size if train else 1,
                         shuffle_buffer=shuffle_buffer)
    if train and stream.num_batches == 0:
        raise LoaderError(f"{where}: {method}/{split} has {stream.count} samples, {stream.rank_samples} per rank "
                          f"for {world_size} rank(s): not one full batch of {batch_size}")
    return ShardLoader(stream, num_workers, pin_memory)


def batch_factories(shards: str | os.PathLike, method: str, qualities: list[str], cfg: Any
                    ) -> tuple[Callable[[int], ShardLoader], Callable[[], ShardLoader]]:
    """``(train_batches(epoch), val_batches())``: the training and validation loaders a trainer asks for, with the
    batch size, seed and worker count of ``cfg`` (an ``add.training.config.TrainConfig``)."""
    def train_batches(epoch: int):
        return make_loader(shards, method, "train", qualities, cfg.batch_size, train=True, seed=cfg.seed,
                           epoch=epoch, num_workers=cfg.num_workers)

    def val_batches():
        return make_loader(shards, method, "val", qualities, cfg.batch_size, train=False, seed=cfg.seed,
                           num_workers=cfg.num_workers)

    return train_batches, val_batches
