"""Building the demo tree: every video written (in parallel threads), the splits and ``demo.json``, all or nothing;
and measuring what each quality keeps of a fake's artifacts."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from add.core.determinism import usable_cpus
from add.core.errors import AddError
from add.core.io import atomic_write_json, replace_tree
from add.core.params import ParamsError
from add.data import ffpp
from add.data.demo import manipulations as manip
from add.data.demo.planning import DemoConfig, VideoTask, plan
from add.data.demo.rendering import Scene, fake_frames, identity_name
from add.data.video_io import compress, write_video

MARKER = "demo.json"
SCRATCH = ".scratch"  # raw files kept only until compressed when raw is not a requested quality
VERSION = 1


# ---------------------------------------------------------------------------------------------------- build


def _write_task(task: VideoTask, root: str, config: dict[str, Any]) -> str:
    seed, frames = config["seed"], config["frames"]
    scene = Scene(seed, task.target, task.target_identity, config["width"], config["height"], config["fps"])
    if task.method is None:
        method, stream = ffpp.ORIGINAL, scene.frames(frames)
    else:
        method = task.method
        m = manip.Manipulation.draw(task.kind, manip.rng_for(seed, "fake", method, task.name), config["strength"])
        stream = fake_frames(scene, task.source_identity, m, frames)
    keep_raw = "raw" in config["qualities"]
    # c23/c40 are always compressed from the raw file; an unrequested raw lives in a scratch folder meanwhile.
    raw = (ffpp.video_path(root, method, "raw", task.name) if keep_raw
           else Path(root, SCRATCH, method, f"{task.name}.mp4"))
    write_video(raw, stream, fps=config["fps"], quality="raw")
    for quality in config["qualities"]:
        if quality != "raw":
            compress(raw, ffpp.video_path(root, method, quality, task.name), quality)
    if not keep_raw:
        raw.unlink()
    return f"{method}/{task.name}"


def build_demo(root: str | os.PathLike, *, seed: int, pairs: Sequence[int] = (16, 4, 4), frames: int = 32,
               width: int = 854, height: int = 480, fps: float = 25, methods: Sequence[str] = ("Deepfakes",),
               qualities: Sequence[str] = ffpp.QUALITIES, jobs: int = 0, strength: float = 1.0,
               progress: bool = True) -> Path:
    """Build the demo tree at ``root`` (replacing a previous demo tree there); returns ``root``.

    Byte-identical for the same arguments (``jobs`` and ``progress`` aside). Raises ParamsError for nonsense
    arguments and AddError when ``root`` exists and is not a demo tree.
    """
    config = DemoConfig(seed=seed, pairs=tuple(pairs), frames=frames, width=width, height=height, fps=fps, jobs=jobs,
                        strength=strength)
    methods = tuple(methods)
    if not methods or len(set(methods)) != len(methods) or any(m not in ffpp.METHODS for m in methods):
        raise ParamsError(f"demo methods must be distinct names from {list(ffpp.METHODS)}, got {list(methods)}")
    if not qualities or any(q not in ffpp.QUALITIES for q in qualities):
        raise ParamsError(f"demo qualities must be a non-empty subset of {list(ffpp.QUALITIES)}, got {qualities}")
    qualities = tuple(q for q in ffpp.QUALITIES if q in set(qualities))
    root = Path(root)
    if root.exists() and (not root.is_dir() or (any(root.iterdir()) and not (root / MARKER).is_file())):
        raise AddError(f"{root}: exists and is not a demo tree (no {MARKER}); refusing to replace it — "
                       "remove it or choose another demo root")

    splits, identities, kinds = plan(config, methods)
    tasks = [VideoTask(None, id_, None, identity, None, None) for id_, identity in identities.items()]
    for method in methods:
        for fake, kind in kinds[method].items():
            a, b = fake.split("_")
            tasks.append(VideoTask(method, a, b, identities[a], identities[b], kind))
    worker_config = {**asdict(config), "qualities": qualities}

    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-", dir=root.parent))
    try:
        jobs = min(config.jobs or usable_cpus(), len(tasks))
        with tqdm(total=len(tasks), desc="demo videos", unit="video", disable=not progress) as bar:
            if jobs <= 1:
                for task in tasks:
                    bar.set_postfix_str(_write_task(task, str(tmp), worker_config), refresh=False)
                    bar.update()
            else:
                with ThreadPoolExecutor(jobs, thread_name_prefix="demo") as pool:
                    futures = [pool.submit(_write_task, task, str(tmp), worker_config) for task in tasks]
                    try:
                        for future in as_completed(futures):
                            bar.set_postfix_str(future.result(), refresh=False)
                            bar.update()
                    except BaseException:
                        for future in futures:
                            future.cancel()
                        raise
        shutil.rmtree(tmp / SCRATCH, ignore_errors=True)
        for split, split_pairs in splits.items():
            atomic_write_json(tmp / "splits" / f"{split}.json", split_pairs)
        atomic_write_json(tmp / MARKER, {
            "version": VERSION,
            "config": {**asdict(config), "pairs": list(config.pairs), "methods": list(methods),
                       "qualities": list(qualities), "jobs": None},
            "identities": {id_: identity_name(identity) for id_, identity in identities.items()},
            "fakes": kinds,
        })
        replace_tree(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


# ---------------------------------------------------------------------------------------------------- measure
