"""``add predict``: score your own videos and images with a trained detector.

    add predict INPUT... --model models/student/Deepfakes/c40/add/best.pt [--frames 32] [--out FILE.json]
                [--report FILE.html] [--cam DIR] [--batch-size 64] [--device cpu|cuda] [--crops]

INPUT: video files (anything ffmpeg reads), images (:data:`IMAGE_SUFFIXES`) or folders (walked recursively in sorted
order, keeping files with a video or image suffix; what a walk leaves out is listed under ``skipped``, with why). The
checkpoint's model card (:mod:`add.models.card`) says everything else: the crop size, the input normalisation, the face
detector settings and the decision threshold.

Faces are found exactly as extraction finds them for training (:func:`add.data.faces.face_crops`, one function for
both): ``--frames`` frames sampled evenly among the frames that decode (:mod:`add.data.video_io`: upright, display
rotation applied), decoded in one ffmpeg pass, the first-ranked face (:func:`add.data.faces.rank_faces`: size, score
between near-equal sizes) with the card's threshold and size rules, the square ``box_scale`` x box, resized to the
card's image size; frames without a face take the box of the nearest frame with one (``"face": "borrowed"``). An
image is a one-frame input, decoded at a bounded size (JPEGs larger than :data:`MAX_IMAGE_SIDE` are decoded at 1/2,
1/4 or 1/8 scale; boxes are still given in the image's own pixels). The crops of an input go through the model in
batches of ``--batch-size``; its score is the mean P(fake) of its frames and it is labelled fake when that is above
the card's threshold. An image in which nothing is found is searched once more padded (a face that fills the
image, as in a face crop, lacks the margin dlib needs: :meth:`add.data.faces.FaceSettings.detect_padded`); ``note``
then says so. ``--crops``: every image and video frame is a face crop already (DFDC's face sets): nothing is detected,
each frame's largest centred square (the whole image when square) is resized to the card's image size, ``face`` is
``"given"`` and ``coverage`` null.

Output (``--out``, written atomically; else stdout)::

    {"model": {card..., "checkpoint": path},
     "skipped": [{"path", "reason"}],            # files a folder walk left out
     "results": [{"input", "status": "ok" | "low_coverage" | "no_face" | "error", "error": message or null,
                  "note": message or null, "score": P(fake) or null, "label": "fake" | "real" | null,
                  "coverage": detected frames / scored frames, or null,
                  "frames": [{"index", "time", "box": [x0, y0, x1, y1], "face": "detected" | "borrowed" | "given",
                              "source", "score"}]}]}

``frames[].index`` counts decoded frames, ``time`` is the frame's presentation time in seconds (the container's
timestamp: true on variable-frame-rate video), ``box`` is in the upright frame's pixels, ``face`` says whether this
frame's own face gave the box or it was borrowed from frame ``source``. When faces were detected in fewer than
:data:`MIN_COVERAGE` of the sampled frames, the status is ``low_coverage``: the score and label then come from the
frames with a detected face only (the borrowed boxes may frame anything), and ``note`` says so.

A bad input (unreadable, truncated, empty, not a video or image, no video stream) gets status ``error`` and a message
naming the file, a video without a face ``no_face``; the others are still scored. Exit status: 0 when every input was
processed (``no_face`` and ``low_coverage`` included), 1 when any input is an ``error``, 2 for usage errors (bad
options, an ``--out``/``--report``/``--cam`` that cannot be written — checked before anything is scored —, an
unusable ``--model``, no inputs). ``--cam DIR`` writes a Grad-CAM overlay (:mod:`add.models.gradcam`) per scored face:
``DIR/{n:03d}-{input name}/{frame index:06d}.png`` (face | overlay, the class the model predicts), n the input's
position in ``results``. ``--report FILE.html`` writes one self-contained page a person can read
(:mod:`add.tools.report`).

Only the standard library is imported at module level: ``add predict --help`` does not load torch, timm or dlib.
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
from typing import TYPE_CHECKING, Any

from add.core.errors import AddError
from add.core.io import check_output_file, check_output_folder
from add.data.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image

if TYPE_CHECKING:
    import numpy as np
    import torch

    from add.data.faces import Box
    from add.models.card import Card
    from add.models.detector import Detector

DEFAULT_FRAMES = 32
DEFAULT_BATCH = 64
CAM_SIDE = 192  # each half of a --cam image: the crop enlarged so the map can be seen
MIN_COVERAGE = 0.5  # below this fraction of sampled frames with a detected face, a video is "low_coverage"


class PredictError(AddError):
    """An input cannot be scored (the message names it), or the command cannot start."""


@dataclass
class Faces:
    """The scored faces of one input: frame indices, times (s), boxes (in the input's own pixels), whether each was
    detected in its frame (else borrowed from frame ``sources[i]``) and ``N x S x S x 3`` RGB uint8 crops."""

    indices: list[int]
    times: list[float]
    boxes: list[Box]
    detected: list[bool]
    sources: list[int]
    crops: np.ndarray
    given: bool = False  # --crops: the frames are the faces, nothing was detected
    padded: bool = False  # the image's face was found only once it was padded


# ------------------------------------------------------------------------------------------------------ inputs
@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


def list_inputs(paths: Sequence[str | os.PathLike]) -> tuple[list[Path], list[str], list[Skipped]]:
    """Files to score, in order (folders walked recursively, sorted, media suffixes only), warnings about folders
    that held none, and what the walks left out and why (hidden entries, other suffixes, broken links). A path given
    directly is always kept: if it does not exist or is not media it becomes an ``error``."""
    found, warnings, skipped = [], [], []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            found.append(path)
            continue
        inside = []
        for p in sorted(path.rglob("*")):
            relative = p.relative_to(path)
            if any(part.startswith(".") for part in relative.parts):
                if p.name.startswith(".") and (p.is_file() or p.is_symlink()):  # one line per hidden file, not
                    skipped.append(Skipped(str(p), "hidden file"))           # per file in a hidden folder
                elif p.name.startswith(".") and p.is_dir():
                    skipped.append(Skipped(str(p), "hidden folder (not walked)"))
                continue
            if p.is_symlink() and not p.exists():
                skipped.append(Skipped(str(p), "broken symbolic link"))
            elif p.is_dir():
                continue
            elif not p.is_file():
                skipped.append(Skipped(str(p), "not a regular file"))
            elif p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
                inside.append(p)
            else:
                skipped.append(Skipped(str(p), f"suffix {p.suffix or '(none)'!r} is not a video or image suffix "
                                               "(give the file directly to score it anyway)"))
        if not inside:
            warnings.append(f"{path}: no video or image files in this folder")
        found += inside
    return found, warnings, skipped


def find_faces(path: Path, card: Card, frames: int, given: bool = False) -> Faces | None:
    """The face crops of an image or of ``frames`` evenly sampled frames of a video; None when there is no face.
    ``given``: the frames are face crops (``--crops``), nothing is detected. Raises an AddError naming the file
    when it cannot be read."""
    import numpy as np

    from add.data.faces import crop, face_crops, given_crops
    from add.data.sampling import sample_indices
    from add.data.video_io import VideoInfo, read_frames, with_frames

    def cut(frame: np.ndarray, box: Box) -> np.ndarray:
        return crop(frame, box, card.image_size)

    def faces_of(read, indices: list[int], width: int, height: int):
        if given:
            return given_crops(read, indices, width, height, cut)
        return face_crops(read, indices, width, height, card.faces, cut)

    padded = False
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image, factor = read_image(path)
        height, width = image.shape[:2]

        def read_image_frame(wanted: list[int]) -> Iterator[tuple[int, np.ndarray]]:
            yield from ((i, image) for i in wanted)

        found = faces_of(read_image_frame, [0], width, height)
        if found is None and not given:
            found = face_crops(read_image_frame, [0], width, height, card.faces, cut,
                               detect=card.faces.detect_padded)
            padded = found is not None
        times = {0: 0.0}
    else:
        factor = 1

        def sampled(info: VideoInfo):
            indices = sample_indices(info.frames, frames, "even")
            return faces_of(lambda wanted: read_frames(path, wanted, info), indices, info.width, info.height), {
                i: round(info.time(i), 4) for i in indices}

        found, times = with_frames(path, sampled)  # probe; raises VideoError: missing, not a video, truncated
    if found is None:
        return None
    boxes, crops = found
    order = [b.frame for b in boxes]
    return Faces(order, [times[i] for i in order], [tuple(v * factor for v in b.box) for b in boxes],
                 [b.detected for b in boxes], [b.source for b in boxes], np.stack([crops[i] for i in order]),
                 given=given, padded=padded)


# ------------------------------------------------------------------------------------------------------- model
class Scorer:
    """The detector of a checkpoint with its card, on ``device``: P(fake) of crops in batches, Grad-CAM maps."""

    def __init__(self, model: Detector, card: Card, device: torch.device, batch_size: int = DEFAULT_BATCH):
        self.model, self.card, self.device, self.batch_size = model.to(device).eval(), card, device, batch_size

    @classmethod
    def load(cls, checkpoint: str | os.PathLike, device: str | None = None, batch_size: int = DEFAULT_BATCH
             ) -> Scorer:
        import torch

        from add.models.card import read_card
        from add.training.checkpoints import load_detector

        model, meta = load_detector(checkpoint)
        card = read_card(meta, checkpoint)
        if card.model != model.name:
            raise PredictError(f"{checkpoint}: the model card says {card.model!r}, the weights are {model.name!r}")
        return cls(model, card, torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu")),
                   batch_size)

    def batches(self, crops: np.ndarray) -> Iterator[torch.Tensor]:
        for start in range(0, len(crops), self.batch_size):
            yield self.card.to_input(crops[start:start + self.batch_size]).to(self.device)

    def scores(self, crops: np.ndarray) -> np.ndarray:
        """P(fake) per crop (float64), as ``add evaluate`` computes it: softmax of the float32 logits."""
        import numpy as np
        import torch

        with torch.no_grad():
            out = [torch.softmax(self.model(x).float(), dim=1)[:, 1].double().cpu().numpy()
                   for x in self.batches(crops)]
        return np.concatenate(out) if out else np.zeros(0)

    def cams(self, crops: np.ndarray) -> np.ndarray:
        """Grad-CAM maps (``N x S x S`` in [0, 1]) for the class the model predicts on each crop."""
        import numpy as np

        from add.models.gradcam import grad_cam

        return np.concatenate([grad_cam(self.model, x) for x in self.batches(crops)])


def png(rgb: np.ndarray) -> bytes:
    import cv2

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("cv2.imencode failed to encode a PNG")
    return encoded.tobytes()


def cam_pairs(faces: Faces, maps: np.ndarray) -> list[bytes]:
    """PNG of (face | Grad-CAM overlay) per face, each half :data:`CAM_SIDE` px."""
    import cv2
    import numpy as np

    from add.models.gradcam import overlay

    out = []
    for face, cam in zip(faces.crops, maps, strict=True):
        big_face = cv2.resize(face, (CAM_SIDE, CAM_SIDE), interpolation=cv2.INTER_CUBIC)
        big_cam = cv2.resize(cam, (CAM_SIDE, CAM_SIDE), interpolation=cv2.INTER_LINEAR)
        out.append(png(np.concatenate([big_face, overlay(big_face, big_cam)], axis=1)))
    return out


def write_cams(folder: Path, faces: Faces, pairs: Sequence[bytes]) -> None:
    from add.core.io import atomic_write_bytes

    for index, pair in zip(faces.indices, pairs, strict=True):
        atomic_write_bytes(folder / f"{index:06d}.png", pair)


def cam_folder(root: Path, position: int, path: Path) -> Path:
    return root / f"{position:03d}-{re.sub(r'[^A-Za-z0-9._-]+', '_', path.name)[:80]}"


# --------------------------------------------------------------------------------------------------------- run
def score_input(path: Path, scorer: Scorer, frames: int, cam_dir: Path | None = None, position: int = 0,
                visuals: dict[str, Any] | None = None, given: bool = False) -> dict[str, Any]:
    """The result entry of one input; a bad input gives status ``error`` with a message naming it, never raises
    (but for KeyboardInterrupt and the like). ``visuals``, when given, receives the PNGs of the scored crops
    (``"crops"``) and of the Grad-CAM pairs (``"cams"``, with ``cam_dir``) for the HTML report."""
    import numpy as np

    result: dict[str, Any] = {"input": str(path), "status": "ok", "error": None, "note": None, "score": None,
                              "label": None, "coverage": None, "frames": []}
    try:
        faces = find_faces(path, scorer.card, frames, given)
        if faces is None:
            if given:
                raise PredictError(f"{path}: no frame decodes")
            what = ("the image, nor in it padded" if path.suffix.lower() in IMAGE_SUFFIXES
                    else f"any of the {frames} sampled frames")
            result.update(status="no_face", error=f"{path}: no face found in {what} (dlib score >= "
                                                  f"{scorer.card.faces.threshold:g}; --crops if it is a face crop)")
            return result
        scores = scorer.scores(faces.crops)
        if not np.isfinite(scores).all():
            raise PredictError(f"{path}: the model gives non-finite outputs")
        detected = np.array(faces.detected)
        coverage = None if given else float(detected.mean())
        if faces.padded:
            from add.data.faces import PAD_FRACTION

            result["note"] = (f"{path}: the face was found only in the image padded by {PAD_FRACTION:.0%} of its "
                              f"longer side (a face crop? --crops scores it as it is)")
        if coverage is not None and coverage < MIN_COVERAGE:
            score = float(np.mean(scores[detected]))
            result.update(status="low_coverage", note=(
                f"{path}: a face was detected in only {int(detected.sum())} of {len(detected)} sampled frames "
                f"(< {MIN_COVERAGE:.0%}); the score is the mean over those frames only"))
        else:
            score = float(np.mean(scores))
        result.update(score=score, label="fake" if score > scorer.card.threshold else "real",
                      coverage=None if coverage is None else round(coverage, 4),
                      frames=[{"index": i, "time": t, "box": [int(v) for v in box],
                               "face": "given" if given else "detected" if d else "borrowed", "source": src,
                               "score": float(s)}
                              for i, t, box, d, src, s in zip(faces.indices, faces.times, faces.boxes, faces.detected,
                                                              faces.sources, scores, strict=True)])
        if visuals is not None:
            visuals["crops"] = [png(c) for c in faces.crops]
        if cam_dir is not None:
            pairs = cam_pairs(faces, scorer.cams(faces.crops))
            write_cams(cam_folder(cam_dir, position, path), faces, pairs)
            if visuals is not None:
                visuals["cams"] = pairs
    except Exception as e:  # one bad input never stops the batch
        message = str(e) if str(path) in str(e) else f"{path}: {type(e).__name__}: {e}"
        result.update(status="error", error=message, note=None, score=None, label=None, coverage=None, frames=[])
        if visuals is not None:
            visuals.clear()
    return result


def run(inputs: Sequence[Path], scorer: Scorer, frames: int = DEFAULT_FRAMES, cam_dir: Path | None = None,
        checkpoint: str | os.PathLike = "", progress: bool = True, skipped: Sequence[Skipped] = (),
        visuals: list[dict[str, Any]] | None = None, given: bool = False) -> dict[str, Any]:
    """The report of every input (``visuals``, when given, gets one entry per input for :mod:`add.tools.report`;
    ``given``: ``--crops``)."""
    from tqdm import tqdm

    results = []
    counts = {"ok": 0, "low_coverage": 0, "no_face": 0, "error": 0}
    with tqdm(inputs, desc="predict", unit="input", disable=not progress) as bar:
        for position, path in enumerate(bar):
            mine = {} if visuals is not None else None
            results.append(score_input(path, scorer, frames, cam_dir, position, mine, given))
            if visuals is not None:
                visuals.append(mine)
            counts[results[-1]["status"]] += 1
            bar.set_postfix(counts)
    return {"model": {**scorer.card.to_json(), "checkpoint": str(checkpoint)},
            "skipped": [{"path": s.path, "reason": s.reason} for s in skipped], "results": results}


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="add predict", description=__doc__.split("\n\n")[0],
                                     epilog="Exit status: 0 every input processed (no_face and low_coverage "
                                     "included), 1 an input is an error, 2 usage error.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, images or folders")
    parser.add_argument("--model", required=True, help="checkpoint (best.pt) written by add teacher / add student")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES,
                        help="frames sampled evenly per video (default: %(default)s)")
    parser.add_argument("--out", default=None, help="JSON report (default: stdout)")
    parser.add_argument("--report", default=None, metavar="FILE.html",
                        help="also write a self-contained HTML report (verdicts, P(fake) timelines, face crops)")
    parser.add_argument("--cam", default=None, metavar="DIR", help="write a Grad-CAM overlay per scored face here")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="crops per forward (default: "
                        "%(default)s)")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--crops", action="store_true",
                        help="every image and video frame is a face crop already: no face detection, the whole "
                             "image (its centred square) resized to the model's input size")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.frames < 1 or args.batch_size < 1:
        parser.error("--frames and --batch-size must be >= 1")
    if args.device is not None and not re.fullmatch(r"cpu|cuda(:\d+)?", args.device):
        parser.error(f"--device must be cpu, cuda or cuda:N, got {args.device!r}")
    inputs, warnings, skipped = list_inputs(args.inputs)
    for warning in warnings:
        print(f"add predict: warning: {warning}", file=sys.stderr)
    try:
        if not inputs:
            raise PredictError("no inputs to score (the folders given hold no video or image files)")
        out = check_output_file(args.out, "--out") if args.out else None
        report_path = check_output_file(args.report, "--report") if args.report else None
        cam_dir = Path(args.cam) if args.cam else None
        if cam_dir is not None:
            if cam_dir.exists() and not cam_dir.is_dir():
                raise PredictError(f"--cam {args.cam}: is a file; give a folder")
            check_output_folder(cam_dir, f"--cam {args.cam}")
        import torch

        if args.device and args.device.startswith("cuda") and not torch.cuda.is_available():
            raise PredictError(f"--device {args.device}: CUDA is not available on this machine")
        scorer = Scorer.load(args.model, args.device, args.batch_size)
    except AddError as e:
        print(f"add predict: error: {e}", file=sys.stderr)
        return 2
    visuals: list[dict[str, Any]] | None = [] if report_path else None
    report = run(inputs, scorer, args.frames, cam_dir, args.model, progress=not args.quiet, skipped=skipped,
                 visuals=visuals, given=args.crops)
    from add.core.io import atomic_write_text

    text = to_json(report) + "\n"
    if out is not None:
        atomic_write_text(out, text)
    else:
        sys.stdout.write(text)
    if report_path is not None:
        from add.tools.report import render

        atomic_write_text(report_path, render(report, visuals))
    return 1 if any(r["status"] == "error" for r in report["results"]) else 0
