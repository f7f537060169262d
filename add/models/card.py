"""The model card: what a checkpoint says about itself so that ``add predict`` needs nothing else.

``add teacher`` and ``add student`` store it in the ``meta`` of ``best.pt``/``last.pt`` under ``"card"``::

    {"format": "add.card/1",
     "model": "resnet18",                       # add.models.detector.create_detector name
     "image_size": 96,                          # crop side the model was trained on (the shards' index.json)
     "normalization": {"colour": "RGB", "mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5]},
                                                # model input = (uint8 pixel - mean) / std, i.e. [-1, 1]
     "faces": {"detector": "dlib-hog-frontal", "threshold": 0.2, "upsample": 0, "max_side": 640,
               "size_tolerance": 2.0, "box_scale": 1.3},   # add.data.faces.FaceSettings (params data.detect_*)
     "trained_on": {"kind": "student", "method": "Deepfakes", "quality": "c40", "distill": "add", "seed": 0},
     "threshold": 0.5}                          # fake when P(fake) > threshold (add.models.metrics.THRESHOLD)

Checkpoints written before the card existed are refused with how to re-export them: rerun their training stage
(it resumes from ``last.pt`` and rewrites ``best.pt`` with the card, without training again) or ``add export``,
which writes the card from a params file into a copy of the checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from add.core.errors import AddError
from add.core.params import Params, as_params
from add.data.faces import FaceSettings
from add.data.loader import load_index
from add.models.detector import check_model_name
from add.models.metrics import THRESHOLD

CARD_FORMAT = "add.card/1"
DETECTOR = "dlib-hog-frontal"
# add.data.loader.to_tensor: uint8 / 127.5 - 1, so the model sees [-1, 1] (Detector maps that to its own mean/std).
PIXEL_MEAN = (127.5, 127.5, 127.5)
PIXEL_STD = (127.5, 127.5, 127.5)


class CardError(AddError):
    """A checkpoint without a (valid) model card; the message says how to re-export it."""


@dataclass(frozen=True)
class Card:
    model: str
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    faces: FaceSettings
    trained_on: dict[str, Any]
    threshold: float

    def to_json(self) -> dict[str, Any]:
        return {"format": CARD_FORMAT, "model": self.model, "image_size": self.image_size,
                "normalization": {"colour": "RGB", "mean": list(self.mean), "std": list(self.std)},
                "faces": {"detector": DETECTOR, **asdict(self.faces)}, "trained_on": dict(self.trained_on),
                "threshold": self.threshold}

    def to_input(self, crops: np.ndarray) -> torch.Tensor:
        """``B x S x S x 3`` RGB uint8 crops -> the model's ``B x 3 x S x S`` float32 input (one table look-up)."""
        if crops.ndim != 4 or crops.shape[1:] != (self.image_size, self.image_size, 3) or crops.dtype != np.uint8:
            raise ValueError(f"expected B x {self.image_size} x {self.image_size} x 3 uint8 crops, got "
                             f"{crops.shape} {crops.dtype}")
        levels = np.arange(256, dtype=np.float64)
        tables = np.stack([(levels - m) / s for m, s in zip(self.mean, self.std, strict=True)]).astype(np.float32)
        chw = crops.transpose(0, 3, 1, 2)
        return torch.from_numpy(np.stack([tables[c][chw[:, c]] for c in range(3)], axis=1))


def build_card(params: Params | Mapping[str, Any], shards: str | os.PathLike, model: str, trained_on: Mapping[str, Any]
               ) -> dict[str, Any]:
    """The card of a model trained on ``shards`` with ``params`` (face settings from ``data.*``, the crop size from
    the shards' index.json, which is what the model actually saw)."""
    index = load_index(shards)
    image_size = index.get("image_size")
    if not isinstance(image_size, int) or image_size < 1:
        raise CardError(f"{Path(shards) / 'index.json'}: no valid image_size ({image_size!r}) for the model card")
    params = as_params(params)
    trained_on = {"seed": params.seed, **trained_on}
    faces = FaceSettings.from_params(params)
    return Card(model, image_size, PIXEL_MEAN, PIXEL_STD, faces, trained_on, THRESHOLD).to_json()


def _reexport_hint(path: str | os.PathLike) -> str:
    return (f"Re-export it: rerun the stage that trained it (`uv run dvc repro`, or `add teacher` / `add student` with "
            f"the same params: training resumes from last.pt in the same folder and rewrites best.pt with the card "
            f"without training again), or write the card from the params it was trained with: "
            f"`uv run add export {path} --params params.yaml --shards data/shards --out new.pt`")


def read_card(meta: Any, path: str | os.PathLike) -> Card:
    """The card in a checkpoint's ``meta``; a :class:`CardError` naming ``path`` when it is missing or malformed."""
    card = meta.get("card") if isinstance(meta, Mapping) else None
    if card is None:
        raise CardError(f"{path}: the checkpoint has no model card (model, image size, normalisation, face "
                        f"detector settings, threshold): it was written before `add predict` existed. "
                        + _reexport_hint(path))
    try:
        if card.get("format") != CARD_FORMAT:
            raise ValueError(f"format {card.get('format')!r}, this version reads {CARD_FORMAT!r}")
        model = card["model"]
        check_model_name(model)
        size = card["image_size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"image_size {size!r}")
        norm = card["normalization"]
        if norm.get("colour") != "RGB":
            raise ValueError(f"normalization colour {norm.get('colour')!r} (only RGB)")
        mean, std = tuple(float(v) for v in norm["mean"]), tuple(float(v) for v in norm["std"])
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"normalization mean {mean} / std {std}")
        faces_json = dict(card["faces"])
        if faces_json.pop("detector", None) != DETECTOR:
            raise ValueError(f"face detector {card['faces'].get('detector')!r}, this version has {DETECTOR!r}")
        faces = FaceSettings(float(faces_json["threshold"]), int(faces_json["upsample"]),
                             int(faces_json["max_side"]), float(faces_json["size_tolerance"]),
                             float(faces_json["box_scale"]))
        threshold = float(card["threshold"])
        trained_on = dict(card["trained_on"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CardError(f"{path}: malformed model card ({type(e).__name__}: {e}). " + _reexport_hint(path)) from None
    return Card(model, size, mean, std, faces, trained_on, threshold)  # type: ignore[arg-type]
