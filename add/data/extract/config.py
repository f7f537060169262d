"""Extraction settings (``data.*`` and ``seed``), per-video seeds and the constants the other modules share."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from add.core.determinism import usable_cpus
from add.core.errors import AddError
from add.core.params import Data, Params, as_params
from add.core.qualities import qualities_in_use
from add.data.faces import FaceSettings
from add.data.video_io import QUALITY_CRF

STATUSES = ("ok", "fallback", "dropped_frame", "dropped_video", "missing")  # missing: data.missing: skip
SIDECAR_SUFFIX = ".decisions.json"
SIDECAR_FORMAT = "add.extract/3"
PNG_COMPRESSION = 3  # fixed, so that a rerun writes the same bytes
# A fake may take its original's boxes when, at every sampled frame, the grey thumbnails of their raw frames differ
# outside the face box by at most this much (mean, max; grey levels) over at least this fraction of the frame.
ALIGN_MEAN_MAX = 1.0
ALIGN_MAX = 12.0
ALIGN_MIN_COMPARED = 0.2
DETECTED = "detected"  # VideoResult.boxes_from of a video whose boxes come from its own frames


class ExtractError(AddError):
    """videos.parquet or the face folder is unusable; the message names the file and the problem."""


@dataclass(frozen=True)
class ExtractConfig:
    """The ``data.*`` params that drive extraction (and the top-level ``seed``), validated."""

    qualities: tuple[str, ...] = Data.qualities  # defaults: the params schema's
    frames_per_video: int = Data.frames_per_video
    sampling: str = Data.sampling
    seed: int = Params.seed
    image_size: int = Data.image_size
    jobs: int = Data.jobs
    faces: FaceSettings = FaceSettings()
    reuse_boxes: bool = Data.reuse_boxes

    @classmethod
    def from_params(cls, params: Params | Mapping[str, Any]) -> ExtractConfig:
        params = as_params(params)
        data = params.data
        return cls(qualities=qualities_in_use(params.teacher.quality, data.qualities),
                   frames_per_video=data.frames_per_video, sampling=data.sampling,
                   seed=params.seed, image_size=data.image_size, jobs=data.jobs,
                   faces=FaceSettings.from_params(params), reuse_boxes=data.reuse_boxes)

    @property
    def detect_quality(self) -> str:
        """The quality faces are detected on: raw, or the best one listed when raw is not."""
        return min(self.qualities, key=lambda q: QUALITY_CRF[q])

    def workers(self, n_videos: int) -> int:
        jobs = self.jobs or usable_cpus()
        return max(1, min(jobs, n_videos))

    def output_settings(self) -> dict[str, Any]:
        """What shapes a video's tar and decisions (not ``jobs``); the resume fingerprint hashes it."""
        out = asdict(self)
        out.pop("jobs")
        out["qualities"] = list(self.qualities)
        if self.sampling == "even":
            out.pop("seed")
        return out


# ------------------------------------------------------------------------------------------------------- seeds
def video_seed(seed: int, method: str, video: str) -> int:
    """A per-video seed, stable across processes and Python versions (crc32, never ``hash()``)."""
    return (seed * 0x9E3779B1 + zlib.crc32(f"{method}/{video}".encode())) % 2**63
