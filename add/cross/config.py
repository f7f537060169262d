"""One entry of the ``cross:`` list of params.yaml, validated::

    cross:
      - name: celebdf            # [A-Za-z0-9_-]+; names metrics/cross/<name>/
        format: celebdf          # celebdf | dfdc | dfdcp | dfd | folder | list
        root: /datasets/Celeb-DF-v2   # the dataset folder (list: the CSV file); relative to the repository
        compress: [as_is, c40]   # evaluate as stored and/or after re-encoding with FF++'s c40 (libx264 -crf 40)
        frames_per_video: 32     # frames sampled evenly per video (DeepfakeBench: 32)
        faces: largest           # largest: the frame's largest face | all: every face, the frame scores their max
        missing: error           # error: a listed file that is missing stops the stage | skip: left out, counted
        quality: c23             # dfd only: the FF++ quality folder (raw | c23 | c40)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from add.datasets.read import FORMATS
from add.datasets.records import MISSING_POLICIES
from add.params import ParamsError

COMPRESSIONS = ("as_is", "c40")
FACE_MODES = ("largest", "all")
DFD_QUALITIES = ("raw", "c23", "c40")
NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
KEYS = ("name", "format", "root", "compress", "frames_per_video", "faces", "missing", "quality")


@dataclass(frozen=True)
class CrossEntry:
    name: str
    format: str
    root: str
    compress: tuple[str, ...] = ("as_is",)
    frames_per_video: int = 32
    faces: str = "largest"
    missing: str = "error"
    quality: str = "c23"
    where: str = field(default="cross", compare=False)  # how messages name the entry: cross[0]

    def __post_init__(self) -> None:
        w = self.where
        if not isinstance(self.name, str) or not NAME_RE.fullmatch(self.name):
            raise ParamsError(f"params '{w}.name' must be letters, digits, - and _ (it names metrics/cross/<name>/), "
                              f"got {self.name!r}")
        if self.format not in FORMATS:
            raise ParamsError(f"params '{w}.format' must be one of {list(FORMATS)}, got {self.format!r}")
        if not isinstance(self.root, str) or not self.root:
            raise ParamsError(f"params '{w}.root' must be a non-empty path, got {self.root!r}")
        compress = self.compress
        if isinstance(compress, str):
            compress = (compress,)
        if (not isinstance(compress, list | tuple) or not compress or any(c not in COMPRESSIONS for c in compress)
                or len(set(compress)) != len(compress)):
            raise ParamsError(f"params '{w}.compress' must be a non-empty list of distinct values from "
                              f"{list(COMPRESSIONS)}, got {self.compress!r}")
        object.__setattr__(self, "compress", tuple(c for c in COMPRESSIONS if c in compress))
        frames = self.frames_per_video
        if isinstance(frames, bool) or not isinstance(frames, int) or not 1 <= frames <= 1000:
            raise ParamsError(f"params '{w}.frames_per_video' must be an integer in 1..1000, got {frames!r}")
        for key, choices in (("faces", FACE_MODES), ("missing", MISSING_POLICIES), ("quality", DFD_QUALITIES)):
            if getattr(self, key) not in choices:
                raise ParamsError(f"params '{w}.{key}' must be one of {list(choices)}, got {getattr(self, key)!r}")

    @classmethod
    def from_mapping(cls, raw: Any, where: str = "cross") -> CrossEntry:
        if not isinstance(raw, Mapping):
            raise ParamsError(f"params '{where}' must be a mapping with name, format, root, ..., got {raw!r}")
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            raise ParamsError(f"params '{where}' has unknown key(s) {unknown}; valid keys: {', '.join(KEYS)}")
        absent = [k for k in ("name", "format", "root") if raw.get(k) is None]
        if absent:
            raise ParamsError(f"params '{where}' needs {', '.join(absent)}")
        if "quality" in raw and raw["format"] != "dfd":
            raise ParamsError(f"params '{where}.quality' only applies to format dfd (the FF++ quality folder)")
        return cls(**{k: v for k, v in raw.items() if v is not None}, where=where)

    def to_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in KEYS}
        out["compress"] = list(self.compress)
        return out


def parse_cross(raw: Any) -> list[CrossEntry]:
    """The ``cross:`` list (None or absent: empty), each entry validated, names unique."""
    if raw is None:
        return []
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise ParamsError(f"params 'cross' must be a list of datasets (name, format, root, ...), got {raw!r}")
    entries = [CrossEntry.from_mapping(item, f"cross[{i}]") for i, item in enumerate(raw)]
    names = [e.name for e in entries]
    for name in names:
        if names.count(name) > 1:
            raise ParamsError(f"params 'cross': the name {name!r} is used twice (each names metrics/cross/<name>/)")
    return entries
