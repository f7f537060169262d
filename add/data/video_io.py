"""Video I/O through the ffmpeg binary that ``imageio-ffmpeg`` ships: the one reader for extraction, ``add predict``
and the cross-dataset sets.

Reader API (what callers can rely on):

* :func:`probe` ``(path) -> VideoInfo`` reads the container once without decoding (stream copy of the first video
  stream's packets to ffmpeg's ``framecrc`` muxer, a few ms for a short clip) and reports the video **as ffmpeg
  plays it**:

  - ``width`` x ``height`` of the *upright* frame: a display rotation of 90 or 270 degrees (portrait phone video)
    swaps the stored sides, because ffmpeg decodes the frames already rotated (``rotation`` says by how much);
  - ``frames``: the frames that decode. Packets an edit list marks as discarded (what ``ffmpeg -ss 1 -i in.mp4 -c
    copy out.mp4`` and most editors leave at the start of a stream-copy cut) are not counted, nor are the packets
    before the first keyframe of a stream that starts mid-GOP (a transport stream cut anywhere);
  - ``times``: the presentation time in seconds of every frame, from the container's timestamps, so that a
    variable-frame-rate video has true times (``info.time(i)``); ``fps`` is the nominal rate only.

* :func:`read_frames` ``(path, indices, info)`` yields ``(index, frame)`` for sorted, unique 0-based ``indices`` into
  those decoded frames, each an upright RGB uint8 ``height x width x 3`` array, in one ffmpeg pass that holds one
  frame at a time. The frame selection is a filter script in a temporary file (a balanced ``if(lt(n, ...))`` tree,
  O(log k) per frame), so the command line does not grow with the number of frames asked for. Decoder errors
  *before* the first decoded frame (the undecodable packets of a mid-GOP start) are harmless; any after it means
  damaged data and raises :class:`VideoError` (ffmpeg conceals it and exits 0).
* When fewer frames decode than the probe counted (a stream the container describes wrongly), the pass raises
  :class:`ShortVideo`; :func:`probe` ``(path, decode=True)`` then counts by decoding every frame (slow: a full
  decode), and :func:`with_frames` does that retry for a caller.
* Boxes computed on these frames (``add predict``'s ``frames[].box``, the extraction's decisions) are in upright
  frame coordinates.

Arguments always go to ffmpeg as an argument list (never a shell string), so any file name is safe. Errors name the
file and carry the tail of ffmpeg's own message.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import ffmpeg
import imageio_ffmpeg
import numpy as np

from add.core.errors import AddError
from add.core.io import atomic_path

# FF++'s compression script: raw is lossless RGB H.264, c23/c40 are libx264 at those CRFs.
QUALITY_CRF = {"raw": 0, "c23": 23, "c40": 40}
T = TypeVar("T")


class VideoError(AddError):
    """A video could not be read or written; the message names the file and the problem."""


class ShortVideo(VideoError):
    """Fewer frames decoded than the probe counted; ``decoded`` is how many did."""

    def __init__(self, message: str, decoded: int):
        super().__init__(message)
        self.decoded = decoded


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream as ffmpeg decodes it (see the module's docstring): upright size, nominal frame rate,
    the number of frames that decode, their presentation times (s) and the display rotation ffmpeg applies."""

    path: str
    width: int
    height: int
    fps: float
    frames: int
    times: tuple[float, ...] = ()
    rotation: int = 0

    def time(self, index: int) -> float:
        """Presentation time (s) of decoded frame ``index``: the container's timestamp, else ``index / fps``."""
        if len(self.times) == self.frames:
            return self.times[index]
        return index / self.fps if self.fps > 0 else 0.0


@functools.cache
def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def _tail(stderr: bytes | str, lines: int = 4) -> str:
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    text = [line for line in stderr.strip().splitlines() if line.strip()]
    return " | ".join(text[-lines:]) if text else "no message"


_VIDEO_LINE_RE = re.compile(r"Stream #\S+.*?: Video: ")
_FPS_RE = re.compile(r"([\d.]+) fps|([\d.]+) tbr")
_ROTATION_RE = re.compile(r"rotation of (-?[\d.]+) degrees", re.IGNORECASE)
_NO_VIDEO_RE = re.compile(r"matches no streams|does not contain any stream|Output file does not contain",
                          re.IGNORECASE)
_DAMAGE_RE = re.compile(
    r"partial file|corrupt input packet|Packet corrupt|Invalid NAL|moov atom not found|invalid data found",
    re.IGNORECASE,
)
_DISCARD = 0x4  # AV_PKT_FLAG_DISCARD: a packet decoded only to prime the decoder, never shown (edit lists)
_CORRUPT = 0x2  # AV_PKT_FLAG_CORRUPT


def _first_video_stream(err: str) -> tuple[float, int] | None:
    """(nominal fps, display rotation in degrees) of the first video stream in ffmpeg's dump of the input; None
    when the input has no video stream."""
    lines = err.splitlines()
    for at, line in enumerate(lines):
        if _VIDEO_LINE_RE.search(line) and "->" not in line:
            m = _FPS_RE.search(line.split(": Video: ", 1)[1])
            fps = float(m.group(1) or m.group(2)) if m else 0.0
            rotation = 0
            for side in lines[at + 1:]:
                if "Stream #" in side or side.startswith(("Output", "Stream mapping")):
                    break
                r = _ROTATION_RE.search(side)
                if r:
                    rotation = round(float(r.group(1)) / 90) % 4 * 90
                    break
            return fps, rotation
    return None


def probe(path: str | os.PathLike, decode: bool = False) -> VideoInfo:
    """The first video stream as ffmpeg plays it: upright size, frame count, per-frame times (module docstring).

    Without decoding: the packets are stream-copied to the ``framecrc`` muxer, which lists each one's timestamp and
    flags (a few ms for an FF++ clip); header durations are not trusted because truncated files lie. ``decode=True``
    decodes every frame instead (the exact count whatever the container says, at the cost of a full decode).
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    if decode:
        return _probe_decoding(path)
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0", "-c", "copy",
            "-f", "framecrc", "-"]
    proc = subprocess.run(args, capture_output=True, check=False)
    err = proc.stderr.decode("utf-8", "replace")
    stream = _first_video_stream(err)
    # "no video stream" only for a file the demuxer opened without a complaint and that lists other streams (a
    # header cut short lists none, or a bare one)
    header, _, opened = err.partition("Input #0")
    readable = "Stream #0:" in opened and not _DAMAGE_RE.search(err) and not any(
        line.startswith("[") for line in header.splitlines())
    if readable and (stream is None or (proc.returncode != 0 and _NO_VIDEO_RE.search(err))):
        raise VideoError(f"{path}: no video stream (not a video, or audio only)")
    if proc.returncode != 0 or stream is None:
        raise VideoError(f"{path}: ffmpeg cannot read it: {_tail(err)}")
    damaged = [line.strip() for line in err.splitlines() if _DAMAGE_RE.search(line)]
    if damaged:
        # ffmpeg exits 0 on a file cut mid-stream and just counts fewer frames: that must not pass as a short video.
        raise VideoError(f"{path}: truncated or corrupt: {' | '.join(damaged[:3])}")
    fps, rotation = stream
    width = height = 0
    time_base = 0.0
    stamps: list[int | None] = []
    for line in proc.stdout.decode("ascii", "replace").splitlines():
        if line.startswith("#"):
            if line.startswith("#tb 0:"):
                num, den = line.split(":", 1)[1].strip().split("/")
                time_base = int(num) / int(den)
            elif line.startswith("#dimensions 0:"):
                width, height = map(int, line.split(":", 1)[1].strip().split("x"))
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 6 or fields[0] != "0":
            continue
        flags = next((int(f[2:], 16) for f in fields[6:] if f.startswith("F=")), 1)
        if flags & _CORRUPT:
            raise VideoError(f"{path}: truncated or corrupt: a packet is flagged corrupt (pts {fields[2]})")
        if flags & _DISCARD:
            continue
        pts = int(fields[2])
        stamps.append(None if pts == -(2 ** 63) else pts)
    if not stamps:
        raise VideoError(f"{path}: video stream has no frames")
    if not width or not height:
        raise VideoError(f"{path}: ffmpeg reports no frame size for the video stream: {_tail(err)}")
    if rotation in (90, 270):
        width, height = height, width
    times: tuple[float, ...] = ()
    if time_base > 0 and None not in stamps:
        times = tuple(round(p * time_base, 6) for p in sorted(stamps))  # presentation order
    return VideoInfo(str(path), width, height, fps, len(stamps), times, rotation)


_FRAME_LINE_RE = re.compile(r"\[Parsed_showinfo_\d+ @ [^\]]*\] \[info\] n:\s*(\d+) pts:\s*(-?\d+) pts_time:(\S+)"
                            r".*? s:(\d+)x(\d+)")
_LEVEL_RE = re.compile(r"\[(error|fatal|panic)\] ")
# Concealed damage: never harmless, even when frame threading prints it before the first frame leaves the decoder.
_CONCEAL_RE = re.compile(r"error while decoding|conceal|corrupt|invalid|overread|out of range", re.IGNORECASE)


def _split_log(log: str) -> tuple[list[re.Match], list[str], list[str]]:
    """ffmpeg's ``-loglevel level+info`` log of a decoding pass: the showinfo line of every decoded frame, and the
    error lines before the first decoded frame (harmless: packets that cannot decode) and after it (damage)."""
    frames, before, after = [], [], []
    for line in log.splitlines():
        m = _FRAME_LINE_RE.search(line)
        if m:
            frames.append(m)
        elif _LEVEL_RE.search(line):
            text = _LEVEL_RE.sub("", line.strip())
            (after if frames or _CONCEAL_RE.search(text) else before).append(text)
    return frames, before, after


def _probe_decoding(path: Path) -> VideoInfo:
    stream_args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "level+info", "-skip_loop_filter", "all",
                   "-i", str(path), "-map", "0:v:0", "-vf", "showinfo=checksum=0", "-fps_mode", "passthrough",
                   "-f", "null", "-"]
    with tempfile.TemporaryFile() as log_file:
        proc = subprocess.run(stream_args, stdout=subprocess.DEVNULL, stderr=log_file, check=False)
        log_file.seek(0)
        log = log_file.read().decode("utf-8", "replace")
    stream = _first_video_stream(log)
    if stream is None:
        raise VideoError(f"{path}: no video stream (not a video, or audio only)")
    frames, _, after = _split_log(log)
    if proc.returncode != 0 or not frames:
        raise VideoError(f"{path}: no frame decodes: {_tail(log)}")
    if after:
        raise VideoError(f"{path}: decoder errors (ffmpeg concealed damaged data): {_head(after)}")
    width, height = int(frames[0].group(4)), int(frames[0].group(5))
    try:
        times = tuple(round(float(m.group(3)), 6) for m in frames)
    except ValueError:  # NOPTS: frames without timestamps
        times = ()
    return VideoInfo(str(path), width, height, stream[0], len(frames), times, stream[1])


def select_expression(indices: Sequence[int]) -> str:
    """An ffmpeg ``select`` expression true exactly for the frame numbers ``n`` in the sorted ``indices``: a balanced
    tree of ``if(lt(n, pivot), left, right)``, so each frame costs O(log k) comparisons."""
    def tree(lo: int, hi: int) -> str:
        if hi - lo == 1:
            return f"eq(n,{indices[lo]})"
        mid = (lo + hi) // 2
        return f"if(lt(n,{indices[mid]}),{tree(lo, mid)},{tree(mid, hi)})"

    return tree(0, len(indices))


def read_frames(path: str | os.PathLike, indices: Sequence[int], info: VideoInfo | None = None
                ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame)`` for the sorted, unique ``indices`` (0-based, into the decoded frames), upright RGB
    uint8 H×W×3.

    One ffmpeg process decodes the file once and a ``select`` filter (read from a filter script file, never the
    command line) passes only the wanted frames, so memory holds one frame at a time. Raises :class:`ShortVideo`
    when the stream ends before the last wanted frame and, once the last frame was yielded and the generator is
    advanced again (iterating it to the end does), VideoError when ffmpeg reported a decoder error after the first
    decoded frame: on damaged data ffmpeg conceals the broken macroblocks, prints "error while decoding MB ..." and
    exits 0, and the damage spreads through the predicted frames that follow until the next keyframe, without
    ffmpeg saying which frames it touched — so no frame of that pass is trusted. Errors before the first decoded
    frame come from packets that cannot decode at all (a stream that starts mid-GOP) and yield no frame.
    """
    path = Path(path)
    indices = list(indices)
    if not indices:
        return
    if indices != sorted(set(indices)) or indices[0] < 0:
        raise ValueError(f"indices must be sorted, unique and non-negative, got {indices[:8]}...")
    info = info or probe(path)
    frame_bytes = info.width * info.height * 3
    # stderr goes to a file: a pipe nobody reads while frames are read would block ffmpeg once a damaged file
    # fills it with error lines. showinfo before select logs every decoded frame, so errors can be placed.
    with tempfile.NamedTemporaryFile("w", suffix=".ffgraph", delete=False) as script:
        script.write(f"showinfo=checksum=0,select='{select_expression(indices)}'")
    try:
        args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "level+info", "-i", str(path),
                "-map", "0:v:0", "-/filter:v", script.name, "-fps_mode", "passthrough",
                "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors)
            got = 0
            try:
                for index in indices:
                    buf = proc.stdout.read(frame_bytes)
                    if len(buf) < frame_bytes:
                        break
                    got += 1
                    yield index, np.frombuffer(buf, np.uint8).reshape(info.height, info.width, 3)
            finally:
                if proc.poll() is None and got < len(indices):
                    proc.kill()
                proc.stdout.close()
                proc.wait()
            errors.seek(0)
            log = errors.read().decode("utf-8", "replace")
    finally:
        os.unlink(script.name)
    decoded, _, after = _split_log(log)
    if got < len(indices):
        if after or proc.returncode != 0:
            raise VideoError(f"{path}: decoding stopped after {got} of {len(indices)} selected frames "
                             f"(wanted frame {indices[got]}): {_head(after) if after else _tail(log)}")
        raise ShortVideo(f"{path}: only {len(decoded)} frames decode, the container lists {info.frames} "
                         f"(decoding stopped after {got} of {len(indices)} selected frames, wanted frame "
                         f"{indices[got]})", len(decoded))
    if proc.returncode != 0 or after:
        raise VideoError(f"{path}: decoder errors (ffmpeg concealed damaged data; the frames decoded after it "
                         f"cannot be trusted): {_head(after) if after else _tail(log)}")
    if decoded and (int(decoded[0].group(4)), int(decoded[0].group(5))) != (info.width, info.height):
        raise VideoError(f"{path}: frames decode at {decoded[0].group(4)}x{decoded[0].group(5)}, the probe said "
                         f"{info.width}x{info.height}")


def with_frames(path: str | os.PathLike, work: Callable[[VideoInfo], T]) -> T:
    """``work(probe(path))``; when it finds fewer frames decode than the container lists (:class:`ShortVideo`),
    once more with the count and times of a decoding probe, so that frames are sampled among those that decode."""
    try:
        return work(probe(path))
    except ShortVideo:
        return work(probe(path, decode=True))


def _head(lines: Sequence[str] | bytes, count: int = 3) -> str:
    if isinstance(lines, bytes):
        lines = lines.decode("utf-8", "replace").splitlines()
    text = [line.strip() for line in lines if line.strip()]
    more = f" (+{len(text) - count} more lines)" if len(text) > count else ""
    return (" | ".join(text[:count]) if text else "no message") + more


def _encoder_args(quality: str) -> dict:
    if quality not in QUALITY_CRF:
        raise ValueError(f"unknown quality {quality!r}; choose from {list(QUALITY_CRF)}")
    # threads=1 keeps x264 output byte-identical from machine to machine (frame threading depends on core count).
    if quality == "raw":
        return {"vcodec": "libx264rgb", "crf": 0, "pix_fmt": "rgb24", "threads": 1}
    return {"vcodec": "libx264", "crf": QUALITY_CRF[quality], "pix_fmt": "yuv420p", "threads": 1}


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 25.0,
                quality: str = "raw") -> None:
    """Encode RGB uint8 frames (all the same size, even sides) to an mp4, atomically."""
    path = Path(path)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise VideoError(f"{path}: no frames to write")
    h, w = first.shape[:2]
    with atomic_path(path) as tmp:
        args = (
            ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", framerate=fps)
            # passthrough: every input frame keeps its timestamp (a VFR input gives a frame-aligned twin; a CFR
            # input encodes to the same bytes as ffmpeg's default)
            .output(str(tmp), format="mp4", movflags="+faststart", fflags="+bitexact", fps_mode="passthrough",
                    **_encoder_args(quality))
            .global_args("-hide_banner", "-nostdin", "-loglevel", "error", "-y")
            .compile(cmd=ffmpeg_exe())
        )
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for frame in _chain(first, frames):
                if frame.shape != first.shape or frame.dtype != np.uint8:
                    raise VideoError(f"{path}: frame {frame.shape}/{frame.dtype}, expected {first.shape}/uint8")
                proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            pass
        finally:
            proc.stdin.close()
            stderr = proc.stderr.read()
            proc.stderr.close()
            rc = proc.wait()
        if rc != 0:
            raise VideoError(f"{path}: ffmpeg failed to encode: {_tail(stderr)}")


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def compress(src: str | os.PathLike, dst: str | os.PathLike, quality: str) -> None:
    """Re-encode ``src`` at an FF++ quality (c23/c40) as FF++'s compression script does, atomically."""
    src, dst = Path(src), Path(dst)
    with atomic_path(dst) as tmp:
        args = (
            ffmpeg.input(str(src))
            # passthrough: every input frame keeps its timestamp (a VFR input gives a frame-aligned twin; a CFR
            # input encodes to the same bytes as ffmpeg's default)
            .output(str(tmp), format="mp4", movflags="+faststart", fflags="+bitexact", fps_mode="passthrough",
                    **_encoder_args(quality))
            .global_args("-hide_banner", "-nostdin", "-loglevel", "error", "-y")
            .compile(cmd=ffmpeg_exe())
        )
        proc = subprocess.run(args, capture_output=True, check=False)
        if proc.returncode != 0:
            raise VideoError(f"{src}: ffmpeg failed to compress to {quality}: {_tail(proc.stderr)}")
