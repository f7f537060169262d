"""Celeb-DF (v1, v2): ``Celeb-real/``, ``YouTube-real/``, ``Celeb-synthesis/`` and ``List_of_testing_videos.txt``.

The test list has one ``"<label> <folder>/<name>.mp4"`` per line where **1 = real and 0 = fake** (the opposite of
this project's 1 = fake): 518 lines in v2. The test videos are the list; the folders' other videos are training data.
"""

from __future__ import annotations

import re
from pathlib import Path

from add.data.datasets.records import (
    FAKE,
    REAL,
    DatasetError,
    Item,
    Record,
    apply_missing,
    check_unique,
    escapes,
    read_text,
    record,
    with_original,
)
from add.data.datasets.registry import Format, register

TEST_LIST = "List_of_testing_videos.txt"
FOLDERS = {"Celeb-real": REAL, "YouTube-real": REAL, "Celeb-synthesis": FAKE}
LIST_LABEL = {"1": REAL, "0": FAKE}  # Celeb-DF's own convention: 1 = real


def read(root: str | Path) -> tuple[list[Record], Path]:
    """The test records of the Celeb-DF tree at ``root`` and the file that lists them."""
    root = Path(root)
    path = root / TEST_LIST
    text = read_text(path, f"Celeb-DF's test list in the dataset root ({TEST_LIST})")
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        expected = ('expected "<label> <folder>/<name>.mp4" with label 1 (real) or 0 (fake) and folder one of '
                    f"{', '.join(FOLDERS)}")
        if len(fields) != 2 or fields[0] not in LIST_LABEL:
            raise DatasetError(f"{path}: line {number}: {line.strip()!r}: {expected}")
        label, relpath = LIST_LABEL[fields[0]], fields[1]
        folder = relpath.split("/", 1)[0]
        if escapes(relpath) or folder not in FOLDERS or "/" not in relpath:
            raise DatasetError(f"{path}: line {number}: {line.strip()!r}: {expected}")
        if FOLDERS[folder] != label:
            raise DatasetError(f"{path}: line {number}: {line.strip()!r}: label {fields[0]} says "
                               f"{'real' if label == REAL else 'fake'} but {folder}/ holds "
                               f"{'real' if FOLDERS[folder] == REAL else 'fake'} videos (Celeb-DF: 1 = real, 0 = fake)")
        records.append(record(root, relpath, label))
    if not records:
        raise DatasetError(f"{path}: no test videos listed")
    check_unique(records, path)
    return records, path


REAL_NAME = re.compile(r"Celeb-real/id(\d+)_(\d+)\.mp4")
FAKE_NAME = re.compile(r"Celeb-synthesis/id(\d+)_id(\d+)_(\d+)\.mp4")


def items(root: Path, *, missing: str, quality: str, face_ties: bool, skip: str) -> tuple[list[Item], int]:
    """Every video of the folders; the test list's are fixed to test. ``id{A}_{clip}.mp4`` and the fake
    ``id{A}_id{B}_{clip}.mp4`` (identity B's face on A's footage ``Celeb-real/id{A}_{clip}.mp4``, its original) are
    tied by identity A; identity B too with ``face_ties`` (on Celeb-DF this joins nearly all 59 identities)."""
    test, source = read(root)
    test_videos = {r.video for r in test}
    records = list(test)
    for folder, label in FOLDERS.items():
        records += [record(root, p.relative_to(root).as_posix(), label)
                    for p in sorted((root / folder).glob("*.mp4")) if p.relative_to(root).as_posix() not in test_videos]
    present, lacking = apply_missing(records, missing, source, skip=skip)
    found = []
    for r in sorted(present, key=lambda r: r.video):
        ties, original = [r.group], None
        if m := REAL_NAME.fullmatch(r.video):
            ties.append(f"{FORMAT_NAME}-id{m[1]}")
        elif m := FAKE_NAME.fullmatch(r.video):
            ties.append(f"{FORMAT_NAME}-id{m[1]}")
            ties += [f"{FORMAT_NAME}-id{m[2]}"] if face_ties else []
            original = f"Celeb-real/id{m[1]}_{m[3]}.mp4"
            ties.append(original)
        found.append(Item(r, "test" if r.video in test_videos else None, tuple(ties), original))
    return with_original(found), lacking


FORMAT_NAME = "celebdf"
FORMAT = register(Format(FORMAT_NAME, read, labels=f"{TEST_LIST}: 1 = real, 0 = fake", fixes_test=True, items=items))
