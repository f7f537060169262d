"""The FaceForensics++ tree and the index of its videos (its methods, qualities and splits: :mod:`add.core.layout`).

A tree is ``{root}/{dataset_path}/{quality}/videos/{name}.mp4`` with dataset_path ``original_sequences/youtube`` for
the originals and ``manipulated_sequences/{method}`` for the fakes; splits are ``{root}/splits/{train,val,test}.json``,
JSON lists of ``[target, source]`` id pairs. A pair ``[a, b]`` puts originals ``a`` and ``b`` and fakes ``a_b`` and
``b_a`` in its split. The demo dataset uses the same layout, so everything downstream sees one format.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from add.core.errors import AddError
from add.core.io import file_sha256
from add.core.layout import METHODS, ORIGINAL, QUALITIES, SPLITS, check_method  # noqa: F401  (ffpp.METHODS)
from add.core.params import Data, Params, as_params
from add.core.qualities import qualities_in_use

SOURCES = ("demo", "ffpp", "list")

# FF++'s download servers; the videos live under ``{server}v3/``.
SERVERS = {
    "EU": "http://canis.vc.in.tum.de:8100/",
    "EU2": "http://kaldir.vc.in.tum.de/faceforensics/",
    "CA": "http://falas.cmpt.sfu.ca:8100/",
}
DEFAULT_SERVER = "EU2"
DEFAULT_SPLITS_URL = "https://raw.githubusercontent.com/ondyari/FaceForensics/master/dataset/splits"

# FF++ ids are "000".."999". Ids may be any short alphanumeric string (the demo uses the same form), but never hold
# '_' (it joins a fake's two ids), '.' or '/' (they would make path traversal or dotted WebDataset keys possible).
ID_RE = re.compile(r"[0-9A-Za-z]{1,16}")
VIDEO_RE = re.compile(r"(?P<target>[0-9A-Za-z]{1,16})(?:_(?P<source>[0-9A-Za-z]{1,16}))?")

# Columns of data/videos.parquet before the per-quality path columns.
INDEX_COLUMNS = ("split", "method", "video", "label", "target")
MISSING_EXAMPLES = 3  # paths shown per method/quality in a MissingVideosError


class SplitsError(AddError):
    """A split file is missing, is not valid JSON or does not hold a valid list of id pairs."""


class MissingVideosError(AddError):
    """Videos named by the splits are missing from the tree; ``missing`` lists them all."""

    def __init__(self, message: str, missing: dict[tuple[str, str], list[Path]]):
        super().__init__(message)
        self.missing = missing


def is_id(value: Any) -> bool:
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


def check_quality(quality: str) -> str:
    if quality not in QUALITIES:
        raise ValueError(f"unknown quality {quality!r}; choose from {list(QUALITIES)}")
    return quality


def dataset_path(method: str) -> str:
    """``original_sequences/youtube`` for ORIGINAL, ``manipulated_sequences/{method}`` for a method."""
    check_method(method, original=True)
    return "original_sequences/youtube" if method == ORIGINAL else f"manipulated_sequences/{method}"


def video_relpath(method: str, quality: str, name: str) -> str:
    """Path of a video relative to the root of the tree (and to the server's ``v3/`` base), '/'-separated."""
    check_quality(quality)
    match = VIDEO_RE.fullmatch(name) if isinstance(name, str) else None
    if match is None or (method == ORIGINAL) != (match.group("source") is None):
        kind = "an id like '000'" if method == ORIGINAL else "two ids joined by '_' like '000_003'"
        raise ValueError(f"bad {method} video name {name!r}: expected {kind}")
    return f"{dataset_path(method)}/{quality}/videos/{name}.mp4"


def video_path(root: str | os.PathLike, method: str, quality: str, name: str) -> Path:
    """``{root}/{dataset_path(method)}/{quality}/videos/{name}.mp4``; the name is checked so it cannot escape root."""
    return Path(root).joinpath(*video_relpath(method, quality, name).split("/"))


def pair_videos(a: str, b: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """The originals ``(a, b)`` and the fakes ``(a_b, b_a)`` of the pair ``[a, b]``."""
    return (a, b), (f"{a}_{b}", f"{b}_{a}")


def video_target(name: str) -> str:
    """The id whose footage a video shows: the id of an original, ``a`` for the fake ``a_b``."""
    return name.split("_", 1)[0]


def parse_split(data: bytes | str, where: str) -> list[tuple[str, str]]:
    """Validate the content of one split file: a JSON list of ``[target, source]`` pairs of distinct ids."""
    try:
        pairs = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SplitsError(f"{where}: not valid JSON: {e}") from None
    if not isinstance(pairs, list):
        raise SplitsError(f"{where}: expected a JSON list of [target, source] id pairs, got {type(pairs).__name__}")
    result: list[tuple[str, str]] = []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise SplitsError(f"{where}: entry {i} is {pair!r}, expected a [target, source] pair of ids")
        bad = [v for v in pair if not is_id(v)]
        if bad:
            raise SplitsError(f"{where}: entry {i} {pair!r} has bad id(s) {bad}: ids are 1-16 letters or digits "
                              "(FF++ uses '000'..'999')")
        if pair[0] == pair[1]:
            raise SplitsError(f"{where}: entry {i} {pair!r} pairs an id with itself")
        result.append((pair[0], pair[1]))
    return result


def check_splits(splits: dict[str, list[tuple[str, str]]], where: dict[str, str]) -> None:
    """Every id in at most one pair of at most one split (``where`` names the file of each split)."""
    seen: dict[str, tuple[str, int]] = {}
    for split in SPLITS:
        for i, pair in enumerate(splits[split]):
            for id_ in pair:
                if id_ in seen:
                    first_split, first_i = seen[id_]
                    raise SplitsError(f"id {id_!r} appears twice: {where[first_split]} entry {first_i} and "
                                      f"{where[split]} entry {i}; every id must be in one pair of one split")
                seen[id_] = (split, i)


def load_splits(splits_dir: str | os.PathLike) -> dict[str, list[tuple[str, str]]]:
    """Read and validate ``{splits_dir}/{train,val,test}.json`` -> ``{split: [(target, source), ...]}``."""
    splits_dir = Path(splits_dir)
    splits, where = {}, {}
    for split in SPLITS:
        path = splits_dir / f"{split}.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise SplitsError(f"{path}: split file not found; FF++'s official splits are {DEFAULT_SPLITS_URL}/"
                              f"{{train,val,test}}.json (data.download: true fetches them)") from None
        where[split] = str(path)
        splits[split] = parse_split(data, str(path))
    check_splits(splits, where)
    return splits


def select_videos(pairs: Sequence[tuple[str, str]], max_videos: int | None = None) -> tuple[list[str], list[str]]:
    """The originals and fakes of one split, limited to ``max_videos`` originals.

    Ids are taken in file order until the limit; a fake is kept when both of its ids are (so an odd limit keeps
    one original of the last pair and none of its fakes).
    """
    ids = [id_ for pair in pairs for id_ in pair]
    originals = ids if max_videos is None else ids[:max_videos]
    kept = set(originals)
    fakes = [fake for a, b in pairs if a in kept and b in kept for fake in pair_videos(a, b)[1]]
    return originals, fakes


def wanted_videos(splits: dict[str, list[tuple[str, str]]], methods: Iterable[str],
                  max_videos: int | None = None) -> dict[str, dict[str, list[str]]]:
    """``{split: {method: [video names]}}`` for ORIGINAL and each method, in file order."""
    methods = [check_method(m, original=True) for m in methods]
    result = {}
    for split in SPLITS:
        originals, fakes = select_videos(splits[split], max_videos)
        result[split] = {ORIGINAL: originals, **{m: list(fakes) for m in methods if m != ORIGINAL}}
    return result


def list_videos(root: str | os.PathLike, methods: Iterable[str], qualities: Iterable[str],
                splits_dir: str | os.PathLike | None = None, max_videos: int | None = None,
                missing_policy: str = "error") -> pd.DataFrame:
    """Index the videos of the splits in an FF++ tree as in ``data/videos.parquet`` (see docs/architecture.md).

    One row per video (originals plus the fakes of each method), columns ``split, method, video, label, target``
    and one absolute path per quality, sorted by split (train, val, test), method and video. Raises
    MissingVideosError listing what is missing (count per method/quality and the first few paths); with
    ``missing_policy="skip"`` a video with a missing file is kept in the index with column ``missing`` saying which
    (extraction then leaves it out and records it in the manifest).
    """
    root = Path(os.path.abspath(root))
    qualities = [check_quality(q) for q in QUALITIES if q in set(qualities)]
    splits = load_splits(root / "splits" if splits_dir is None else splits_dir)
    wanted = wanted_videos(splits, methods, max_videos)
    rows, missing = [], {}
    for split, by_method in wanted.items():
        for method, names in by_method.items():
            for name in names:
                row = {"split": split, "method": method, "video": name, "label": int(method != ORIGINAL),
                       "target": video_target(name)}
                for quality in qualities:
                    path = video_path(root, method, quality, name)
                    if not path.is_file():
                        missing.setdefault((method, quality), []).append(path)
                    row[quality] = str(path)
                gone = [row[q] for q in qualities if not Path(row[q]).is_file()]
                row["missing"] = f"file(s) not found: {', '.join(gone)}" if gone else ""
                rows.append(row)
    if missing and missing_policy == "skip":
        missing = {}
    if missing:
        raise MissingVideosError(missing_report(root, missing, total=len(rows) * len(qualities)), missing)
    skipping = ["missing"] if missing_policy == "skip" else []  # the demo's index stays as it was
    frame = pd.DataFrame(rows, columns=[*INDEX_COLUMNS, *qualities, *skipping])
    frame["label"] = frame["label"].astype("int64")
    order = {s: i for i, s in enumerate(SPLITS)}
    frame = frame.sort_values(["split", "method", "video"], key=lambda c: c.map(order) if c.name == "split" else c)
    return frame.reset_index(drop=True)


def index_path(path: str | os.PathLike, base: str | os.PathLike | None = None) -> str:
    """How videos.parquet stores a path: relative to ``base`` (the working directory, i.e. the repository a stage
    runs in) when it lies inside it, '/'-separated, so the index does not depend on where the clone is; else
    absolute (a tree elsewhere on the machine)."""
    base = Path(os.path.abspath(base or os.getcwd()))
    path = Path(os.path.abspath(path))
    return path.relative_to(base).as_posix() if base in path.parents else str(path)


def stamp_videos(table: pd.DataFrame, qualities: Iterable[str], *, content: bool,
                 base: str | os.PathLike | None = None) -> pd.DataFrame:
    """The index as ``data/videos.parquet`` stores it: per quality ``q``, its path as :func:`index_path` writes it,
    ``{q}_size`` (bytes) and ``{q}_stamp``, which changes when the file does: ``sha256:<hex>`` of the content when
    ``content`` (the demo, just written by the stage and small), else ``mtime_ns:<int>`` (an FF++ tree: hashing
    hundreds of GB on every run would not be cheap). So the index, and DVC's hash of it, changes with any video."""
    out = table.copy()
    for quality in qualities:
        paths, sizes, stamps = [], [], []
        for value in table[quality]:
            paths.append(index_path(value, base))
            try:
                st = os.stat(value)
            except OSError:  # a video left out (data.missing: skip): column ``missing`` says why
                sizes.append(-1)
                stamps.append("missing")
                continue
            sizes.append(st.st_size)
            stamps.append(f"sha256:{file_sha256(value)}" if content else f"mtime_ns:{st.st_mtime_ns}")
        out[quality] = paths
        out[f"{quality}_size"] = pd.Series(sizes, index=out.index, dtype="int64")
        out[f"{quality}_stamp"] = stamps
    return out


def missing_report(root: Path, missing: dict[tuple[str, str], list[Path]], total: int) -> str:
    count = sum(map(len, missing.values()))
    lines = [f"{root}: {count} of {total} video files named by the splits are missing:"]
    for (method, quality), paths in sorted(missing.items()):
        examples = ", ".join(str(p) for p in paths[:MISSING_EXAMPLES])
        more = f" (+{len(paths) - MISSING_EXAMPLES} more)" if len(paths) > MISSING_EXAMPLES else ""
        lines.append(f"  {method}/{quality}: {len(paths)} missing, e.g. {examples}{more}")
    lines.append("Copy them into the tree, or set data.download: true and data.agree_tos: true (after accepting the "
                 "FaceForensics++ terms of use) to download them; data.methods, data.qualities and data.max_videos "
                 "choose what is needed.")
    return "\n".join(lines)


@dataclass(frozen=True)
class FFPPConfig:
    """The ``data:`` keys that say where the videos come from (``params.yaml``)."""

    source: str = "demo"
    root: Path = Path("data/ffpp")
    download: bool = False
    agree_tos: bool = False
    server: str = DEFAULT_SERVER
    splits_url: str = DEFAULT_SPLITS_URL
    methods: tuple[str, ...] = ("Deepfakes",)
    qualities: tuple[str, ...] = QUALITIES
    max_videos: int | None = None
    list: Path | None = None  # data.source: list: the CSV (add.data.list_source)
    missing: str = "error"  # error | skip: a video with a missing file stops the stage, or is left out and listed
    list_quality: str = Data.list_quality  # data.source: list: the listed files' quality (add.data.list_source)
    jobs: int = 0  # twin encodings at once (data.jobs; 0: every core)

    @property
    def splits_dir(self) -> Path:
        return self.root / "splits"

    @classmethod
    def from_params(cls, params: Params | dict[str, Any]) -> FFPPConfig:
        params = as_params(params)
        data = params.data
        return cls(source=data.source, root=Path(data.root), download=data.download, agree_tos=data.agree_tos,
                   server=data.server, splits_url=data.splits_url.rstrip("/"), methods=data.methods,
                   qualities=qualities_in_use(params.teacher.quality, data.qualities), max_videos=data.max_videos,
                   list=None if data.list is None else Path(data.list), missing=data.missing,
                   list_quality=data.list_quality, jobs=data.jobs)

    def list_videos(self) -> pd.DataFrame:
        """:func:`list_videos` of this tree, methods, qualities and video limit."""
        return list_videos(self.root, self.methods, self.qualities, max_videos=self.max_videos,
                           missing_policy=self.missing)
