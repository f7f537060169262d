"""The shards stage: dataset composition, lossless samples, shuffling, byte-identical reruns, clear errors."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import webdataset as wds
import yaml
from faces_factory import write_faces

from add.core.params import ParamsError
from add.data import shards
from add.data import shards as shards_stage

METHODS = ("Deepfakes", "FaceSwap")
FRAMES = 3
PARAMS = {"seed": 0, "shards": {"max_samples_per_shard": 7}}


def read_samples(shard_dir: Path, index: dict, method: str, split: str) -> list[dict]:
    urls = [str(shard_dir / item["path"]) for item in index["datasets"][method][split]["shards"]]
    return list(wds.tarfile_samples([{"url": u} for u in urls]))


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    faces, manifest = write_faces(root, methods=METHODS, frames=FRAMES,
                                  fallback={("Deepfakes", "000_001"): [1]},
                                  dropped_frames={("Deepfakes", "001_000"): [2], ("original", "002"): [0]},
                                  dropped_videos=(("FaceSwap", "002_003"),),
                                  extra_originals={"train": ["008"]})
    out = root / "shards"
    index = shards.run(PARAMS, faces, manifest, out)
    return faces, manifest, out, index


def expected_keys(method: str, split: str) -> set[str]:
    """The keys the factory setup above should produce for one dataset."""
    pairs = {"train": [("000", "001"), ("002", "003")], "val": [("004", "005")], "test": [("006", "007")]}[split]
    fakes = [f"{a}_{b}" for x, y in pairs for a, b in ((x, y), (y, x))]
    dropped_videos = {("FaceSwap", "002_003")}
    dropped = {("Deepfakes", "001_000", 2), ("original", "002", 0)}
    keys = set()
    for video in fakes:
        if (method, video) in dropped_videos:
            continue
        keys |= {f"{method}_{video}_{f:04d}" for f in range(FRAMES) if (method, video, f) not in dropped}
    originals = {v.split("_")[0] for v in fakes}  # targets of the method's fakes, dropped ones included
    for video in originals:
        keys |= {f"original_{video}_{f:04d}" for f in range(FRAMES) if ("original", video, f) not in dropped}
    return keys


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_dataset_composition_and_index(built, method, split):
    _, _, out, index = built
    samples = read_samples(out, index, method, split)
    keys = [s["__key__"] for s in samples]
    assert len(keys) == len(set(keys))
    assert set(keys) == expected_keys(method, split)
    assert "original_008_0000" not in keys  # an original no fake of the split targets
    entry = index["datasets"][method][split]
    assert entry["count"] == len(samples) == sum(item["count"] for item in entry["shards"])
    assert entry["real"] == sum(k.startswith("original_") for k in keys)
    assert entry["fake"] == sum(k.startswith(f"{method}_") for k in keys)
    assert all(item["count"] <= PARAMS["shards"]["max_samples_per_shard"] for item in entry["shards"])
    names = [item["path"] for item in entry["shards"]]
    assert names == [f"{method}/{split}-{n:05d}.tar" for n in range(len(names))]
    assert index["image_size"] == 16 and index["qualities"] == ["raw", "c23", "c40"]


def test_samples_are_verbatim_copies_with_metadata(built):
    faces, _, out, index = built
    samples = read_samples(out, index, "Deepfakes", "train")
    for sample in samples:
        meta = json.loads(sample["json"])
        source = "original" if sample["__key__"].startswith("original_") else "Deepfakes"
        assert sample["__key__"] == f"{source}_{meta['video']}_{meta['frame']:04d}"
        assert "." not in sample["__key__"]
        assert meta["method"] == source and meta["split"] == "train"
        assert sample["cls"] == (b"0" if source == "original" else b"1") and meta["label"] == int(sample["cls"])
        assert meta["status"] in ("ok", "fallback") and len(meta["box"]) == 4
        with tarfile.open(faces / source / f"{meta['video']}.tar") as tar:
            for quality in ("raw", "c23", "c40"):
                member = tar.extractfile(f"{meta['frame']:04d}.{quality}.png").read()
                assert sample[f"{quality}.png"] == member  # PNG bytes copied, never re-encoded
    fallback = [json.loads(s["json"]) for s in samples if s["__key__"] == "Deepfakes_000_001_0001"]
    assert fallback[0]["status"] == "fallback" and fallback[0]["score"] is None


def test_tar_members_are_normalised(built):
    _, _, out, index = built
    with tarfile.open(out / index["datasets"]["FaceSwap"]["train"]["shards"][0]["path"]) as tar:
        members = tar.getmembers()
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.mode == 0o444 for m in members)
    first = [m.name.split(".", 1)[1] for m in members[:5]]
    assert first == ["c23.png", "c40.png", "cls", "json", "raw.png"]


def test_samples_are_shuffled_by_seed(built, tmp_path):
    faces, manifest, out, index = built
    keys = [s["__key__"] for s in read_samples(out, index, "Deepfakes", "train")]
    assert keys != sorted(keys)
    other = shards.run({**PARAMS, "seed": 1}, faces, manifest, tmp_path / "seed1")
    keys1 = [s["__key__"] for s in read_samples(tmp_path / "seed1", other, "Deepfakes", "train")]
    assert sorted(keys1) == sorted(keys) and keys1 != keys


def test_forced_rerun_is_byte_identical(built, tmp_path):
    faces, manifest, out, _ = built
    before = all_files(out)
    shards.run(PARAMS, faces, manifest, out)  # same folder, forced
    assert all_files(out) == before
    shards.run(PARAMS, faces, manifest, tmp_path / "elsewhere")
    assert all_files(tmp_path / "elsewhere") == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".shards.")]  # no temp folders left


def test_rerun_replaces_stale_shards(tmp_path):
    faces, manifest = write_faces(tmp_path, frames=2)
    out = tmp_path / "shards"
    shards.run({"seed": 0, "shards": {"max_samples_per_shard": 2}}, faces, manifest, out)
    assert (out / "Deepfakes" / "train-00007.tar").exists()
    index = shards.run({"seed": 0, "shards": {"max_samples_per_shard": 100}}, faces, manifest, out)
    assert sorted(p.name for p in (out / "Deepfakes").iterdir()) == ["test-00000.tar", "train-00000.tar",
                                                                    "val-00000.tar"]
    assert index["datasets"]["Deepfakes"]["train"]["count"] == 16


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage", "member"])
def test_bad_face_tar_is_named_and_old_output_kept(tmp_path, damage):
    faces, manifest = write_faces(tmp_path, frames=2)
    out = tmp_path / "shards"
    shards.run(PARAMS, faces, manifest, out)
    before = all_files(out)
    victim = faces / "original" / "001.tar"
    if damage == "missing":
        victim.unlink()
    elif damage == "truncated":
        victim.write_bytes(victim.read_bytes()[:1500])
    elif damage == "garbage":
        victim.write_bytes(b"this is not a tar file" * 100)
    else:  # a kept frame lacks its c40 crop
        with tarfile.open(victim) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.name != "0001.c40.png"}
        victim.unlink()
        from faces_factory import write_tar

        write_tar(victim, members)
    with pytest.raises(shards.ShardsError, match=str(victim)) as raised:
        shards.run(PARAMS, faces, manifest, out)
    assert "rerun the extract stage" in str(raised.value)
    assert all_files(out) == before  # the failed run changed nothing
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".shards.")]


@pytest.mark.parametrize("out", ["faces", "faces/Deepfakes", ".", "ffpp/videos", "ffpp"])
def test_an_output_folder_overlapping_the_inputs_is_refused(tmp_path, out):
    from add.core.io import UnsafeOutputError

    faces, manifest = write_faces(tmp_path, frames=1)
    (tmp_path / "ffpp").mkdir()
    (tmp_path / "ffpp" / "clip.mp4").write_bytes(b"a user's video")
    before = all_files(tmp_path)
    params = {**PARAMS, "data": {"source": "ffpp", "root": str(tmp_path / "ffpp")}}
    with pytest.raises(UnsafeOutputError, match=r"(face folder|manifest|data.root) .* the shard folder .*nothing "
                                                r"was deleted"):
        shards.run(params, faces, manifest, tmp_path / out)
    assert all_files(tmp_path) == before


def test_bad_manifest(tmp_path):
    faces, manifest = write_faces(tmp_path, frames=1)
    with pytest.raises(shards.ShardsError, match="manifest not found"):
        shards.run(PARAMS, faces, tmp_path / "nope.parquet", tmp_path / "out")
    import pandas as pd

    table = pd.read_parquet(manifest)
    table.drop(columns=["status"]).to_parquet(manifest)
    with pytest.raises(shards.ShardsError, match=r"lacks column\(s\) \['status'\]"):
        shards.run(PARAMS, faces, manifest, tmp_path / "out")
    table.loc[0, "label"] = 1 - table.loc[0, "label"]
    table.to_parquet(manifest)
    with pytest.raises(shards.ShardsError, match="has label"):
        shards.run(PARAMS, faces, manifest, tmp_path / "out")
    table.loc[0, "label"] = 1 - table.loc[0, "label"]
    table[(table["method"] != "original") | (table["video"] != "002")].to_parquet(manifest)
    with pytest.raises(shards.ShardsError, match=r"Deepfakes fakes in train target original\(s\) \['002'\]"):
        shards.run(PARAMS, faces, manifest, tmp_path / "out")
    table.loc[table["video"] == "001_000", "video"] = "../001"
    table.to_parquet(manifest)
    with pytest.raises(shards.ShardsError, match="'../001' is not a fake name"):
        shards.run(PARAMS, faces, manifest, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("params", [{"seed": -1}, {"seed": "x"}, {"shards": {"max_samples_per_shard": 0}},
                                    {"shards": {"max_samples_per_shard": 2.5}}])
def test_nonsense_params(tmp_path, params):
    with pytest.raises(ParamsError):
        shards.run(params, tmp_path, tmp_path / "m.parquet", tmp_path / "out")


def test_main_with_params_file(tmp_path, capsys):
    faces, manifest = write_faces(tmp_path, frames=1)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(PARAMS))
    out = tmp_path / "out"
    argv = ["--params", str(params), "--faces", str(faces), "--manifest", str(manifest), "--out", str(out)]
    assert shards_stage.main(argv) == 0
    index = json.loads((out / "index.json").read_text())
    assert index["datasets"]["Deepfakes"]["train"]["count"] == 4 + 4
    assert "Deepfakes" in capsys.readouterr().out
