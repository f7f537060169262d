"""The shard loader: tensors, flips, labels, exact epoch lengths, determinism, worker and DDP splits."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
from faces_factory import face_image, write_faces

from add.data import shards
from add.data.loader import LoaderError, make_loader, segments

SIZE = 16
COUNT = 40  # Deepfakes/train: 4 fakes + 4 originals, 5 frames each
BATCH = 6


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("loader")
    faces, manifest = write_faces(root, frames=5, size=SIZE)
    out = root / "shards"
    index = shards.run({"seed": 0, "shards": {"max_samples_per_shard": 6}}, faces, manifest, out)
    assert index["datasets"]["Deepfakes"]["train"]["count"] == COUNT
    assert len(index["datasets"]["Deepfakes"]["train"]["shards"]) == 7  # 6 x 6 + 4: uneven on purpose
    return out


def expected(key: str, quality: str) -> torch.Tensor:
    """The tensor the loader should give for a sample key without flip."""
    method, rest = key.split("_", 1)
    video, frame = rest.rsplit("_", 1)
    image = face_image(method, video, int(frame), quality, SIZE)
    return torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, rtol=0, atol=1e-6)


def keys_of(loader) -> list[str]:
    return [key for batch in loader for key in batch["key"]]


def test_batch_format_and_values(shard_dir):
    loader = make_loader(shard_dir, "Deepfakes", "train", ["raw", "c40"], BATCH, train=False, seed=0)
    batch = next(iter(loader))
    assert set(batch) == {"raw", "c40", "label", "video", "key"}  # c23 not requested: not decoded
    for quality in ("raw", "c40"):
        assert batch[quality].dtype == torch.float32 and batch[quality].shape == (BATCH, 3, SIZE, SIZE)
        assert batch[quality].min() >= -1 and batch[quality].max() <= 1
        assert batch[quality].is_contiguous()
    assert batch["label"].dtype == torch.int64 and batch["label"].shape == (BATCH,)
    for i, key in enumerate(batch["key"]):
        method, rest = key.split("_", 1)
        assert batch["label"][i].item() == int(method != "original")
        assert batch["video"][i] == f"{method}/{rest.rsplit('_', 1)[0]}"
        for quality in ("raw", "c40"):  # eval: no flip, exact pixels (RGB order) scaled to [-1, 1]
            torch.testing.assert_close(batch[quality][i], expected(key, quality), rtol=0, atol=1e-6)


def test_train_flip_is_shared_by_all_qualities(shard_dir):
    loader = make_loader(shard_dir, "Deepfakes", "train", ["raw", "c23", "c40"], BATCH, train=True, seed=0)
    flips = []
    for batch in loader:
        for i, key in enumerate(batch["key"]):
            raw = batch["raw"][i]
            flipped = same(raw, expected(key, "raw").flip(-1))
            assert flipped or same(raw, expected(key, "raw"))
            for quality in ("c23", "c40"):
                want = expected(key, quality)
                assert same(batch[quality][i], want.flip(-1) if flipped else want)
            flips.append(flipped)
    assert 0 < sum(flips) < len(flips)  # both happen


def test_train_epoch_length_and_labels(shard_dir):
    loader = make_loader(shard_dir, "Deepfakes", "train", ["raw"], BATCH, train=True, seed=0)
    assert len(loader) == COUNT // BATCH and loader.num_samples == COUNT // BATCH * BATCH
    batches = list(loader)
    assert len(batches) == len(loader) and all(len(b["key"]) == BATCH for b in batches)
    keys = [k for b in batches for k in b["key"]]
    assert len(set(keys)) == len(keys)  # no sample twice in an epoch
    labels = torch.cat([b["label"] for b in batches])
    assert labels.tolist() == [int(not k.startswith("original_")) for k in keys]
    assert 0 < labels.sum() < len(labels)


def test_eval_sees_every_sample_once_in_a_fixed_order(shard_dir):
    loader = make_loader(shard_dir, "Deepfakes", "train", ["c40"], BATCH, train=False, seed=0)
    assert len(loader) == -(-COUNT // BATCH)
    batches = list(loader)
    assert len(batches) == len(loader) and [len(b["key"]) for b in batches][-1] == COUNT % BATCH
    keys = keys_of(batches)
    assert len(keys) == COUNT == len(set(keys))
    assert keys_of(make_loader(shard_dir, "Deepfakes", "train", ["c40"], 7, train=False, seed=5)) == keys


def test_determinism_by_seed_and_epoch(shard_dir):
    def run(seed, epoch):
        loader = make_loader(shard_dir, "Deepfakes", "train", ["raw"], BATCH, train=True, seed=seed, epoch=epoch)
        batches = list(loader)
        return keys_of(batches), torch.cat([b["raw"] for b in batches])

    keys, images = run(0, 0)
    keys_again, images_again = run(0, 0)
    assert keys == keys_again and torch.equal(images, images_again)
    assert run(0, 1)[0] != keys  # a new epoch, a new order
    assert run(1, 0)[0] != keys
    loader = make_loader(shard_dir, "Deepfakes", "train", ["raw"], BATCH, train=True, seed=0)
    loader.set_epoch(1)
    assert keys_of(loader) == run(0, 1)[0]


def test_workers_split_eval_and_train(shard_dir):
    loader = make_loader(shard_dir, "Deepfakes", "train", ["raw", "c40"], BATCH, train=False, seed=0, num_workers=2)
    batches = list(loader)
    keys = keys_of(batches)
    assert len(batches) == len(loader) == -(-COUNT // BATCH)
    assert sorted(keys) == sorted(set(keys)) and len(keys) == COUNT
    assert keys_of(loader) == keys  # deterministic with workers too
    loader = make_loader(shard_dir, "Deepfakes", "train", ["raw"], BATCH, train=True, seed=0, num_workers=2)
    batches = list(loader)
    keys = keys_of(batches)
    assert len(batches) == len(loader) == COUNT // BATCH and len(keys) == len(set(keys)) == len(batches) * BATCH


@pytest.mark.parametrize(("world_size", "batch_size"), [(2, BATCH), (3, 4)])
def test_ranks_are_disjoint_and_equal(shard_dir, world_size, batch_size):
    per_rank = []
    for rank in range(world_size):
        loader = make_loader(shard_dir, "Deepfakes", "train", ["raw"], batch_size, train=True, seed=0, epoch=3,
                             rank=rank, world_size=world_size)
        assert len(loader) == COUNT // world_size // batch_size
        batches = list(loader)
        assert len(batches) == len(loader)
        per_rank.append(keys_of(batches))
    all_keys = [k for keys in per_rank for k in keys]
    assert len(all_keys) == len(set(all_keys)) == world_size * len(per_rank[0])


def test_every_sample_is_seen_over_epochs(shard_dir):
    seen = Counter()
    for epoch in range(6):
        for rank in range(2):
            seen.update(keys_of(make_loader(shard_dir, "Deepfakes", "train", ["raw"], BATCH, train=True, seed=0,
                                            epoch=epoch, rank=rank, world_size=2)))
    assert len(seen) == COUNT  # the dropped remainder changes with the epoch


def test_segments_wrap_around():
    shards_ = [("a", 3), ("b", 0), ("c", 4)]
    assert segments(shards_, 0, 0, 7) == [("a", 0, 3), ("c", 0, 4)]
    assert segments(shards_, 5, 0, 4) == [("c", 2, 2), ("a", 0, 2)]
    assert segments(shards_, 5, 3, 7) == [("a", 1, 2), ("c", 0, 2)]
    assert segments(shards_, 0, 2, 2) == []


def test_bad_requests(shard_dir):
    with pytest.raises(LoaderError, match="no dataset FaceSwap/train"):
        make_loader(shard_dir, "FaceSwap", "train", ["raw"], 4, train=True, seed=0)
    with pytest.raises(LoaderError, match="qualities"):
        make_loader(shard_dir, "Deepfakes", "train", ["c99"], 4, train=True, seed=0)
    with pytest.raises(LoaderError, match="not one full batch"):
        make_loader(shard_dir, "Deepfakes", "train", ["raw"], COUNT + 1, train=True, seed=0)
    with pytest.raises(LoaderError, match="batch_size"):
        make_loader(shard_dir, "Deepfakes", "train", ["raw"], 0, train=True, seed=0)
    with pytest.raises(LoaderError, match="rank"):
        make_loader(shard_dir, "Deepfakes", "train", ["raw"], 4, train=True, seed=0, rank=2, world_size=2)
    with pytest.raises(LoaderError, match="index not found"):
        make_loader(shard_dir / "nowhere", "Deepfakes", "train", ["raw"], 4, train=True, seed=0)


def test_stale_index_names_the_shard(shard_dir, tmp_path):
    import shutil

    copy = tmp_path / "shards"
    shutil.copytree(shard_dir, copy)
    index = json.loads((copy / "index.json").read_text())
    entry = index["datasets"]["Deepfakes"]["val"]
    entry["shards"][-1]["count"] += 3
    entry["count"] += 3
    (copy / "index.json").write_text(json.dumps(index))
    loader = make_loader(copy, "Deepfakes", "val", ["raw"], 4, train=False, seed=0)
    with pytest.raises(LoaderError, match=r"val-\d{5}\.tar: has \d+ samples"):
        list(loader)


def test_uint8_roundtrip_range(shard_dir):
    batch = next(iter(make_loader(shard_dir, "Deepfakes", "test", ["raw"], 4, train=False, seed=0)))
    values = ((batch["raw"] + 1) * 127.5).round()
    assert torch.allclose(values, (batch["raw"] + 1) * 127.5, atol=1e-4)
    assert np.isclose(batch["raw"].min().item(), -1.0) and np.isclose(batch["raw"].max().item(), 1.0)


def test_index_entry_escaping_the_folder_is_refused(shard_dir, tmp_path):
    import shutil

    copy = tmp_path / "shards"
    shutil.copytree(shard_dir, copy)
    index = json.loads((copy / "index.json").read_text())
    index["datasets"]["Deepfakes"]["val"]["shards"][0]["path"] = "../../outside.tar"
    (copy / "index.json").write_text(json.dumps(index))
    with pytest.raises(LoaderError, match="escapes"):
        make_loader(copy, "Deepfakes", "val", ["raw"], 4, train=False, seed=0)


# ------------------------------------------------------------------------------------- shards checked at start-up
def damaged_copy(shard_dir, tmp_path, rel: str, damage: str):
    import shutil

    copy = tmp_path / "shards"
    shutil.copytree(shard_dir, copy)
    victim = copy / rel
    blob = bytearray(victim.read_bytes())
    if damage == "truncated":
        victim.write_bytes(bytes(blob[: len(blob) // 2]))
    elif damage == "flipped":
        blob[len(blob) // 2] ^= 0xFF
        victim.write_bytes(bytes(blob))
    else:
        victim.unlink()
    return copy, victim


def test_the_index_records_each_shards_size_and_sha256(shard_dir):
    import hashlib

    index = json.loads((shard_dir / "index.json").read_text())
    for by_split in index["datasets"].values():
        for entry in by_split.values():
            for item in entry["shards"]:
                blob = (shard_dir / item["path"]).read_bytes()
                assert (item["size"], item["sha256"]) == (len(blob), hashlib.sha256(blob).hexdigest())


@pytest.mark.parametrize("split,damage", [("train", "truncated"), ("train", "flipped"), ("val", "truncated"),
                                          ("test", "missing")])
def test_a_damaged_shard_stops_the_loader_at_start_up(shard_dir, tmp_path, split, damage):
    copy, victim = damaged_copy(shard_dir, tmp_path, f"Deepfakes/{split}-00000.tar", damage)
    # training makes its train loader first: a truncated or missing shard of any split is found then
    with pytest.raises(LoaderError, match=f"^{victim}: .*dvc repro -f shards") as raised:
        make_loader(copy, "Deepfakes", split if damage == "flipped" else "train", ["raw"], 4, train=True, seed=0)
    words = {"truncated": "bytes, .* says", "flipped": "does not match the sha256", "missing": "cannot be read"}
    assert raised.match(words[damage])


def test_an_index_without_checksums_is_refused(shard_dir, tmp_path):
    import shutil

    copy = tmp_path / "shards"
    shutil.copytree(shard_dir, copy)
    index = json.loads((copy / "index.json").read_text())
    for item in index["datasets"]["Deepfakes"]["val"]["shards"]:
        del item["sha256"]
    (copy / "index.json").write_text(json.dumps(index))
    with pytest.raises(LoaderError, match="no size and sha256 .* older shards stage.*dvc repro -f shards"):
        make_loader(copy, "Deepfakes", "train", ["raw"], 4, train=True, seed=0)


def test_a_shard_is_hashed_once_while_it_does_not_change(shard_dir, tmp_path, monkeypatch):
    import shutil

    from add.data import loader

    copy = tmp_path / "shards"
    shutil.copytree(shard_dir, copy)
    hashed, real = [], loader.file_record
    monkeypatch.setattr(loader, "file_record", lambda path: hashed.append(path) or real(path))
    for epoch in range(3):
        make_loader(copy, "Deepfakes", "train", ["raw"], 4, train=True, seed=0, epoch=epoch)
    assert len(hashed) == 7 and len(set(hashed)) == 7  # the 7 train shards, once each
    victim = copy / "Deepfakes" / "train-00003.tar"
    blob = bytearray(victim.read_bytes())
    blob[-1000] ^= 0xFF
    victim.write_bytes(bytes(blob))  # changed since: hashed again, and refused
    with pytest.raises(LoaderError, match="train-00003.tar: its content does not match"):
        make_loader(copy, "Deepfakes", "train", ["raw"], 4, train=True, seed=0)

