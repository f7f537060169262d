"""Google's DeepFakeDetection (DFD) as FaceForensics++ ships it: ``original_sequences/actors/<quality>/videos/`` (real)
and ``manipulated_sequences/DeepFakeDetection/<quality>/videos/`` (fake), one quality (raw, c23, c40) per entry."""

from __future__ import annotations

import re
from pathlib import Path

from add.data.datasets.records import FAKE, REAL, DatasetError, Item, Record, apply_missing, record, with_original
from add.data.datasets.registry import Format, register

QUALITIES = ("raw", "c23", "c40")
REAL_DIR = "original_sequences/actors/{quality}/videos"
FAKE_DIR = "manipulated_sequences/DeepFakeDetection/{quality}/videos"


def read(root: str | Path, quality: str = "c23") -> tuple[list[Record], Path]:
    root = Path(root)
    if quality not in QUALITIES:
        raise DatasetError(f"DFD quality must be one of {list(QUALITIES)}, got {quality!r}")
    records = []
    for pattern, label in ((REAL_DIR, REAL), (FAKE_DIR, FAKE)):
        folder = root / pattern.format(quality=quality)
        if not folder.is_dir():
            raise DatasetError(f"{folder}: not found; a DFD tree (FF++ layout) has {REAL_DIR} and {FAKE_DIR} "
                               f"(quality {quality})".replace("{quality}", quality))
        videos = sorted(p for p in folder.glob("*.mp4") if not p.name.startswith("."))
        if not videos:
            raise DatasetError(f"{folder}: no .mp4 videos")
        records += [record(root, p.relative_to(root).as_posix(), label) for p in videos]
    return records, root


REAL_NAME = re.compile(r"(\d+)__([^/]+)\.mp4")
FAKE_NAME = re.compile(r"(\d+)_(\d+)__(.+)__[^_/]+\.mp4")


def items(root: Path, *, missing: str, quality: str, face_ties: bool, skip: str) -> tuple[list[Item], int]:
    """Actors ``{A}__{scene}.mp4`` and fakes ``{A}_{B}__{scene}__{code}.mp4`` (actor B's face on A's footage,
    original ``{A}__{scene}.mp4``) are tied by actor A (and B with ``face_ties``)."""
    found, source = read(root, quality)
    records, lacking = apply_missing(found, missing, source, skip=skip)
    tied = []
    for r in records:
        folder, name = r.video.rsplit("/", 1)
        ties, original = [r.group], None
        if r.label == 0 and (m := REAL_NAME.fullmatch(name)):
            ties.append(f"{FORMAT_NAME}-actor{m[1]}")
        elif r.label == 1 and (m := FAKE_NAME.fullmatch(name)):
            ties.append(f"{FORMAT_NAME}-actor{m[1]}")
            ties += [f"{FORMAT_NAME}-actor{m[2]}"] if face_ties else []
            original = f"{REAL_DIR.format(quality=folder.split('/')[-2])}/{m[1]}__{m[3]}.mp4"
            ties.append(original)
        tied.append(Item(r, None, tuple(ties), original))
    return with_original(tied), lacking


FORMAT_NAME = "dfd"
FORMAT = register(Format(FORMAT_NAME, read, labels="the folder: actors real, DeepFakeDetection fake",
                         options=("quality",), items=items))
