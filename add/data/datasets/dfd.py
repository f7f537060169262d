"""Google's DeepFakeDetection (DFD) as FaceForensics++ ships it: ``original_sequences/actors/<quality>/videos/`` (real)
and ``manipulated_sequences/DeepFakeDetection/<quality>/videos/`` (fake), one quality (raw, c23, c40) per entry."""

from __future__ import annotations

from pathlib import Path

from add.data.datasets.records import FAKE, REAL, DatasetError, Record, record

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
