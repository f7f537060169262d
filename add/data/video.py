"""Video I/O through ffmpeg-python with the ffmpeg binary that ``imageio-ffmpeg`` ships.

Arguments always go to ffmpeg as an argument list (ffmpeg-python never builds a shell string), so any file name
is safe. Errors name the file and carry the tail of ffmpeg's own message.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import imageio_ffmpeg
import numpy as np

from add.errors import AddError
from add.io import atomic_path

# FF++'s compression script: raw is lossless RGB H.264, c23/c40 are libx264 at those CRFs.
QUALITY_CRF = {"raw": 0, "c23": 23, "c40": 40}


class VideoError(AddError):
    """A video could not be read or written; the message names the file and the problem."""


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float
    frames: int


@functools.cache
def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def _tail(stderr: bytes, lines: int = 4) -> str:
    text = stderr.decode("utf-8", "replace").strip().splitlines()
    return " | ".join(text[-lines:]) if text else "no message"


_STREAM_RE = re.compile(r"Stream #\S+.*?: Video: .*?(\d{2,5})x(\d{2,5})[\s,\[].*?(?:([\d.]+) fps|([\d.]+) tbr)")
_FRAME_RE = re.compile(r"frame=\s*(\d+)")
_DAMAGE_RE = re.compile(
    r"partial file|corrupt input packet|Packet corrupt|Invalid NAL|moov atom not found|invalid data found",
    re.IGNORECASE,
)


def probe(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate and exact frame count of the first video stream, without decoding.

    The count comes from stream-copying the video packets to a null muxer, which reads the whole container but
    decodes nothing (a few ms for an FF++ clip); header durations are not trusted because truncated files lie.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    args = (
        ffmpeg.input(str(path))
        .output("-", format="null", map="0:v:0", c="copy")
        .global_args("-hide_banner", "-nostdin")
        .compile(cmd=ffmpeg_exe())
    )
    proc = subprocess.run(args, capture_output=True, check=False)
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise VideoError(f"{path}: ffmpeg cannot read it: {_tail(proc.stderr)}")
    damaged = [line.strip() for line in err.splitlines() if _DAMAGE_RE.search(line)]
    if damaged:
        # ffmpeg exits 0 on a file cut mid-stream and just counts fewer frames: that must not pass as a short video.
        raise VideoError(f"{path}: truncated or corrupt: {' | '.join(damaged[:3])}")
    m = _STREAM_RE.search(err)
    frames = _FRAME_RE.findall(err)
    if not m or not frames:
        raise VideoError(f"{path}: no video stream found: {_tail(proc.stderr)}")
    fps = float(m.group(3) or m.group(4))
    n = int(frames[-1])
    if n <= 0:
        raise VideoError(f"{path}: video stream has no frames")
    return VideoInfo(str(path), int(m.group(1)), int(m.group(2)), fps, n)


def read_frames(path: str | os.PathLike, indices: Sequence[int], info: VideoInfo | None = None
                ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame)`` for the sorted, unique ``indices`` (0-based), RGB uint8 H×W×3.

    One ffmpeg process decodes the file once and its ``select`` filter passes only the wanted frames, so memory
    holds one frame at a time. Raises VideoError when the stream ends before the last wanted frame and, once the
    last frame was yielded and the generator is advanced again (iterating it to the end does), when ffmpeg
    reported a decoder error anywhere in the file: on damaged data ffmpeg conceals the broken macroblocks, prints
    "error while decoding MB ..." and exits 0, and the damage spreads through the predicted frames that follow
    until the next keyframe, without ffmpeg saying which frames it touched — so no frame of that pass is trusted.
    """
    path = Path(path)
    indices = list(indices)
    if not indices:
        return
    if indices != sorted(set(indices)) or indices[0] < 0:
        raise ValueError(f"indices must be sorted, unique and non-negative, got {indices[:8]}...")
    info = info or probe(path)
    expr = "+".join(f"eq(n,{i})" for i in indices)
    args = (
        ffmpeg.input(str(path))
        .filter("select", expr)
        .output("pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough")
        .global_args("-hide_banner", "-nostdin", "-loglevel", "error")
        .compile(cmd=ffmpeg_exe())
    )
    frame_bytes = info.width * info.height * 3
    # stderr goes to a file: a pipe nobody reads while frames are read would block ffmpeg once a damaged file
    # fills it with error lines.
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
        stderr = errors.read()
    if got < len(indices):
        raise VideoError(
            f"{path}: decoding stopped after {got} of {len(indices)} selected frames "
            f"(wanted frame {indices[got]}, stream has {info.frames}): {_tail(stderr)}"
        )
    if proc.returncode != 0 or stderr.strip():
        # -loglevel error: anything printed is an error (a clean file prints nothing)
        raise VideoError(f"{path}: decoder errors (ffmpeg concealed damaged data; the frames decoded after it "
                         f"cannot be trusted): {_head(stderr)}")


def _head(stderr: bytes, lines: int = 3) -> str:
    text = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    more = f" (+{len(text) - lines} more lines)" if len(text) > lines else ""
    return (" | ".join(text[:lines]) if text else "no message") + more


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
            .output(str(tmp), format="mp4", movflags="+faststart", fflags="+bitexact", **_encoder_args(quality))
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
            .output(str(tmp), format="mp4", movflags="+faststart", fflags="+bitexact", **_encoder_args(quality))
            .global_args("-hide_banner", "-nostdin", "-loglevel", "error", "-y")
            .compile(cmd=ffmpeg_exe())
        )
        proc = subprocess.run(args, capture_output=True, check=False)
        if proc.returncode != 0:
            raise VideoError(f"{src}: ffmpeg failed to compress to {quality}: {_tail(proc.stderr)}")
