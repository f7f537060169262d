"""Stage ``cross_demo``: the demo's cross-dataset set under ``data/demo_cross``.

    add cross_demo                   # params.yaml: data.source, seed, demo.pairs, demo.strength

With ``data.source: demo`` it builds the set from the seed (its faces are those the training demo's plan does not
draw, from ``seed`` and ``demo.pairs``; its swaps use ``demo.strength``); with ``data.source: ffpp`` the folder (a
DVC output) is left empty.

The set is a small test-only tree in Celeb-DF's layout, made offline from the seed. It answers the cross-dataset
question on the demo: models trained on the demo tree (:mod:`add.data.demo.build`) are scored on videos they never
saw from a different "dataset":

- **new identities**: face photos the training demo does not use (the usable photos minus those its plan draws);
- **other footage**: other scenes, a 640x360 frame instead of 854x480, stored as H.264 at CRF 23 (Celeb-DF ships
  compressed MPEG-4, not lossless footage);
- **a manipulation family the training demo does not contain**: ``lowres_blend``, a Celeb-DF-like improved
  synthesis: the source face fully colour-matched, generated at a third of the resolution and upsampled bicubically
  (as blurred as the training Deepfakes' generator leaves it, but with no colour mismatch, no alignment error and no
  hardened blend edge), pasted with a feathered mask that jitters by a sub-pixel amount from frame to frame (the
  temporal flicker Celeb-DF's fakes are known for). Half of the fakes are ``lowres_blend``, half the training
  demo's graphics ``swap`` (FaceSwap's kind, with the new identities), so the table tells an unseen family from
  unseen faces.

Files (Celeb-DF v2 layout, :mod:`add.data.datasets.formats.celebdf` reads it): ``Celeb-real/id{i}_0000.mp4``,
``YouTube-real/{n:05d}.mp4``, ``Celeb-synthesis/id{a}_id{b}_0000.mp4``, ``List_of_testing_videos.txt`` (Celeb-DF's
convention: 1 = real, 0 = fake) and ``cross_demo.json`` (the photo behind each id and the family of each fake).
Byte-identical for the same seed and demo params; written into a temporary folder that replaces ``root`` at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from add.core.args import stage_parser
from add.core.determinism import usable_cpus
from add.core.errors import AddError
from add.core.io import atomic_write_json, atomic_write_text, replace_tree
from add.core.layout import CROSS_DEMO_ROOT
from add.core.params import Params, load_params
from add.data.demo import manipulations as manip
from add.data.demo import rendering
from add.data.demo.planning import DemoConfig, plan
from add.data.demo.rendering import Scene, _to_u8, face_patch, identity_name, usable_identities
from add.data.seeds import rng_for
from add.data.video_io import write_video

MARKER = "cross_demo.json"
VERSION = 1
WIDTH, HEIGHT, FPS, FRAMES = 640, 360, 25.0, 16
CELEB_REAL, YOUTUBE_REAL, FAKES = 3, 1, 4  # videos of each kind
FAMILIES = ("lowres_blend", "swap")  # lowres_blend is not in the training demo (manipulations.KINDS)
LOWRES_FACTOR = 3
JITTER_PX = 0.6


def lowres_blend(roi: np.ndarray, source: np.ndarray, soft_mask: np.ndarray, jitter: tuple[float, float]
                 ) -> np.ndarray:
    """``source`` (warped to the target's pose) colour-matched to ``roi`` under the mask, made at 1/3 resolution and
    upsampled bicubically, pasted with the feathered mask shifted by ``jitter`` (x, y) px."""
    h, w = roi.shape[:2]
    mask = cv2.warpAffine(soft_mask, np.float32([[1, 0, jitter[0]], [0, 1, jitter[1]]]), (w, h),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    face = source + (manip.masked_mean(roi, mask) - manip.masked_mean(source, mask))
    small = cv2.resize(face, (max(1, w // LOWRES_FACTOR), max(1, h // LOWRES_FACTOR)), interpolation=cv2.INTER_AREA)
    face = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    m = mask[..., None]
    return np.clip(roi * (1 - m) + face * m, 0, 1).astype(np.float32)


def _fake_frames(scene: Scene, source_identity: int, family: str, rng: np.random.Generator, strength: float
                 ) -> Iterator[np.ndarray]:
    if family == "swap":
        swap = manip.Manipulation.draw("swap", rng, strength)
        source = rendering.source_layer(scene, source_identity, swap)
        for i in range(FRAMES):
            frame, geo = scene.frame(i)
            yield rendering.manipulate_frame(scene, i, frame, geo, swap, source)
        return
    source = face_patch(source_identity, scene.size)
    jitters = rng.uniform(-JITTER_PX, JITTER_PX, (FRAMES, 2))
    for i in range(FRAMES):
        frame, geo = scene.frame(i)
        x0, y0, x1, y1 = box = scene.face_box(i)
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            soft = scene.warp(scene.subject.inner_soft, geo.matrix, box)
            warped = scene.warp(source, geo.matrix, box, scene.subject.face_origin)
            roi = frame[y0:y1, x0:x1].astype(np.float32) / 255
            frame[y0:y1, x0:x1] = _to_u8(lowres_blend(roi, warped, soft, tuple(jitters[i])))
        yield frame


def plan_cross(seed: int, demo: DemoConfig) -> dict:
    """Identities (usable photos the training demo does not use: its plan draws them from ``demo.seed`` and
    ``demo.pairs`` alone), videos and fake families, from the seed."""
    used = set(plan(demo, ())[1].values())
    fresh = [i for i in usable_identities() if i not in used]
    n_ids = CELEB_REAL + YOUTUBE_REAL
    if len(fresh) < n_ids:
        raise AddError(f"the demo's cross set needs {n_ids} face photos the training demo does not use, but only "
                       f"{len(fresh)} are left; lower demo.pairs")
    chosen = [fresh[j] for j in rng_for(seed, "cross-demo", "identities").permutation(len(fresh))[:n_ids]]
    ids = {f"id{k}": int(identity) for k, identity in enumerate(chosen[:CELEB_REAL])}
    youtube = {f"{k:05d}": int(identity) for k, identity in enumerate(chosen[CELEB_REAL:])}
    pairs = [(f"id{k % CELEB_REAL}", f"id{(k + 1) % CELEB_REAL}") for k in range(FAKES)]
    fakes = {f"{a}_{b}_{k // CELEB_REAL:04d}": {"target": a, "source": b, "family": FAMILIES[k % len(FAMILIES)]}
             for k, (a, b) in enumerate(pairs)}
    return {"celeb_real": ids, "youtube_real": youtube, "fakes": fakes}


def _write(task: tuple[str, str, int, dict | None], root: Path, seed: int, strength: float, ids: dict) -> str:
    relpath, scene_id, identity, fake = task
    scene = Scene(seed, f"cross-demo/{scene_id}", identity, WIDTH, HEIGHT, FPS)
    if fake is None:
        frames = scene.frames(FRAMES)
    else:
        rng = rng_for(seed, "cross-demo", "fake", relpath)
        frames = _fake_frames(scene, ids[fake["source"]], fake["family"], rng, strength)
    write_video(root / relpath, frames, fps=FPS, quality="c23")
    return relpath


def build_cross_demo(root: str | os.PathLike, *, seed: int, demo: DemoConfig, jobs: int = 0, progress: bool = True
                     ) -> Path:
    """Build the cross set at ``root`` (replacing a previous one; refusing a folder that is not one)."""
    root = Path(root)
    if root.exists() and (not root.is_dir() or (any(root.iterdir()) and not (root / MARKER).is_file())):
        raise AddError(f"{root}: exists and is not the demo's cross set (no {MARKER}); refusing to replace it")
    layout = plan_cross(seed, demo)
    ids = layout["celeb_real"]
    tasks = [(f"Celeb-real/{i}_0000.mp4", i, identity, None) for i, identity in ids.items()]
    tasks += [(f"YouTube-real/{n}.mp4", f"yt{n}", identity, None) for n, identity in layout["youtube_real"].items()]
    tasks += [(f"Celeb-synthesis/{name}.mp4", fake["target"], ids[fake["target"]], fake)
              for name, fake in layout["fakes"].items()]
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-", dir=root.parent))
    try:
        with ThreadPoolExecutor(max(1, min(jobs or usable_cpus(), len(tasks)))) as pool, \
                tqdm(total=len(tasks), desc="demo cross set", unit="video", disable=not progress) as bar:
            for done in pool.map(lambda t: _write(t, tmp, seed, demo.strength, ids), tasks):
                bar.set_postfix_str(done, refresh=False)
                bar.update()
        lines = [f"{0 if task[3] else 1} {task[0]}" for task in tasks]  # Celeb-DF: 1 = real, 0 = fake
        atomic_write_text(tmp / "List_of_testing_videos.txt", "\n".join(lines) + "\n")
        photos = {**{k: identity_name(v) for k, v in ids.items()},
                  **{k: identity_name(v) for k, v in layout["youtube_real"].items()}}
        atomic_write_json(tmp / MARKER, {"version": VERSION, "seed": seed, "strength": demo.strength,
                                         "size": [WIDTH, HEIGHT], "fps": FPS, "frames": FRAMES,
                                         "photos": photos, "fakes": layout["fakes"]})
        replace_tree(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def describe(root: str | os.PathLike) -> dict:
    return json.loads((Path(root) / MARKER).read_text(encoding="utf-8"))


def settings(params: Params) -> DemoConfig | None:
    """All the stage reads from the params: None for FF++, else the training demo's seed, pairs and strength."""
    if params.data.source != "demo":
        return None
    return DemoConfig(seed=params.seed, pairs=tuple(params.demo.pairs), strength=params.demo.strength)


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add cross_demo", __doc__)
    parser.add_argument("--out", default=CROSS_DEMO_ROOT, help="folder to build it in (default: %(default)s)")
    args = parser.parse_args(argv)
    demo = settings(load_params(args.params))
    root = Path(args.out)
    if demo is not None:
        build_cross_demo(root, seed=demo.seed, demo=demo)
        print(f"demo cross set: {root}")
        return 0
    if root.exists() and any(root.iterdir()) and not (root / MARKER).is_file():
        raise AddError(f"{root}: not the demo's cross set (no {MARKER}); refusing to empty it")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    print(f"demo cross set: none (data.source is not demo); {root} left empty")
    return 0
