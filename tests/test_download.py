"""The real downloader against a local HTTP server on 127.0.0.1 serving a generated mini FF++ tree."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from committed import raw as default_params
from ffpp_server import FFPPServer, make_splits, server_tree, video_files

from add import cli
from add.data import download as dl
from add.data import ffpp
from add.data.ffpp import ORIGINAL, FFPPConfig
from add.data.video_io import probe, write_video

FAST = dl.RetryPolicy(retries=3, backoff=0.001, max_backoff=0.01, timeout=5)
METHODS = ("Deepfakes",)
QUALITIES = ("c23", "c40")


def config(root: Path, server: FFPPServer, **overrides) -> FFPPConfig:
    values = dict(source="ffpp", root=root, download=True, agree_tos=True, splits_url=server.url + "splits",
                  methods=METHODS, qualities=QUALITIES, max_videos=None)
    return FFPPConfig(**{**values, **overrides})


def run(cfg: FFPPConfig, server: FFPPServer, **kwargs) -> dl.DownloadReport:
    return dl.download(cfg, server.url + "v3/", retry=FAST, progress=False, **kwargs)


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


@pytest.fixture
def splits():
    return make_splits((2, 1, 1))


@pytest.fixture
def server(splits):
    with FFPPServer(server_tree(splits, METHODS, QUALITIES)) as s:
        yield s


def test_downloads_splits_and_videos(tmp_path, splits, server):
    root = tmp_path / "ffpp"
    report = run(config(root, server), server)

    expected = video_files(splits, METHODS, QUALITIES)
    assert len(expected) == 2 * 4 * 4  # qualities x pairs x (2 originals + 2 fakes)
    assert files_under(root) == sorted([*expected, "splits/test.json", "splits/train.json", "splits/val.json"])
    for rel, data in expected.items():
        assert (root / rel).read_bytes() == data
    for split, pairs in splits.items():
        assert json.loads((root / "splits" / f"{split}.json").read_text()) == pairs
    assert len(report.downloaded) == len(expected) and not report.skipped and not report.failed
    assert len(report.splits_fetched) == 3
    # The result is a valid tree for the index.
    frame = ffpp.list_videos(root, METHODS, QUALITIES)
    assert len(frame) == 16


def test_complete_files_are_not_downloaded_again(tmp_path, server):
    root = tmp_path / "ffpp"
    run(config(root, server), server)
    before = {p: p.read_bytes() for p in root.rglob("*.mp4")}
    mtimes = {p: p.stat().st_mtime_ns for p in before}
    gets_before = server.count("GET")

    report = run(config(root, server), server)
    assert len(report.skipped) == len(before) and not report.downloaded and not report.resumed
    assert server.count("GET") - gets_before == 1  # only the file list; no video, no split
    assert server.count("GET", "splits/") == 3
    assert {p: p.stat().st_mtime_ns for p in before} == mtimes


def test_size_check_falls_back_to_get_headers_without_head(tmp_path, server):
    root = tmp_path / "ffpp"
    run(config(root, server), server)
    server.refuse_head = True
    report = run(config(root, server), server)
    assert len(report.skipped) == 32 and not report.downloaded


def test_wrong_size_file_is_replaced(tmp_path, server):
    root = tmp_path / "ffpp"
    run(config(root, server), server)
    rel = ffpp.video_relpath("Deepfakes", "c40", "002_003")
    (root / rel).write_bytes(b"truncated")
    report = run(config(root, server), server)
    assert report.downloaded == [root / rel] and len(report.skipped) == 31
    assert (root / rel).read_bytes() == server.files[f"v3/{rel}"]


def test_only_videos_of_the_splits_within_the_limit(tmp_path, splits):
    # The server offers pairs that are in no split; max_videos=3 keeps ids 000, 001, 002 of train.
    extra = [["900", "901"]]
    filelist = [*extra, *[p for pairs in splits.values() for p in pairs]]
    tree = server_tree({**splits, "extra": extra}, METHODS, QUALITIES, filelist=filelist)
    del tree["splits/extra.json"]
    with FFPPServer(tree) as server:
        report = run(config(tmp_path / "ffpp", server, max_videos=3, qualities=("c23",)), server)
        video_gets = sorted(p.rsplit("/", 1)[1] for m, p, _ in server.requests if m == "GET" and p.endswith(".mp4"))
    assert video_gets == sorted(["000.mp4", "001.mp4", "002.mp4", "004.mp4", "005.mp4", "006.mp4", "007.mp4",
                                 "000_001.mp4", "001_000.mp4", "004_005.mp4", "005_004.mp4", "006_007.mp4",
                                 "007_006.mp4"])
    assert len(report.downloaded) == len(video_gets)


def test_dropped_connection_resumes_with_range(tmp_path, server):
    rel = ffpp.video_relpath(ORIGINAL, "c23", "001")
    url_path = f"v3/{rel}"
    half = len(server.files[url_path]) // 2
    server.drop_after[url_path] = half
    root = tmp_path / "ffpp"
    report = run(config(root, server), server)

    assert (root / rel).read_bytes() == server.files[url_path]
    gets = [(p, r) for m, p, r in server.requests if m == "GET" and p == url_path]
    assert gets == [(url_path, None), (url_path, f"bytes={half}-")]
    assert not list(root.rglob("*.part")) and not report.failed


def test_partial_file_from_an_interrupted_run_is_resumed(tmp_path, server):
    root = tmp_path / "ffpp"
    rel = ffpp.video_relpath("Deepfakes", "c40", "000_001")
    data = server.files[f"v3/{rel}"]
    part = root / (rel + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1234])
    report = run(config(root, server), server)
    assert report.resumed == [root / rel]
    assert (root / rel).read_bytes() == data and not part.exists()
    assert ("GET", f"v3/{rel}", "bytes=1234-") in server.requests
    assert server.count("GET", f"v3/{rel}") == 1


def test_complete_part_file_is_finished_without_body(tmp_path, server):
    root = tmp_path / "ffpp"
    rel = ffpp.video_relpath(ORIGINAL, "c40", "000")
    data = server.files[f"v3/{rel}"]
    (root / rel).parent.mkdir(parents=True)
    (root / (rel + ".part")).write_bytes(data)
    report = run(config(root, server), server)
    assert (root / rel).read_bytes() == data and root / rel in report.resumed


def test_server_ignoring_range_starts_over(tmp_path, server):
    root = tmp_path / "ffpp"
    rel = ffpp.video_relpath(ORIGINAL, "c23", "000")
    server.ignore_range = True
    server.drop_after[f"v3/{rel}"] = 1000
    run(config(root, server), server)
    assert (root / rel).read_bytes() == server.files[f"v3/{rel}"]
    assert [r for m, p, r in server.requests if m == "GET" and p == f"v3/{rel}"] == [None, "bytes=1000-"]


def test_transient_errors_are_retried(tmp_path, server):
    root = tmp_path / "ffpp"
    rel = ffpp.video_relpath("Deepfakes", "c23", "001_000")
    server.fail_with[f"v3/{rel}"] = [503, 500]
    server.fail_with["v3/misc/filelist.json"] = [502]
    sleeps = []
    run(config(root, server), server, sleep=sleeps.append)
    assert (root / rel).read_bytes() == server.files[f"v3/{rel}"]
    assert sleeps == [FAST.delay(0), FAST.delay(0), FAST.delay(1)]  # filelist once; the video twice, doubling


def test_persistent_errors_give_up(tmp_path, server):
    rel = ffpp.video_relpath(ORIGINAL, "c40", "006")
    server.fail_with[f"v3/{rel}"] = [503] * 10
    with pytest.raises(dl.DownloadError, match=r"(?s)1 of 32 .*006\.mp4: gave up after 4 tries: HTTP 503"):
        run(config(tmp_path / "ffpp", server), server)
    assert server.count("GET", f"v3/{rel}") == 4


def test_404_is_reported_and_the_rest_downloaded(tmp_path, server):
    root = tmp_path / "ffpp"
    rel = ffpp.video_relpath("Deepfakes", "c40", "004_005")
    del server.files[f"v3/{rel}"]
    with pytest.raises(dl.DownloadError) as e:
        run(config(root, server), server)
    message = str(e.value)
    assert f"{server.url}v3/{rel}: HTTP 404" in message and message.startswith("1 of 32 ")
    assert "Rerun to retry" in message
    assert server.count("GET", f"v3/{rel}") == 1  # a 404 is not retried
    assert not (root / rel).exists() and not (root / (rel + ".part")).exists()
    assert len(e.value.report.downloaded) == 31


def test_video_not_in_file_list_is_reported(tmp_path, splits):
    filelist = [p for pairs in splits.values() for p in pairs][1:]  # drop pair 000/001
    with FFPPServer(server_tree(splits, METHODS, QUALITIES, filelist=filelist)) as server:
        with pytest.raises(dl.DownloadError, match="(?s)8 of 32 .*000.mp4: 000 is not in the server's file list"):
            run(config(tmp_path / "ffpp", server), server)
        assert server.count("GET", "v3/original_sequences/youtube/c23/videos/000.mp4") == 0


def test_hostile_file_list_entries_are_rejected(tmp_path, splits, caplog):
    target = tmp_path / "sandbox" / "ffpp"
    hostile = [["../../x", "000"], ["..", "/etc/passwd"], "../../x", ["000_1", "002"], ["004", "004"]]
    filelist = [*hostile, *[p for pairs in splits.values() for p in pairs]]
    tree = server_tree(splits, METHODS, QUALITIES, filelist=filelist)
    # Files the hostile entries would point at, in case anything followed them.
    for quality in QUALITIES:
        tree[f"v3/original_sequences/youtube/{quality}/videos/../../x.mp4"] = b"evil"
        tree["x.mp4"] = b"evil"
    with FFPPServer(tree) as server:
        report = run(config(target, server), server)
        requested = [p for _, p, _ in server.requests]
    assert [entry for entry, _ in report.rejected] == hostile
    assert "skipping file-list entry ['../../x', '000']" in caplog.text
    assert not any("x.mp4" in p or ".." in p for p in requested)
    assert files_under(tmp_path) == sorted(f"sandbox/ffpp/{p}" for p in files_under(target))
    assert len(report.downloaded) == 32 and not report.failed


def test_hostile_split_entry_is_an_error_and_writes_nothing(tmp_path, splits):
    tree = server_tree(splits, METHODS, QUALITIES)
    tree["splits/val.json"] = json.dumps([["../../x", "009"]]).encode()
    with FFPPServer(tree) as server:
        with pytest.raises(ffpp.SplitsError, match=r"val.json: entry 0 .* bad id"):
            run(config(tmp_path / "ffpp", server), server)
        assert server.count("GET", "v3/") == 0
    assert files_under(tmp_path) == ["ffpp/splits/train.json"]


def test_splits_already_present_are_kept(tmp_path, splits, server):
    root = tmp_path / "ffpp"
    (root / "splits").mkdir(parents=True)
    local = {"train": [["002", "003"]], "val": [["004", "005"]], "test": [["006", "007"]]}
    for split, pairs in local.items():
        (root / "splits" / f"{split}.json").write_text(json.dumps(pairs))
    report = run(config(root, server), server)
    assert server.count("GET", "splits/") == 0 and not report.splits_fetched
    assert not (root / ffpp.video_relpath(ORIGINAL, "c23", "000")).exists()
    assert len(report.downloaded) == 2 * 3 * 4


def test_terms_not_accepted_is_refused(tmp_path, server):
    root = tmp_path / "ffpp"
    with pytest.raises(dl.TermsNotAcceptedError) as e:
        run(config(root, server, agree_tos=False), server)
    assert "https://github.com/ondyari/FaceForensics" in str(e.value) and "terms of use" in str(e.value)
    assert "data.agree_tos" in str(e.value)
    assert not server.requests and not root.exists()


def test_real_videos_survive_a_dropped_connection(tmp_path):
    splits = {"train": [["000", "001"]], "val": [], "test": []}
    tree = server_tree(splits, (), ("c23",))
    for i, name in enumerate(("000", "001")):
        frames = [np.full((32, 48, 3), 20 * i + 10 * f, np.uint8) for f in range(5 + i)]
        mp4 = tmp_path / f"{name}.mp4"
        write_video(mp4, frames, quality="c23")
        tree[f"v3/{ffpp.video_relpath(ORIGINAL, 'c23', name)}"] = mp4.read_bytes()
    rel = ffpp.video_relpath(ORIGINAL, "c23", "001")
    root = tmp_path / "ffpp"
    with FFPPServer(tree) as server:
        server.drop_after[f"v3/{rel}"] = len(tree[f"v3/{rel}"]) // 2
        run(config(root, server, methods=(), qualities=("c23",)), server)
    assert (root / rel).read_bytes() == (tmp_path / "001.mp4").read_bytes()
    for name, frames in (("000", 5), ("001", 6)):
        info = probe(root / ffpp.video_relpath(ORIGINAL, "c23", name))
        assert (info.width, info.height, info.frames) == (48, 32, frames)


def test_cli(tmp_path, server, capsys):
    params = default_params()
    root = tmp_path / "ffpp"
    params["data"].update(source="ffpp", root=str(root), download=True, agree_tos=False,
                          splits_url=server.url + "splits", methods=list(METHODS), qualities=list(QUALITIES),
                          max_videos=2)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))

    assert cli.main(["download", "--params", str(path), "--base-url", server.url + "v3/"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("add download: error: refusing to download") and "Traceback" not in err

    params["data"]["agree_tos"] = True
    path.write_text(yaml.safe_dump(params))
    assert dl.main(["--params", str(path), "--base-url", server.url + "v3/"]) == 0
    assert "already complete" in capsys.readouterr().out
    assert len(list(root.rglob("*.mp4"))) == 3 * 4 * 2  # 3 splits x (2 originals + 2 fakes) x 2 qualities
