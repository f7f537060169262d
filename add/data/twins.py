"""The c23/c40 twins of a video that has no FF++ tree: re-encoded with FF++'s settings, checked frame-aligned, cached.

A list source (:mod:`add.data.list_source`) gives one video per entry, taken as its high quality; ADD needs the same
frames at lower qualities. FF++ made its c23 and c40 videos with libx264 at crf 23 and 40; :func:`make_twin` does
the same through :func:`add.data.video_io.compress` into ``{cache}/{quality}/{video}.mp4``, then checks that the twin
decodes to as many frames as its input, at the same presentation times where the reader reports them (a twin that
is not frame-aligned would pair crops of different frames, so it is refused). Beside each twin a small JSON records
what it was made from (path, size, mtime, quality, encoder); a later run reuses the twin while that record still
matches the input and rebuilds it as soon as the input changes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from add.core.io import atomic_write_json
from add.data.video_io import QUALITY_CRF, VideoError, compress, probe

TWIN_FORMAT = "add.twin/1"
STAMP_SUFFIX = ".source.json"
TIME_TOLERANCE = 1e-3  # seconds: timestamps of input and twin agree to the millisecond (mp4 time bases round)


class TwinError(VideoError):
    """A twin could not be made, or is not frame-aligned with its input; the message names both files."""


def twin_path(cache: str | os.PathLike, quality: str, video: str) -> Path:
    return Path(cache) / quality / f"{video}.mp4"


def source_stamp(src: Path, quality: str) -> dict:
    st = os.stat(src)
    return {"format": TWIN_FORMAT, "source": str(src), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "quality": quality, "crf": QUALITY_CRF[quality]}


def _stamp_file(dst: Path) -> Path:
    return dst.with_name(dst.name + STAMP_SUFFIX)


def is_current(src: Path, dst: Path, quality: str) -> bool:
    """The twin at ``dst`` was made from ``src`` as it is now (same path, size, mtime) at ``quality``."""
    try:
        stored = json.loads(_stamp_file(dst).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return dst.is_file() and stored == source_stamp(src, quality)


def check_aligned(src: str | os.PathLike, twin: str | os.PathLike) -> None:
    """Raise :class:`TwinError` unless ``twin`` decodes to the frames of ``src``: same count and size and, where the
    reader gives presentation times, the same times."""
    a, b = probe(src), probe(twin)
    if a.frames != b.frames:
        raise TwinError(f"{twin}: {b.frames} frames, its input {src} {a.frames}: the twin is not frame-aligned "
                        f"(a variable frame rate the encoder resampled?)")
    if (a.width, a.height) != (b.width, b.height):
        raise TwinError(f"{twin}: {b.width}x{b.height}, its input {src} {a.width}x{a.height}")
    times_a, times_b = getattr(a, "times", ()), getattr(b, "times", ())
    if len(times_a) == a.frames and len(times_b) == b.frames:
        start_a, start_b = (times_a[0], times_b[0]) if a.frames else (0.0, 0.0)
        for i, (ta, tb) in enumerate(zip(times_a, times_b, strict=True)):
            if abs((ta - start_a) - (tb - start_b)) > TIME_TOLERANCE:
                raise TwinError(f"{twin}: frame {i} at {tb - start_b:.4f} s, in its input {src} at "
                                f"{ta - start_a:.4f} s: the twin is not frame-aligned")


def make_twin(src: str | os.PathLike, dst: str | os.PathLike, quality: str) -> bool:
    """Make (or keep, when current) the ``quality`` twin of ``src`` at ``dst``; True when it was encoded now."""
    src, dst = Path(src), Path(dst)
    if quality not in QUALITY_CRF or quality == "raw":
        raise ValueError(f"a twin is c23 or c40, got {quality!r}")
    if is_current(src, dst, quality):
        return False
    _stamp_file(dst).unlink(missing_ok=True)  # the twin is replaced: never leave a stale record beside it
    compress(src, dst, quality)
    try:
        check_aligned(src, dst)
    except VideoError:
        dst.unlink(missing_ok=True)
        raise
    atomic_write_json(_stamp_file(dst), source_stamp(src, quality))
    return True


def make_twins(work: Sequence[tuple[str, Path]], cache: str | os.PathLike, qualities: Sequence[str], *,
               jobs: int = 1, done: Callable[[bool], None] | None = None,
               failed: Callable[[str, VideoError], None] | None = None) -> dict[tuple[str, str], Path]:
    """The twins of every ``(video name, input path)`` in ``work`` at each of ``qualities`` (c23/c40), made in
    ``jobs`` ffmpeg processes at once; ``{(video, quality): twin path}``. Twins and records in the cache's quality
    folders that no listed video needs any more are removed. ``done(encoded)`` after each twin; a twin that cannot
    be made raises, or with ``failed`` is reported as ``failed(video, error)`` and the others are still made."""
    cache = Path(cache)
    wanted = {(video, q): twin_path(cache, q, video) for video, _ in work for q in qualities}
    tasks = [(video, src, wanted[(video, q)], q) for video, src in work for q in qualities]

    def one(task: tuple[str, Path, Path, str]) -> bool:
        video, src, dst, quality = task
        try:
            return make_twin(src, dst, quality)
        except VideoError as e:
            if failed is None:
                raise
            failed(video, e)
            return False

    with ThreadPoolExecutor(max(1, jobs)) as pool:  # ffmpeg does the work; the threads only wait on it
        for encoded in pool.map(one, tasks):
            if done is not None:
                done(encoded)
    keep = {p for p in wanted.values()} | {_stamp_file(p) for p in wanted.values()}
    for folder in sorted({p.parent for p in wanted.values()} | {cache / q for q in QUALITY_CRF if q != "raw"}):
        if folder.is_dir():
            for f in folder.iterdir():
                if f.is_file() and f not in keep:
                    f.unlink()
    return wanted
