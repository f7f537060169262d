"""add.data.video: probe, frame selection, FF++-style encoding, damaged files."""

import hashlib
import shutil

import numpy as np
import pytest
from video_factory import damage_inside

from add.data.video import VideoError, compress, probe, read_frames, write_video


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
