"""One video's work order (``VideoJob``) and outcome (``VideoResult``), and what a fake takes from its original."""

from __future__ import annotations

import base64
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


# ---------------------------------------------------------------------------------------------------- one video
@dataclass(frozen=True)
class VideoJob:
    index: int
    split: str
    method: str
    video: str
    label: int
    paths: dict[str, str | None]
    tar: str
    sidecar: str
    target: str = ""  # the id whose footage the video shows (videos.parquet ``target``); "": the video's first id

    @property
    def key(self) -> str:
        return f"{self.method}/{self.video}"

    @property
    def footage(self) -> str:
        return self.target or self.video.split("_")[0]


@dataclass(frozen=True, eq=False)
class Alignment:
    """What a fake needs of its original to check that their frames align: the original's frame count and size (of
    the detection quality), its sampled frames and a grey thumbnail of each (``k x h x w`` uint8)."""

    frames: int
    width: int
    height: int
    indices: tuple[int, ...]
    thumbs: np.ndarray

    def to_json(self) -> dict[str, Any]:
        blob = base64.b64encode(zlib.compress(np.ascontiguousarray(self.thumbs).tobytes(), 6)).decode("ascii")
        return {"frames": self.frames, "width": self.width, "height": self.height, "indices": list(self.indices),
                "shape": list(self.thumbs.shape), "thumbs": blob}

    @classmethod
    def from_json(cls, data: Any) -> Alignment | None:
        """The alignment stored in a sidecar; None when it is missing or damaged."""
        try:
            shape = tuple(int(v) for v in data["shape"])
            indices = tuple(int(i) for i in data["indices"])
            thumbs = np.frombuffer(zlib.decompress(base64.b64decode(data["thumbs"], validate=True)), np.uint8)
            if len(shape) != 3 or shape[0] != len(indices) or thumbs.size != math.prod(shape):
                return None
            return cls(int(data["frames"]), int(data["width"]), int(data["height"]), indices, thumbs.reshape(shape))
        except (KeyError, TypeError, ValueError, zlib.error):
            return None


@dataclass(frozen=True)
class Reference:
    """The original of a fake's target: where the fake may take its boxes from."""

    key: str  # "original/000"
    fingerprint: str | None
    decisions: tuple[dict[str, Any], ...]  # its kept frame decisions; empty when it was dropped
    alignment: Alignment | None


@dataclass
class VideoResult:
    index: int
    decisions: list[dict[str, Any]]  # frame, x0, y0, x1, y1, score, status, reason
    seconds: float | None  # None when resumed from the sidecar
    resumed: bool = False
    fingerprint: str | None = None
    boxes_from: str = ""  # DETECTED, the key of the original whose boxes were reused, or "" (dropped video)
    note: str = ""  # why an original's boxes were not reused
    alignment: Alignment | None = field(default=None, repr=False)  # kept originals, for their fakes
    tar: dict[str, Any] | None = None  # {"size", "sha256"} of the tar written (kept videos)


_FFMPEG_ADDRESS = re.compile(r" @ 0x[0-9a-fA-F]+")  # "[h264 @ 0x55bb...]" in ffmpeg's messages: differs per run


def _drop(reason: str) -> list[dict[str, Any]]:
    nan = math.nan
    return [{"frame": -1, "x0": nan, "y0": nan, "x1": nan, "y1": nan, "score": nan, "status": "dropped_video",
             "reason": _FFMPEG_ADDRESS.sub("", reason)}]


def _kept(decisions: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [d for d in decisions if d["status"] in ("ok", "fallback")]
