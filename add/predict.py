"""``add predict``: score your own videos and images with a trained detector.

    add predict INPUT... --model models/student/Deepfakes/c40/add/best.pt [--frames 32] [--out FILE.json]
                [--cam DIR] [--batch-size 64] [--device cpu|cuda]

INPUT: video files (anything ffmpeg reads), images (.jpg .jpeg .png .webp .bmp) or folders (walked recursively in
sorted order, keeping files with a video or image suffix). The checkpoint's model card (:mod:`add.card`) says
everything else: the crop size, the input normalisation, the face detector settings and the decision threshold.

Faces are found exactly as extraction finds them for training (:func:`add.data.faces.face_crops`, one function for
both): ``--frames`` frames sampled evenly, decoded in one ffmpeg pass, dlib's largest face with the card's threshold
and size rules, the square ``box_scale`` x box, resized to the card's image size; frames without a face take the box
of the nearest frame with one. An image is a one-frame input. The crops of an input go through the model in batches
of ``--batch-size``; its score is the mean P(fake) of its frames and it is labelled fake when that is above the
card's threshold.

Output (``--out``, written atomically; else stdout)::

    {"model": {card..., "checkpoint": path},
     "results": [{"input", "status": "ok" | "no_face" | "error", "error": message or null,
                  "score": P(fake) or null, "label": "fake" | "real" | null,
                  "frames": [{"index", "time", "box": [x0, y0, x1, y1], "score"}]}]}

A bad input (unreadable, truncated, empty, not a video or image) gets status ``error`` and a message naming the file,
a video without a face ``no_face``; the others are still scored. Exit status: 0 when every input was processed
(``no_face`` included), 1 when any input is an ``error``, 2 for usage errors (bad options, an unusable ``--model``,
no inputs). ``--cam DIR`` writes a Grad-CAM overlay (:mod:`add.gradcam`) per scored face:
``DIR/{n:03d}-{input name}/{frame index:06d}.png`` (face | overlay, the class the model predicts), n the input's
position in ``results``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from add.card import Card, read_card
from add.data.extract.config import sample_indices
from add.data.faces import Box, crop, face_crops
from add.data.video import probe, read_frames
from add.errors import AddError
from add.io import atomic_write_bytes, atomic_write_text
from add.models import Detector

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ts",
                  ".mts", ".m2ts", ".gif")
DEFAULT_FRAMES = 32
DEFAULT_BATCH = 64
CAM_SIDE = 192  # each half of a --cam image: the crop enlarged so the map can be seen


class PredictError(AddError):
    """An input cannot be scored (the message names it), or the command cannot start."""


@dataclass
class Faces:
    """The scored faces of one input: frame indices, times (s), boxes and ``N x S x S x 3`` RGB uint8 crops."""

    indices: list[int]
    times: list[float]
    boxes: list[Box]
    crops: np.ndarray


# ------------------------------------------------------------------------------------------------------ inputs
def list_inputs(paths: Sequence[str | os.PathLike]) -> tuple[list[Path], list[str]]:
    """Files to score, in order (folders walked recursively, sorted, media suffixes only; hidden entries skipped),
    and warnings about folders that held none. A path that does not exist is kept: it becomes an ``error``."""
    found, warnings = [], []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            found.append(path)
            continue
        inside = sorted(p for p in path.rglob("*") if p.is_file()
                        and not any(part.startswith(".") for part in p.relative_to(path).parts)
                        and p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
        if not inside:
            warnings.append(f"{path}: no video or image files in this folder")
        found += inside
    return found, warnings


def read_image(path: Path) -> np.ndarray:
    """An RGB uint8 image (EXIF orientation applied, alpha dropped, grey expanded)."""
    try:
        blob = np.fromfile(path, np.uint8)
    except OSError as e:
        raise PredictError(f"{path}: cannot read it: {e.strerror or e}") from None
    image = cv2.imdecode(blob, cv2.IMREAD_COLOR) if blob.size else None
    if image is None:
        raise PredictError(f"{path}: not a readable image ({'empty file' if not blob.size else 'cannot decode it'})")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def find_faces(path: Path, card: Card, frames: int) -> Faces | None:
    """The face crops of an image or of ``frames`` evenly sampled frames of a video; None when there is no face.
    Raises an AddError naming the file when it cannot be read."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = read_image(path)
        height, width = image.shape[:2]
        indices, fps = [0], None

        def read(wanted: list[int]) -> Iterator[tuple[int, np.ndarray]]:
            yield from ((i, image) for i in wanted)
    else:
        info = probe(path)  # raises VideoError: missing, empty, not a video, truncated
        width, height, fps = info.width, info.height, info.fps
        indices = sample_indices(info.frames, frames, "even")

        def read(wanted: list[int]) -> Iterator[tuple[int, np.ndarray]]:
            return read_frames(path, wanted, info)

    found = face_crops(read, indices, width, height, card.faces, lambda frame, box: crop(frame, box, card.image_size))
    if found is None:
        return None
    boxes, crops = found
    order = [b.frame for b in boxes]
    return Faces(order, [round(i / fps, 4) if fps else 0.0 for i in order], [b.box for b in boxes],
                 np.stack([crops[i] for i in order]))


# ------------------------------------------------------------------------------------------------------- model
class Scorer:
    """The detector of a checkpoint with its card, on ``device``: P(fake) of crops in batches, Grad-CAM maps."""

    def __init__(self, model: Detector, card: Card, device: torch.device, batch_size: int = DEFAULT_BATCH):
        self.model, self.card, self.device, self.batch_size = model.to(device).eval(), card, device, batch_size

    @classmethod
    def load(cls, checkpoint: str | os.PathLike, device: str | None = None, batch_size: int = DEFAULT_BATCH
             ) -> Scorer:
        from add.trainer.checkpoints import load_detector

        model, meta = load_detector(checkpoint)
        card = read_card(meta, checkpoint)
        if card.model != model.name:
            raise PredictError(f"{checkpoint}: the model card says {card.model!r}, the weights are {model.name!r}")
        return cls(model, card, torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu")),
                   batch_size)

    def batches(self, crops: np.ndarray) -> Iterator[torch.Tensor]:
        for start in range(0, len(crops), self.batch_size):
            yield self.card.to_input(crops[start:start + self.batch_size]).to(self.device)

    @torch.no_grad()
    def scores(self, crops: np.ndarray) -> np.ndarray:
        """P(fake) per crop (float64), as ``add evaluate`` computes it: softmax of the float32 logits."""
        out = [torch.softmax(self.model(x).float(), dim=1)[:, 1].double().cpu().numpy() for x in self.batches(crops)]
        return np.concatenate(out) if out else np.zeros(0)

    def cams(self, crops: np.ndarray) -> np.ndarray:
        """Grad-CAM maps (``N x S x S`` in [0, 1]) for the class the model predicts on each crop."""
        from add.gradcam import grad_cam

        return np.concatenate([grad_cam(self.model, x) for x in self.batches(crops)])


def write_cams(folder: Path, faces: Faces, maps: np.ndarray) -> None:
    from add.gradcam import overlay

    for index, face, cam in zip(faces.indices, faces.crops, maps, strict=True):
        big_face = cv2.resize(face, (CAM_SIDE, CAM_SIDE), interpolation=cv2.INTER_CUBIC)
        big_cam = cv2.resize(cam, (CAM_SIDE, CAM_SIDE), interpolation=cv2.INTER_LINEAR)
        pair = np.concatenate([big_face, overlay(big_face, big_cam)], axis=1)
        ok, png = cv2.imencode(".png", cv2.cvtColor(pair, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError("cv2.imencode failed to encode a PNG")
        atomic_write_bytes(folder / f"{index:06d}.png", png.tobytes())


def cam_folder(root: Path, position: int, path: Path) -> Path:
    return root / f"{position:03d}-{re.sub(r'[^A-Za-z0-9._-]+', '_', path.name)[:80]}"


# --------------------------------------------------------------------------------------------------------- run
def score_input(path: Path, scorer: Scorer, frames: int, cam_dir: Path | None = None, position: int = 0
                ) -> dict[str, Any]:
    """The result entry of one input; a bad input gives status ``error`` with a message naming it, never raises
    (but for KeyboardInterrupt and the like)."""
    result: dict[str, Any] = {"input": str(path), "status": "ok", "error": None, "score": None, "label": None,
                              "frames": []}
    try:
        faces = find_faces(path, scorer.card, frames)
        if faces is None:
            what = "the image" if path.suffix.lower() in IMAGE_SUFFIXES else f"any of the {frames} sampled frames"
            result.update(status="no_face", error=f"{path}: no face found in {what} (dlib score >= "
                                                  f"{scorer.card.faces.threshold:g})")
            return result
        scores = scorer.scores(faces.crops)
        if not np.isfinite(scores).all():
            raise PredictError(f"{path}: the model gives non-finite outputs")
        score = float(np.mean(scores))
        result.update(score=score, label="fake" if score > scorer.card.threshold else "real",
                      frames=[{"index": i, "time": t, "box": [int(v) for v in box], "score": float(s)}
                              for i, t, box, s in zip(faces.indices, faces.times, faces.boxes, scores, strict=True)])
        if cam_dir is not None:
            write_cams(cam_folder(cam_dir, position, path), faces, scorer.cams(faces.crops))
    except Exception as e:  # one bad input never stops the batch
        message = str(e) if str(path) in str(e) else f"{path}: {type(e).__name__}: {e}"
        result.update(status="error", error=message, score=None, label=None, frames=[])
    return result


def run(inputs: Sequence[Path], scorer: Scorer, frames: int = DEFAULT_FRAMES, cam_dir: Path | None = None,
        checkpoint: str | os.PathLike = "", progress: bool = True) -> dict[str, Any]:
    results = []
    counts = {"ok": 0, "no_face": 0, "error": 0}
    with tqdm(inputs, desc="predict", unit="input", disable=not progress) as bar:
        for position, path in enumerate(bar):
            results.append(score_input(path, scorer, frames, cam_dir, position))
            counts[results[-1]["status"]] += 1
            bar.set_postfix(counts)
    return {"model": {**scorer.card.to_json(), "checkpoint": str(checkpoint)}, "results": results}


def to_json(obj: Any, indent: int = 0, width: int = 100) -> str:
    """JSON that reads like a table: a value whose one-line form fits in ``width`` stays on one line (a frame, a
    box), larger containers put one member per line."""
    flat = json.dumps(obj)
    if indent + len(flat) <= width or not isinstance(obj, dict | list) or not obj:
        return flat
    pad = " " * (indent + 2)
    if isinstance(obj, dict):
        members = [f"{pad}{json.dumps(k)}: {to_json(v, indent + 2, width)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(members) + "\n" + " " * indent + "}"
    members = [pad + to_json(v, indent + 2, width) for v in obj]
    return "[\n" + ",\n".join(members) + "\n" + " " * indent + "]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="add predict", description=__doc__.split("\n\n")[0],
                                     epilog="Exit status: 0 every input processed (no_face included), 1 an input "
                                     "is an error, 2 usage error.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, images or folders")
    parser.add_argument("--model", required=True, help="checkpoint (best.pt) written by add train / add distill")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES,
                        help="frames sampled evenly per video (default: %(default)s)")
    parser.add_argument("--out", default=None, help="JSON report (default: stdout)")
    parser.add_argument("--cam", default=None, metavar="DIR", help="write a Grad-CAM overlay per scored face here")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="crops per forward (default: "
                        "%(default)s)")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.frames < 1 or args.batch_size < 1:
        parser.error("--frames and --batch-size must be >= 1")
    if args.device is not None and not re.fullmatch(r"cpu|cuda(:\d+)?", args.device):
        parser.error(f"--device must be cpu, cuda or cuda:N, got {args.device!r}")
    inputs, warnings = list_inputs(args.inputs)
    for warning in warnings:
        print(f"add predict: warning: {warning}", file=sys.stderr)
    try:
        if not inputs:
            raise PredictError("no inputs to score (the folders given hold no video or image files)")
        if args.device and args.device.startswith("cuda") and not torch.cuda.is_available():
            raise PredictError(f"--device {args.device}: CUDA is not available on this machine")
        scorer = Scorer.load(args.model, args.device, args.batch_size)
    except AddError as e:
        print(f"add predict: error: {e}", file=sys.stderr)
        return 2
    report = run(inputs, scorer, args.frames, Path(args.cam) if args.cam else None, args.model,
                 progress=not args.quiet)
    text = to_json(report) + "\n"
    if args.out:
        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return 1 if any(r["status"] == "error" for r in report["results"]) else 0
