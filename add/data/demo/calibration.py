"""How much of each fake's process traces a compressed quality keeps (a figure of the demo's calibration, issues 20
and 28): the energy of a fake minus its strength-0 twin (the same manipulation made by a perfect process: issue 28's
fakes carry no planted pattern, so the difference is what the process's imperfections leave — colour mismatch,
alignment error, resampling blur, generator pass, blend edge) at raw, and what c40 keeps of it.

A measurement only: the videos stage never runs it (so changing it does not rebuild the demo).

    artifact_retention(demo_root, clean_root, "Deepfakes")   # {kind: {"raw": e, "c40": e, "kept": c40 / raw}}
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from add.data import ffpp
from add.data.demo.build import MARKER
from add.data.demo.rendering import N_IDENTITIES, Scene, identity_name
from add.data.video_io import read_frames


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def highpass(gray: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    gray = gray.astype(np.float32)
    return gray - cv2.GaussianBlur(gray, (0, 0), sigma)


def hf_energy(img: np.ndarray, box: tuple[int, int, int, int], sigma: float = 1.0) -> float:
    """Mean squared high-pass (``x - Gaussian(x, sigma)``) luma inside ``box`` (x0, y0, x1, y1), in 8-bit levels
    squared."""
    x0, y0, x1, y1 = box
    return float(np.mean(highpass(luma(img)[y0:y1, x0:x1], sigma) ** 2))


def face_difference(img: np.ndarray, reference: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Luma ``img - reference`` inside ``box`` (x0, y0, x1, y1), float32 in 8-bit levels: what ``img`` adds to
    ``reference`` (a fake over its strength-0 twin: the process's traces)."""
    x0, y0, x1, y1 = box
    return luma(img)[y0:y1, x0:x1] - luma(reference)[y0:y1, x0:x1]


def kept_energy(artifact: np.ndarray, compressed: np.ndarray) -> float:
    """Mean energy (levels squared) of the part of ``compressed`` that is ``artifact`` scaled: ``g² · mean(a²)`` with
    the least-squares gain ``g = <c, a> / <a, a>``.

    ``compressed`` is the same difference after compression. Projecting onto the raw artifact leaves out what the
    two lossy encodings add on their own (their quantisation noise differs and does not cancel in the difference,
    so the plain energy of ``compressed`` has a floor: on the pre-issue-20 demo it read 85-114 % "kept" for artifacts
    c40 erases). ``g = 1`` for ``compressed = artifact``, 0 when nothing of it is left."""
    a, c = artifact.astype(np.float64).ravel(), compressed.astype(np.float64).ravel()
    power = float(a @ a)
    if power <= 0:
        return 0.0
    gain = float(a @ c) / power
    return gain * gain * power / a.size


def _check_twin(root: Path, clean_root: Path, meta: dict) -> None:
    clean = json.loads((clean_root / MARKER).read_text(encoding="utf-8"))
    same = {k: v for k, v in meta["config"].items() if k != "strength"} == {
        k: v for k, v in clean["config"].items() if k != "strength"}
    if not same or clean["config"]["strength"] != 0:
        raise ValueError(f"{clean_root} is not the strength-0 twin of {root} (compare their {MARKER})")


def artifact_energy(root: str | os.PathLike, clean_root: str | os.PathLike, method: str, fake: str,
                    qualities: Sequence[str] = ffpp.QUALITIES, indices: Sequence[int] | None = None
                    ) -> dict[str, float]:
    """Fine-scale artifact energy per quality: mean over frames of the energy of the high-passed luma difference
    ``fake - clean fake`` in the face box (levels squared), each quality's projected on raw's (``kept_energy``, so
    the two lossy encodings' own noise is left out; the first quality's is the plain energy).

    ``clean_root`` is a demo tree built with the same arguments but ``strength=0`` (same identities, motion and
    swaps; a perfect process: no colour mismatch, alignment error, resampling blur, generator pass or hardened
    edge), so identity differences cancel and what is left is the process's fine-scale traces as that quality keeps
    them. Frames ``indices`` (default all). The face box comes from the demo's own geometry (``demo.json`` and the
    scene), no detector involved.
    """
    root, clean_root = Path(root), Path(clean_root)
    meta = json.loads((root / MARKER).read_text(encoding="utf-8"))
    _check_twin(root, clean_root, meta)
    cfg = meta["config"]
    target = fake.split("_")[0]
    identity = {identity_name(i): i for i in range(N_IDENTITIES)}[meta["identities"][target]]
    scene = Scene(cfg["seed"], target, identity, cfg["width"], cfg["height"], cfg["fps"])
    indices = sorted(set(range(cfg["frames"]) if indices is None else indices))
    diffs = {}
    for quality in qualities:
        fakes = read_frames(ffpp.video_path(root, method, quality, fake), indices)
        cleans = read_frames(ffpp.video_path(clean_root, method, quality, fake), indices)
        diffs[quality] = [highpass(face_difference(f, c, scene.face_box(i)))
                          for (i, f), (_, c) in zip(fakes, cleans, strict=True)]
    return {q: float(np.mean([kept_energy(a, c) for a, c in zip(diffs[qualities[0]], diffs[q], strict=True)]))
            for q in qualities}


def artifact_retention(root: str | os.PathLike, clean_root: str | os.PathLike | None, method: str, *,
                       qualities: Sequence[str] = ("raw", "c40"), indices: Sequence[int] | None = None
                       ) -> dict[str, dict[str, float]]:
    """Per artifact kind of ``method``'s fakes: the energy of the artifact ``fake - reference`` in the face box as
    each quality keeps it (:func:`kept_energy` against the first quality's difference, so the first is the plain
    energy; mean over that kind's fakes and the frames ``indices``, default all) and ``kept``: the energy at the last
    quality over that at the first (``c40 / raw`` by default). Also under ``"all"``: every fake together.

    ``reference``: with ``clean_root`` (the demo built with the same arguments and ``strength=0``: same identities,
    motion and swaps, a perfect process; see :func:`artifact_energy`) the same fake without the
    process's imperfections, so the difference is their traces as that quality keeps them; with ``clean_root=None``
    the target's original, so it is the whole manipulation (swap included). At a lossy quality the two encodings'
    own noise does not cancel; the projection of :func:`kept_energy` leaves it out. The face box comes from the
    demo's own geometry (no detector).
    """
    root = Path(root)
    meta = json.loads((root / MARKER).read_text(encoding="utf-8"))
    if clean_root is not None:
        _check_twin(root, Path(clean_root), meta)
    cfg = meta["config"]
    kinds = meta["fakes"].get(method)
    if not kinds:
        raise ValueError(f"{root}: the demo has no fakes of {method!r} (methods: {sorted(meta['fakes'])})")
    identities = {identity_name(i): i for i in range(N_IDENTITIES)}
    indices = sorted(set(range(cfg["frames"]) if indices is None else indices))
    energies: dict[str, dict[str, list[float]]] = {}
    for fake, kind in sorted(kinds.items()):
        target = fake.split("_")[0]
        scene = Scene(cfg["seed"], target, identities[meta["identities"][target]], cfg["width"], cfg["height"],
                      cfg["fps"])
        diffs = {}
        for quality in qualities:
            fakes = read_frames(ffpp.video_path(root, method, quality, fake), indices)
            reference = (ffpp.video_path(root, ffpp.ORIGINAL, quality, target) if clean_root is None
                         else ffpp.video_path(clean_root, method, quality, fake))
            diffs[quality] = [face_difference(f, r, scene.face_box(i))
                              for (i, f), (_, r) in zip(fakes, read_frames(reference, indices), strict=True)]
        for quality in qualities:
            values = [kept_energy(a, c) for a, c in zip(diffs[qualities[0]], diffs[quality], strict=True)]
            for group in (kind, "all"):
                energies.setdefault(group, {}).setdefault(quality, []).extend(values)
    out = {}
    for group, per_quality in energies.items():
        means = {q: float(np.mean(v)) for q, v in per_quality.items()}
        first, last = means[qualities[0]], means[qualities[-1]]
        out[group] = {**means, "kept": last / first if first > 0 else float("nan")}
    return out
