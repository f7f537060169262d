"""The built-in demo dataset: layout, determinism, detectable faces, local manipulations, artifacts vs compression."""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path

import cv2
import dlib
import numpy as np
import pytest
import torch
import yaml
from committed import raw as default_params

from add.core.errors import AddError
from add.core.params import ParamsError
from add.data import ffpp
from add.data.demo import build, calibration, planning, rendering
from add.data.demo import manipulations as manip
from add.data.video_io import probe, read_frames

REPO = Path(__file__).resolve().parents[1]
TINY = {"seed": 3, "pairs": (1, 1, 1), "frames": 8, "width": 320, "height": 240, "fps": 25,
        "methods": ("Deepfakes", "NeuralTextures"), "jobs": 2, "progress": False}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return build.build_demo(tmp_path_factory.mktemp("demo") / "demo", **TINY)


@pytest.fixture(scope="module")
def clean_tree(tmp_path_factory) -> Path:
    return build.build_demo(tmp_path_factory.mktemp("demo") / "clean", **{**TINY, "strength": 0.0})


def meta(root: Path) -> dict:
    return json.loads((root / build.MARKER).read_text())


def scene_of(root: Path, video: str) -> rendering.Scene:
    info = meta(root)
    cfg = info["config"]
    names = {rendering.identity_name(i): i for i in range(rendering.N_IDENTITIES)}
    target = video.split("_")[0]
    return rendering.Scene(cfg["seed"], target, names[info["identities"][target]], cfg["width"], cfg["height"],
                      cfg["fps"])


def frames_of(root: Path, method: str, quality: str, video: str, indices=range(TINY["frames"])):
    return [f.astype(np.float32) for _, f in read_frames(ffpp.video_path(root, method, quality, video), indices)]


def test_layout_and_splits(tree):
    splits = ffpp.load_splits(tree / "splits")  # FF++'s own validation: JSON lists of [target, source] ids
    assert [len(splits[s]) for s in ffpp.SPLITS] == list(TINY["pairs"])
    raw = json.loads((tree / "splits" / "train.json").read_text())
    assert isinstance(raw, list) and all(isinstance(p, list) and len(p) == 2 for p in raw)
    ids = [i for s in ffpp.SPLITS for pair in splits[s] for i in pair]
    assert sorted(ids) == [f"{i:03d}" for i in range(6)]
    table = ffpp.list_videos(tree, TINY["methods"], ffpp.QUALITIES)  # raises if any file is missing
    assert len(table) == 6 + 2 * 6
    files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    expected = {f"splits/{s}.json" for s in ffpp.SPLITS} | {build.MARKER}
    for q in ffpp.QUALITIES:
        expected |= {f"original_sequences/youtube/{q}/videos/{i}.mp4" for i in ids}
        for method in TINY["methods"]:
            expected |= {f"manipulated_sequences/{method}/{q}/videos/{a}_{b}.mp4"
                         for s in ffpp.SPLITS for x, y in splits[s] for a, b in ((x, y), (y, x))}
    assert set(files) == expected
    assert not list(tree.parent.glob(".demo.*")), "temporary build folders left behind"
    for q in ffpp.QUALITIES:
        for path in (ffpp.video_path(tree, ffpp.ORIGINAL, q, ids[0]), ffpp.video_path(tree, "Deepfakes", q, "000_001")):
            info = probe(path)
            assert (info.width, info.height, info.frames, info.fps) == (320, 240, 8, 25)
    kinds = meta(tree)["fakes"]
    assert set(kinds["Deepfakes"].values()) == {"swap_gen"}
    assert set(kinds["NeuralTextures"].values()) == {"resynth"}


def test_byte_identical_for_the_same_seed(tmp_path):
    small = {**TINY, "pairs": (1, 0, 0), "methods": ("Deepfakes",), "frames": 4}
    a = build.build_demo(tmp_path / "a", **{**small, "jobs": 1})
    b = build.build_demo(tmp_path / "b", **{**small, "jobs": 2})  # worker count must not matter
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 2 * 3 * 2 + 3 + 1
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    build.build_demo(a, **{**small, "seed": TINY["seed"] + 1})  # replaces the previous demo tree in place
    changed = ffpp.video_path(a, ffpp.ORIGINAL, "raw", "000")
    assert changed.read_bytes() != ffpp.video_path(b, ffpp.ORIGINAL, "raw", "000").read_bytes()


def test_only_the_requested_qualities_are_kept(tmp_path):
    root = build.build_demo(tmp_path / "demo", **{**TINY, "pairs": (1, 0, 0), "methods": ("FaceSwap",), "frames": 2,
                                                 "qualities": ("c40",)})
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    videos = [f for f in files if f.endswith(".mp4")]
    assert len(videos) == 4 and all("/c40/videos/" in f for f in videos), files
    assert len(files) == 4 + 3 + 1
    assert len(ffpp.list_videos(root, ["FaceSwap"], ["c40"])) == 4
    assert probe(ffpp.video_path(root, "FaceSwap", "c40", "000_001")).frames == 2


def test_dlib_finds_the_face_in_every_original(tree):
    detector = dlib.get_frontal_face_detector()
    for video in meta(tree)["identities"]:
        scene = scene_of(tree, video)
        for i, frame in read_frames(ffpp.video_path(tree, ffpp.ORIGINAL, "raw", video), [0, 3, 7]):
            boxes, scores, _ = detector.run(frame, 0, 0.0)
            x0, y0, x1, y1 = scene.face_box(i)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            hits = [s for b, s in zip(boxes, scores, strict=True)
                    if b.left() < cx < b.right() and b.top() < cy < b.bottom()]
            assert hits, f"dlib finds no face at the face box in original {video} frame {i}"


def test_fakes_change_the_face_and_nothing_else(tree):
    for method, kinds in meta(tree)["fakes"].items():
        for fake in kinds:
            target = fake.split("_")[0]
            scene = scene_of(tree, fake)
            for quality in ("raw", "c23"):
                fakes = frames_of(tree, method, quality, fake, [0, 5])
                originals = frames_of(tree, ffpp.ORIGINAL, quality, target, [0, 5])
                for i, f, o in zip([0, 5], fakes, originals, strict=True):
                    diff = np.abs(f - o).mean(-1)
                    x0, y0, x1, y1 = scene.face_box(i)
                    inside = diff[y0:y1, x0:x1].mean()
                    # a re-synthesis of the face's own pixels (NeuralTextures) is the subtlest change: ~1.8 levels
                    assert inside > 1.0, (method, fake, quality, i, inside)
                    if quality == "raw":  # lossless: not one pixel outside the face box may differ
                        diff[y0:y1, x0:x1] = 0
                        assert diff.max() == 0, (method, fake, i)
                    else:  # lossy: only the codec's own noise, a macroblock (16 px) or more away from the face
                        far = np.ones(diff.shape, bool)
                        far[max(0, y0 - 16):y1 + 16, max(0, x0 - 16):x1 + 16] = False
                        assert diff[far].mean() < min(2.0, inside / 2), (method, fake, i, diff[far].mean(), inside)


def test_fine_scale_traces_strong_in_raw_weaker_at_c23_mostly_gone_at_c40(tree, clean_tree):
    per_method = {}
    for method, kinds in meta(tree)["fakes"].items():
        energies = [calibration.artifact_energy(tree, clean_tree, method, fake) for fake in kinds]
        per_method[method] = {q: float(np.mean([e[q] for e in energies])) for q in ffpp.QUALITIES}
    for method, e in per_method.items():
        assert e["raw"] > 0.4, (method, e)  # levels² of high-pass luma: there in raw (NeuralTextures' ~0.65 the least)
        assert e["raw"] > e["c23"] > e["c40"], (method, e)
        assert e["c40"] < 0.25 * e["raw"], (method, e)


def test_clean_twin_is_the_same_swap_without_artifacts(tree, clean_tree):
    # strength 0 keeps identities, motion and the swapped face: only the process's traces differ, inside the face
    assert meta(tree)["identities"] == meta(clean_tree)["identities"]
    assert meta(tree)["fakes"] == meta(clean_tree)["fakes"]
    original = ffpp.video_path(tree, ffpp.ORIGINAL, "raw", "000")
    assert original.read_bytes() == ffpp.video_path(clean_tree, ffpp.ORIGINAL, "raw", "000").read_bytes()
    with pytest.raises(ValueError, match="strength-0 twin"):
        calibration.artifact_energy(tree, tree, "Deepfakes", "000_001")


def test_params_yaml_demo_section_is_valid():
    params = default_params()
    config = planning.DemoConfig.from_params(params)
    assert config.pairs == tuple(params["demo"]["pairs"]) and config.seed == params["seed"]
    kwargs = config.build_kwargs(methods=["Deepfakes"], qualities=["raw", "c40"])
    accepted = set(inspect.signature(build.build_demo).parameters) - {"root"}
    assert set(kwargs) <= accepted
    assert kwargs["methods"] == ("Deepfakes",) and kwargs["qualities"] == ("raw", "c40")


def test_jobs_defaults_to_data_jobs():
    assert planning.DemoConfig.from_params({"data": {"jobs": 3}, "demo": {}}).jobs == 3
    assert planning.DemoConfig.from_params({"data": {"jobs": 3}, "demo": {"jobs": 1}}).jobs == 1


@pytest.mark.parametrize("params, key", [
    ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"seed": "zero"}, "seed"),  # "0" is a number: one rule for every numeric key (add.core.params)
    ({"demo": {"pairs": [1, 2]}}, "demo.pairs"),
    ({"demo": {"pairs": [-1, 1, 1]}}, "demo.pairs"),
    ({"demo": {"pairs": "16 4 4"}}, "demo.pairs"),
    ({"demo": {"pairs": [0, 0, 0]}}, "demo.pairs"),
    ({"demo": {"pairs": [40, 10, 10]}}, "demo.pairs"),
    ({"demo": {"pairs": [1.5, 1, 1]}}, "demo.pairs"),
    ({"demo": {"frames": 0}}, "demo.frames"),
    ({"demo": {"width": 853}}, "demo.width"),
    ({"demo": {"height": 100}}, "demo.height"),
    ({"demo": {"fps": 0}}, "demo.fps"),
    ({"demo": {"fps": "fast"}}, "demo.fps"),
    ({"demo": {"jobs": -2}}, "demo.jobs"),
    ({"demo": {"strength": float("nan")}}, "demo.strength"),
    ({"demo": {"strength": 9}}, "demo.strength"),
    ({"demo": {"frame": 32}}, "demo"),
    ({"demo": [1, 2]}, "demo"),
])
def test_nonsense_params_are_rejected(params, key):
    with pytest.raises(ParamsError, match=f"'{key}"):
        planning.DemoConfig.from_params(params)


def test_nonsense_build_arguments_are_rejected(tmp_path):
    with pytest.raises(ParamsError, match="methods"):
        build.build_demo(tmp_path / "x", seed=0, methods=("../evil",))
    with pytest.raises(ParamsError, match="qualities"):
        build.build_demo(tmp_path / "x", seed=0, qualities=("c99",))
    with pytest.raises(ParamsError, match="demo.width"):
        build.build_demo(tmp_path / "x", seed=0, width=321)
    assert not (tmp_path / "x").exists()


def test_never_replaces_a_tree_that_is_not_a_demo(tmp_path):
    root = tmp_path / "ffpp"
    keep = root / "original_sequences" / "youtube" / "raw" / "videos" / "000.mp4"
    keep.parent.mkdir(parents=True)
    keep.write_bytes(b"precious")
    with pytest.raises(AddError, match="not a demo tree"):
        build.build_demo(root, **{**TINY, "pairs": (1, 0, 0)})
    assert keep.read_bytes() == b"precious"


def test_interrupted_build_keeps_the_previous_tree(tmp_path, monkeypatch):
    small = {**TINY, "pairs": (1, 0, 0), "methods": ("Deepfakes",), "frames": 2, "jobs": 1}
    root = build.build_demo(tmp_path / "demo", **small)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    calls = []

    def failing(task, tmp, config):
        calls.append(task)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return demo_write(task, tmp, config)

    demo_write = build._write_task
    monkeypatch.setattr(build, "_write_task", failing)
    with pytest.raises(KeyboardInterrupt):
        build.build_demo(root, **{**small, "seed": 99})
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_identities_are_real_detectable_faces():
    usable = rendering.usable_identities()
    assert rendering.ASTRONAUT in usable
    assert 80 <= len(usable) <= rendering.N_IDENTITIES  # nearly all 100 LFW faces (x4+ upscaled) and the astronaut
    assert all(0 <= i < rendering.N_IDENTITIES for i in usable)


@pytest.mark.parametrize("kind", manip.KINDS)
def test_manipulation_leaves_unmasked_pixels_alone(kind):
    rng = np.random.default_rng(0)
    roi = rng.uniform(0, 1, (40, 40, 3)).astype(np.float32)
    source = rng.uniform(0, 1, (40, 40, 3)).astype(np.float32)
    mask = np.zeros((40, 40), np.float32)
    mask[10:30, 12:28] = 1
    out = manip.apply(manip.Manipulation.draw(kind, rng), roi, source, mask, mask)
    assert np.array_equal(out[mask == 0], roi[mask == 0])
    assert np.abs(out[mask > 0] - roi[mask > 0]).mean() > 0.01


def test_kinds_are_balanced_and_seeded():
    videos = [f"{i:03d}_{i + 1:03d}" for i in range(10)]
    kinds = manip.assign_kinds("AnotherMethod", videos, seed=0)  # not in METHOD_MIX: every kind, balanced
    assert sorted(sorted(kinds.values()).count(kind) for kind in manip.KINDS) == [2, 2, 3, 3]
    assert kinds == manip.assign_kinds("AnotherMethod", videos, seed=0)
    assert kinds != manip.assign_kinds("AnotherMethod", videos, seed=1)
    assert set(manip.assign_kinds("Deepfakes", videos, seed=0).values()) == {"swap_gen"}
    assert set(manip.assign_kinds("FaceSwap", videos, seed=0).values()) == {"swap"}


# ---- the process (issue 28): each trace comes from a step of making the fake, none is planted


def scene_and_source(kind: str, strength: float, frames: int = 2, seed: int = 0):
    ids = rendering.usable_identities()
    scene = rendering.Scene(seed, "000", ids[0], 320, 240, 25)
    m = manip.Manipulation.draw(kind, manip.rng_for(seed, "fake", "test"), strength)
    return scene, ids[1], m, list(rendering.fake_frames(scene, ids[1], m, frames)), list(scene.frames(frames))


@pytest.mark.parametrize("kind", manip.KINDS)
def test_fakes_leave_everything_outside_the_face_box_alone(kind):
    scene, _, _, fakes, originals = scene_and_source(kind, 1.0)
    for i, (f, o) in enumerate(zip(fakes, originals, strict=True)):
        x0, y0, x1, y1 = scene.face_box(i)
        diff = np.abs(f.astype(int) - o).max(-1)
        assert diff[y0:y1, x0:x1].mean() > 0.5, kind
        diff[y0:y1, x0:x1] = 0
        assert diff.max() == 0, kind


@pytest.mark.parametrize("kind", ["resynth", "selfblend"])
def test_strength_zero_resynthesis_and_self_blend_are_the_original(kind):
    _, _, m, fakes, originals = scene_and_source(kind, 0.0)
    for f, o in zip(fakes, originals, strict=True):
        assert np.array_equal(f, o), kind


@pytest.mark.parametrize("kind", ["swap", "swap_gen"])
def test_strength_zero_swap_is_the_ideal_swap(kind):
    # a perfect process: no colour mismatch, alignment error, second resampling, generator or hardened edge, and the
    # same frames for both swap kinds (their only difference, the generator, is off)
    m = manip.Manipulation.draw(kind, manip.rng_for(0, "x"), 0.0)
    assert (m.colour_keep, m.edge_harden, m.gen_scale, m.align_offset, m.align_scale, m.align_angle) == (
        0.0, 0.0, 1.0, (0.0, 0.0), 0.0, 0.0)
    _, _, _, fakes, _ = scene_and_source(kind, 0.0)
    _, _, _, plain, _ = scene_and_source("swap", 0.0)
    assert all(np.array_equal(a, b) for a, b in zip(fakes, plain, strict=True))
    patch = np.random.default_rng(0).uniform(0, 1, (20, 20, 3)).astype(np.float32)
    image, matrix = manip.aligned_source(m, patch)
    assert image is patch and np.array_equal(matrix, np.eye(3))


def test_the_strength_zero_twin_shares_the_draws():
    for kind in manip.KINDS:
        full = manip.Manipulation.draw(kind, manip.rng_for(0, "a"), 1.0)
        half = manip.Manipulation.draw(kind, manip.rng_for(0, "a"), 0.5)
        assert half.align_offset == pytest.approx(tuple(0.5 * v for v in full.align_offset))
        assert half.self_shift == pytest.approx(tuple(0.5 * v for v in full.self_shift))
        assert full == manip.Manipulation.draw(kind, manip.rng_for(0, "a"), 1.0)  # deterministic
    with pytest.raises(ValueError, match="unknown manipulation kind"):
        manip.Manipulation.draw("gan", manip.rng_for(0, "a"))


def test_swap_moves_the_face_toward_the_source_identity():
    # at the strength of a 2.5 px alignment error: at full strength the colour mismatch and the alignment error the
    # demo is calibrated to (manip.ALIGN_ERROR_PX) move the face as far from the ideal swap as the original is
    scene, source_id, m, fakes, originals = scene_and_source("swap", 2.5 / manip.ALIGN_ERROR_PX)
    ideal = list(rendering.fake_frames(scene, source_id, manip.Manipulation.draw("swap", manip.rng_for(0, "x"), 0.0),
                                       2))
    i = 1
    x0, y0, x1, y1 = scene.face_box(i)
    # the source identity's face rendered in the target's place: the swap is far nearer to it than the original is
    inner = (rendering.Scene.warp(scene, scene.subject.inner_hard, scene.geometry(i).matrix, (x0, y0, x1, y1)) > 0.99)
    f, o, s = (np.asarray(a[y0:y1, x0:x1], np.float32)[inner] for a in (fakes[i], originals[i], ideal[i]))
    assert np.abs(f - s).mean() < 0.5 * np.abs(o - s).mean()


def test_colour_transfer_moves_mean_and_std_part_of_the_way():
    rng = np.random.default_rng(0)
    face = np.clip(0.5 + 0.1 * rng.standard_normal((30, 30, 3)), 0, 1).astype(np.float32)
    target = np.clip(face * np.float32([1.2, 0.9, 0.8]) + 0.05, 0, 1).astype(np.float32)
    mask = np.ones((30, 30), np.float32)

    def lab_mean(img):
        return cv2.cvtColor(img, cv2.COLOR_RGB2Lab).reshape(-1, 3).mean(0)

    full = manip.colour_transfer(face, target, mask, 0.0)
    np.testing.assert_allclose(lab_mean(full), lab_mean(target), atol=0.5)
    part = manip.colour_transfer(face, target, mask, 0.4)
    gap, start = np.abs(lab_mean(part) - lab_mean(target)), np.abs(lab_mean(face) - lab_mean(target))
    np.testing.assert_allclose(gap, 0.4 * start, atol=0.5)
    assert manip.colour_transfer(face, target, mask, 1.0) is face


def test_self_blend_changes_only_inside_its_mask():
    rng = np.random.default_rng(1)
    roi = cv2.GaussianBlur(rng.uniform(0, 1, (48, 48, 3)).astype(np.float32), (0, 0), 1.0)
    hard = np.zeros((48, 48), np.float32)
    cv2.ellipse(hard, (24, 24), (14, 16), 0, 0, 360, 1.0, -1)
    soft = cv2.GaussianBlur(hard, (0, 0), 2.0) * hard
    m = manip.Manipulation.draw("selfblend", manip.rng_for(0, "sb"), 1.0)
    out = manip.apply(m, roi, None, hard, soft)
    assert np.array_equal(out[hard == 0], roi[hard == 0])
    assert np.abs(out - roi)[soft > 0.9].mean() > 0.005


def test_generator_pass_lowers_the_faces_fine_detail():
    rng = np.random.default_rng(2)
    face = np.clip(0.5 + 0.1 * rng.standard_normal((60, 60, 3)), 0, 1).astype(np.float32)
    box = (0, 0, 60, 60)
    assert manip.generator(face, 1.0) is face
    e = [calibration.hf_energy(manip.generator(face, s) * 255, box) for s in (1.0, 1.5, manip.GEN_SCALE)]
    assert e[0] > e[1] > e[2] and e[2] < 0.3 * e[0], e


@pytest.mark.parametrize("kind", manip.KINDS)
def test_no_periodic_pattern_in_the_difference(kind):
    # the old demo's checkerboard put an isolated spectral peak at period 2; a process leaves none
    rng = np.random.default_rng(3)
    roi = cv2.GaussianBlur(rng.uniform(0, 1, (64, 64, 3)).astype(np.float32), (0, 0), 1.5)
    source = cv2.GaussianBlur(rng.uniform(0, 1, (64, 64, 3)).astype(np.float32), (0, 0), 1.5)
    mask = np.ones((64, 64), np.float32)
    out = manip.apply(manip.Manipulation.draw(kind, manip.rng_for(0, kind), 1.0), roi, source, mask, mask)
    spectrum = np.abs(np.fft.fft2(calibration.luma(out - roi)))
    spectrum[0, 0] = 0
    nyquist = max(spectrum[32, 32], spectrum[32, 0], spectrum[0, 32])
    assert nyquist < 0.05 * spectrum.max(), kind


def test_face_difference_and_kept_energy_by_hand():
    from add.data.demo.calibration import face_difference, kept_energy

    img = np.full((20, 30, 3), 10, np.uint8)
    ref = np.full((20, 30, 3), 7, np.uint8)
    ref[:, 15:] = 10  # the right half does not differ
    assert np.allclose(face_difference(img, ref, (0, 0, 15, 20)), 3.0)
    assert np.allclose(face_difference(img, ref, (15, 0, 30, 20)), 0.0)
    artifact = np.array([[2.0, -2.0], [2.0, -2.0]])  # energy 4
    noise = np.array([[1.0, 1.0], [-1.0, -1.0]])  # orthogonal to the artifact: encoding noise, not the artifact
    assert kept_energy(artifact, artifact) == pytest.approx(4.0)
    assert kept_energy(artifact, 0.5 * artifact + noise) == pytest.approx(1.0)  # half the amplitude: a quarter
    assert kept_energy(artifact, noise) == 0.0
    assert kept_energy(np.zeros((2, 2)), noise) == 0.0


def test_artifact_retention_per_kind(tree, clean_tree):
    from add.data.demo.calibration import artifact_retention

    kinds = meta(tree)["fakes"]["Deepfakes"]
    kept = artifact_retention(tree, clean_tree, "Deepfakes", indices=[0, 3])
    assert set(kept) == set(kinds.values()) | {"all"}
    for kind, e in kept.items():
        assert e["raw"] > 0 and e["kept"] == pytest.approx(e["c40"] / e["raw"]), (kind, e)
    # against the original the swap itself counts too: more energy than the artifacts alone
    whole = artifact_retention(tree, None, "Deepfakes", indices=[0, 3])
    assert whole["all"]["raw"] > kept["all"]["raw"]
    # c40 weakens the process's traces (the colour mismatch and the misaligned blend survive in part), not erases them
    assert 0.03 < kept["all"]["kept"] < 0.9, kept
    same = artifact_retention(tree, clean_tree, "Deepfakes", qualities=("raw", "raw"), indices=[0])
    assert all(e["kept"] == 1.0 for e in same.values())
    with pytest.raises(ValueError, match="strength-0 twin"):
        artifact_retention(tree, tree, "Deepfakes")
    with pytest.raises(ValueError, match="no fakes of 'FaceSwap'"):
        artifact_retention(tree, clean_tree, "FaceSwap")


def test_calibration_script_prints_the_energies_and_checks_the_targets(tree, clean_tree, tmp_path, capsys):
    calibration = calibration_script()
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"data": {"methods": ["Deepfakes"]}}))
    out = tmp_path / "calibration.json"
    twin = stamped_copy(clean_tree, tmp_path / "clean", calibration)
    assert calibration.main(["--params", str(params), "--demo", str(tree), "--clean", str(twin),
                             "--frames", "0", "4", "--skip-models", "--out", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert set(figures["artifacts"]) == set(meta(tree)["fakes"]["Deepfakes"].values()) | {"all"}
    assert figures["checks"] == []  # the kept energies are reported, not targets (issue 28)
    assert "c40 keeps" not in capsys.readouterr().out
    reach = {f"reachability_stage{i}": v for i, v in enumerate((0.5, 0.95, 0.2))}
    checks = calibration.checks({"models": {"teacher_raw": 0.97, "teacher_c40": 0.93, "student_c40": 0.9,
                                            "teacher_c23_c23": 0.9, "teacher_c23_c40": 0.8},
                                 "reachability": {"teacher": reach}})
    assert [(name, met) for name, _, _, met in checks] == [
        ("teacher val ACC on raw", True), ("teacher val ACC on c40", False),
        ("c23 teacher ACC drop c23 -> c40", True), ("plain c40 student val ACC", True),
        ("teacher reachability_stage0", True), ("teacher reachability_stage1", False),
        ("teacher reachability_stage2", True)]


def calibration_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("calibration", REPO / "bench" / "calibration.py")
    calibration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibration)
    return calibration


def stamped_copy(twin: Path, to: Path, calibration) -> Path:
    """A copy of the strength-0 ``twin`` stamped as built by the current demo code (as clean_twin stamps it)."""
    shutil.copytree(twin, to)
    (to / calibration.TWIN_STAMP).write_text(json.dumps({"code": calibration.demo_code_digest()}))
    return to


def test_the_calibrations_twin_is_reused_only_when_built_by_the_same_demo_code(tree, clean_tree, tmp_path):
    calibration = calibration_script()
    twin = stamped_copy(clean_tree, tmp_path / "clean", calibration)
    marker = twin / build.MARKER
    built = marker.stat().st_mtime_ns
    assert calibration.clean_twin(tree, twin) == twin and marker.stat().st_mtime_ns == built  # reused
    # a twin left by an earlier demo generator (same settings in its marker, other code) is rebuilt
    (twin / calibration.TWIN_STAMP).write_text(json.dumps({"code": "an earlier generator"}))
    assert calibration.clean_twin(tree, twin, jobs=2) == twin and marker.stat().st_mtime_ns != built
    assert json.loads((twin / calibration.TWIN_STAMP).read_text())["code"] == calibration.demo_code_digest()
    for video in ("000", "001"):
        assert (ffpp.video_path(twin, ffpp.ORIGINAL, "raw", video).read_bytes()
                == ffpp.video_path(clean_tree, ffpp.ORIGINAL, "raw", video).read_bytes())


def test_calibration_checks_the_acc_targets_on_the_mean_over_teacher_seeds():
    calibration = calibration_script()
    raw = calibration.over_seeds({0: {"raw": 1.0, "c40": 0.63}, 1: {"raw": 0.98, "c40": 0.71},
                                  2: {"raw": 0.99, "c40": 0.76}})
    assert raw["c40"]["mean"] == pytest.approx(0.7) and raw["c40"]["n"] == 3
    half = 4.302653 * raw["c40"]["sd"] / 3**0.5  # t_(0.975, 2)
    assert (raw["c40"]["t_low"], raw["c40"]["t_high"]) == pytest.approx((0.7 - half, 0.7 + half), abs=1e-5)
    c23 = calibration.over_seeds({0: {"drop": 0.125}, 1: {"drop": 0.30}})
    checks = calibration.checks({"seeds": {"teacher": {"summary": raw}, "teacher_c23": {"summary": c23}},
                                 "models": {"teacher_c40": 0.63}})
    assert [(name, met) for name, _, _, met in checks] == [
        ("teacher val ACC on raw, mean of 3 seeds", True), ("teacher val ACC on c40, mean of 3 seeds", True),
        ("c23 teacher ACC drop c23 -> c40, mean of 2 seeds", False), ("teacher val ACC on c40", False)]

class _Linear(torch.nn.Module):
    """A Detector-like toy: three 'stages', each a fixed linear map of the input."""

    def __init__(self, weights):
        super().__init__()
        self.weights = weights

    def features(self, x):
        maps = [w * x for w in self.weights]
        return x.sum(), maps, x.flatten(1)


def test_feature_reachability_on_toy_models():
    import importlib.util

    spec = importlib.util.spec_from_file_location("calibration", REPO / "bench" / "calibration.py")
    calibration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibration)
    g = torch.Generator().manual_seed(0)
    raw = [torch.randn(4, 3, 5, 5, generator=g) for _ in range(2)]
    c40 = [r + 0.5 * torch.randn(r.shape, generator=g) for r in raw]
    batches = [{"raw": r, "c40": c} for r, c in zip(raw, c40, strict=True)]
    teacher = _Linear([1.0, 2.0, 3.0])
    same = calibration.reachability(teacher, teacher, batches, "raw")
    assert all(same[f"reachability_{s}"] == pytest.approx(1.0) for s in calibration.STAGES)  # reference = teacher
    clean = calibration.reachability(teacher, _Linear([0.0, 0.0, 0.0]), [{"raw": r, "c40": r} for r in raw], "raw")
    assert all(clean[f"reachability_{s}"] == 0.0 for s in calibration.STAGES)  # c40 = raw: all reachable
    far = calibration.reachability(teacher, _Linear([1.0, 0.0, 6.0]), batches, "raw")
    noise = sum(float(((c - r) ** 2).sum()) for r, c in zip(raw, c40, strict=True))
    power = sum(float((r ** 2).sum()) for r in raw)
    n = sum(r.numel() for r in raw)
    assert far["mse_teacher_stage1"] == pytest.approx(4 * noise / n)
    assert far["mse_imagenet_stage1"] == pytest.approx(4 * power / n)  # the reference maps everything to 0
    assert far["reachability_stage0"] == pytest.approx(1.0)
    assert far["reachability_stage1"] == pytest.approx(noise / power)
    first = calibration.reachability(teacher, _Linear([0.0] * 3), batches, "raw", max_batches=1)
    assert first["mse_teacher_stage0"] == pytest.approx(float(((c40[0] - raw[0]) ** 2).mean()))
    with pytest.raises(ValueError, match="no batches"):
        calibration.reachability(teacher, teacher, [], "raw")
