"""The demo's cross set (add.data.demo.cross_demo): Celeb-DF layout, new identities, an unseen manipulation family,
byte-reproducible from the seed."""

from __future__ import annotations

import hashlib
import json

import pytest

from add.core.errors import AddError
from add.data.datasets.read import read_dataset
from add.data.demo import manipulations as manip
from add.data.demo.cross_demo import MARKER, build_cross_demo
from add.data.demo.planning import DemoConfig, plan
from add.data.demo.rendering import identity_name

pytestmark = pytest.mark.usefixtures("one_thread")


def digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_cross_demo_is_celebdf_with_new_faces_and_an_unseen_family(tmp_path):
    demo = DemoConfig(seed=0, pairs=(10, 3, 3))
    first = build_cross_demo(tmp_path / "a", seed=0, demo=demo, progress=False)
    second = build_cross_demo(tmp_path / "b", seed=0, demo=demo, jobs=1, progress=False)
    assert digests(first) == digests(second)  # byte-reproducible, whatever the parallelism
    records, missing = read_dataset("celebdf", first)
    assert missing == 0 and sorted(r.label for r in records) == [0, 0, 0, 0, 1, 1, 1, 1]
    meta = json.loads((first / MARKER).read_text())
    training = {identity_name(i) for i in plan(demo, ("Deepfakes",))[1].values()}
    assert not set(meta["photos"].values()) & training  # identities the training demo does not use
    families = {fake["family"] for fake in meta["fakes"].values()}
    assert "lowres_blend" in families and "lowres_blend" not in manip.KINDS
    other_seed = build_cross_demo(tmp_path / "c", seed=1, demo=DemoConfig(seed=1, pairs=(10, 3, 3)), progress=False)
    assert digests(other_seed) != digests(first)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    with pytest.raises(AddError, match="not the demo's cross set"):
        build_cross_demo(tmp_path / "mine", seed=0, demo=demo, progress=False)
