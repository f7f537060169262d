"""add.data.video_io: probe, frame selection, FF++-style encoding, damaged files."""

import hashlib
import shutil
import subprocess

import numpy as np
import pytest
from video_factory import damage_inside

from add.data import video_io as video
from add.data.video_io import ShortVideo, VideoError, compress, ffmpeg_exe, probe, read_frames, write_video


def _frames(n=20, h=96, w=128):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return [np.roll(base, 3 * i, axis=1) for i in range(n)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    frames = _frames()
    write_video(root / "raw.mp4", frames)
    compress(root / "raw.mp4", root / "c23.mp4", "c23")
    compress(root / "raw.mp4", root / "c40.mp4", "c40")
    return root, frames


def test_probe_counts_frames_and_size(clips):
    root, frames = clips
    for q in ("raw", "c23", "c40"):
        info = probe(root / f"{q}.mp4")
        assert (info.width, info.height, info.frames, info.fps) == (128, 96, len(frames), 25.0)


def test_raw_is_lossless_and_selection_decodes_only_wanted_frames(clips):
    root, frames = clips
    got = list(read_frames(root / "raw.mp4", [0, 7, 19]))
    assert [i for i, _ in got] == [0, 7, 19]
    for i, frame in got:
        np.testing.assert_array_equal(frame, frames[i])


def test_compression_error_grows_with_crf(clips):
    root, frames = clips
    err = {q: np.abs(dict(read_frames(root / f"{q}.mp4", [5]))[5].astype(float) - frames[5]).mean()
           for q in ("c23", "c40")}
    assert 0 < err["c23"] < err["c40"]


def test_encoding_is_byte_identical(tmp_path, clips):
    root, frames = clips
    write_video(tmp_path / "raw.mp4", frames)
    compress(tmp_path / "raw.mp4", tmp_path / "c40.mp4", "c40")
    for name in ("raw.mp4", "c40.mp4"):
        assert hashlib.sha256((tmp_path / name).read_bytes()).digest() == \
            hashlib.sha256((root / name).read_bytes()).digest()


def test_asking_past_the_end_names_the_file(clips):
    root, _ = clips
    with pytest.raises(VideoError, match=r"raw\.mp4.*stopped after 1 of 2"):
        list(read_frames(root / "raw.mp4", [3, 50]))


@pytest.mark.parametrize("quality", ["raw", "c23"])
def test_truncated_file_is_reported_not_shortened(tmp_path, clips, quality):
    root, _ = clips
    data = (root / f"{quality}.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="cut.mp4"):
        probe(cut)


def test_decoder_errors_inside_a_readable_file_are_reported(tmp_path, clips):
    root, frames = clips
    damaged = tmp_path / "damaged.mp4"
    shutil.copy(root / "raw.mp4", damaged)
    damage_inside(damaged, 2048)
    assert probe(damaged).frames == len(frames)  # the container is intact: every frame is still counted
    with pytest.raises(VideoError, match=r"damaged\.mp4: decoder errors .*error while decoding MB"):
        list(read_frames(damaged, range(len(frames))))
    with pytest.raises(VideoError, match="decoder errors"):
        list(read_frames(damaged, [0]))  # the error comes after the frame asked for: the pass still reports it
    assert len(list(read_frames(root / "raw.mp4", range(len(frames))))) == len(frames)  # a clean file passes


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        probe(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoError, match="junk.mp4"):
        probe(junk)


def test_failed_encode_leaves_no_file(tmp_path):
    frames = _frames(3)
    bad = [frames[0], frames[1][:10]]
    with pytest.raises(VideoError, match="expected"):
        write_video(tmp_path / "x.mp4", bad)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------- footage as phones and editors make it
def _ffmpeg(*args):
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *map(str, args)],
                   check=True, capture_output=True)


@pytest.fixture(scope="module")
def long_raw(tmp_path_factory):
    """50 lossless frames (one GOP), so a stream-copy cut must start on a discarded pre-roll."""
    root = tmp_path_factory.mktemp("long")
    frames = _frames(50)
    write_video(root / "raw.mp4", frames)
    return root, frames


@pytest.mark.parametrize("rotation", [90, 270])
def test_display_rotation_gives_upright_frames(tmp_path, long_raw, rotation):
    root, frames = long_raw
    phone = tmp_path / "phone.mp4"
    _ffmpeg("-display_rotation", rotation, "-i", root / "raw.mp4", "-c", "copy", phone)
    info = probe(phone)
    assert (info.width, info.height, info.frames, info.rotation) == (96, 128, 50, rotation)
    got = dict(read_frames(phone, [0, 7], info))
    turned = np.rot90(frames[7], k=1 if rotation == 90 else -1)  # the display matrix turns counter-clockwise
    np.testing.assert_array_equal(got[7], turned)


def test_stream_copy_cut_gives_the_frames_that_decode(tmp_path, long_raw):
    root, frames = long_raw
    cut = tmp_path / "cut.mp4"
    _ffmpeg("-ss", "1", "-i", root / "raw.mp4", "-c", "copy", cut)  # keyframe at 0: 25 frames of pre-roll
    info = probe(cut)
    assert info.frames == 25 and info.times[:2] == (0.0, 0.04)
    got = list(read_frames(cut, range(25), info))
    assert len(got) == 25
    np.testing.assert_array_equal(got[0][1], frames[25])
    np.testing.assert_array_equal(got[-1][1], frames[49])


def test_transport_stream_starting_mid_gop_is_read(tmp_path, long_raw):
    root, _ = long_raw
    ts = tmp_path / "whole.ts"
    _ffmpeg("-i", root / "raw.mp4", "-c:v", "libx264", "-g", "20", "-bf", "2", "-pix_fmt", "yuv420p",
            "-f", "mpegts", ts)
    blob = ts.read_bytes()
    mid = tmp_path / "mid.ts"
    mid.write_bytes(blob[(len(blob) // 188 // 3) * 188:])  # cut on a TS packet boundary, inside a GOP
    info = probe(mid)
    assert 0 < info.frames < 50
    assert probe(mid, decode=True).frames == info.frames
    assert len(list(read_frames(mid, range(info.frames), info))) == info.frames


def test_variable_frame_rate_has_true_times(tmp_path, long_raw):
    root, _ = long_raw
    vfr = tmp_path / "vfr.mkv"
    # 10 frames at 25 fps, then 1 frame every 0.5 s: frame 24 is shown at 0.4 + 14 * 0.5 = 7.4 s
    _ffmpeg("-i", root / "raw.mp4", "-vf", "setpts='if(lt(N,10),N*0.04,0.4+(N-10)*0.5)/TB'", "-fps_mode",
            "passthrough", "-c:v", "libx264", "-pix_fmt", "yuv420p", vfr)
    info = probe(vfr)
    assert info.frames == 50
    assert info.time(5) == pytest.approx(0.2, abs=1e-3)
    assert info.time(24) == pytest.approx(7.4, abs=1e-3)
    assert probe(vfr, decode=True).times == pytest.approx(info.times, abs=1e-3)


def test_a_variable_frame_rate_video_compresses_to_a_frame_aligned_twin(tmp_path, long_raw):
    root, _ = long_raw
    vfr = tmp_path / "vfr.mp4"
    _ffmpeg("-i", root / "raw.mp4", "-vf", "setpts='if(lt(N,10),N*0.04,0.4+(N-10)*0.5)/TB'", "-fps_mode",
            "passthrough", "-c:v", "libx264", "-pix_fmt", "yuv420p", vfr)
    twin = tmp_path / "c40.mp4"
    compress(vfr, twin, "c40")
    source, compressed = probe(vfr), probe(twin)
    assert compressed.frames == source.frames == 50
    assert compressed.times == pytest.approx(source.times, abs=1e-3)


def test_twenty_thousand_frames_do_not_grow_the_command_line(tmp_path):
    clip = tmp_path / "many.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=16x16:r=1000", "-t", "20", "-c:v", "libx264", "-preset",
            "ultrafast", "-pix_fmt", "yuv420p", clip)
    info = probe(clip)
    assert info.frames == 20_000
    wanted = list(range(0, 20_000, 1))
    count = sum(1 for _ in read_frames(clip, wanted, info))
    assert count == 20_000


def test_audio_only_says_no_video_stream(tmp_path):
    audio = tmp_path / "voice.m4a"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", audio)
    with pytest.raises(VideoError, match=r"voice\.m4a: no video stream"):
        probe(audio)


def test_with_frames_retries_with_a_decoding_probe_when_fewer_frames_decode(clips, monkeypatch):
    root, frames = clips
    calls = []

    def work(info):
        calls.append(info.frames)
        if "decode" not in calls:  # as if the container listed more frames than decode
            raise ShortVideo("only 20 frames decode", 20)
        return info

    real_probe = video.probe
    monkeypatch.setattr(video, "probe", lambda path, decode=False: (calls.append("decode" if decode else "copy"),
                                                                      real_probe(path, decode))[1])
    info = video.with_frames(root / "raw.mp4", work)
    assert calls == ["copy", len(frames), "decode", len(frames)] and info.frames == len(frames)
