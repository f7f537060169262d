"""``add download``: fetch the FaceForensics++ videos and splits that the params ask for.

FF++'s public URL scheme: base ``{server}v3/``, file list ``{base}misc/filelist.json`` (``[target, source]`` id
pairs), videos ``{base}{dataset_path}/{quality}/videos/{name}.mp4``. Only the videos of the splits (limited by
``data.max_videos``) for ``data.methods`` x ``data.qualities`` are fetched; the splits come from ``data.splits_url``
into ``{root}/splits/`` unless already there.

Behaviour:
- Refuses unless ``data.agree_tos: true`` (the FF++ terms of use must be accepted through the form linked from
  https://github.com/ondyari/FaceForensics); never prompts.
- A file already at its place with the size the server reports (HEAD's Content-Length) is skipped. A partial file
  ``{name}.mp4.part`` is resumed with an HTTP Range request; it is renamed to ``{name}.mp4`` only once complete, so
  a file with the final name is always whole. Connection errors, timeouts, short bodies, 408/429 and 5xx are retried
  with exponential backoff (progress resets the count); other HTTP errors (404) fail that file at once.
- A failed file does not stop the others: everything that can be fetched is, then DownloadError lists the failures.
- File-list entries that are not a pair of valid ids (e.g. ``../../x``) are skipped with a warning and reported in
  ``DownloadReport.rejected``; nothing is ever built from them. Split files with such entries are an error (they
  decide what is fetched). Every destination goes through ``add.core.io.safe_join``, so nothing lands outside the root.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import urllib3
from tqdm import tqdm

from add.core.args import stage_parser
from add.core.errors import AddError
from add.core.io import atomic_write_bytes, safe_join
from add.core.params import load_params
from add.data import ffpp
from add.data.ffpp import ORIGINAL, SERVERS, SPLITS, FFPPConfig

log = logging.getLogger(__name__)

TOS_URL = "https://github.com/ondyari/FaceForensics"
FILELIST = "misc/filelist.json"
PART_SUFFIX = ".part"
CHUNK = 1 << 20
USER_AGENT = "add-ffpp-downloader/0.1 (+requests)"
FAILED_EXAMPLES = 10  # failures listed in the DownloadError message


class DownloadError(AddError):
    """Something could not be downloaded; the message names each URL and why (``report``: what was done)."""

    def __init__(self, message: str, report: DownloadReport | None = None):
        super().__init__(message)
        self.report = report


class TermsNotAcceptedError(DownloadError):
    """``data.agree_tos`` is false: FF++ may only be downloaded after accepting its terms of use."""


class _Retry(Exception):
    """A transient failure worth another try (dropped connection, short body, 5xx...)."""


class _Fatal(Exception):
    """A failure that another try will not fix (404, 403...)."""


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 5          # extra tries per file after a transient failure without progress
    backoff: float = 1.0      # first wait in seconds; doubles on each try
    max_backoff: float = 60.0
    timeout: float = 60.0     # connect and read timeout of each request, seconds

    def delay(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * 2 ** attempt)


@dataclass
class DownloadReport:
    downloaded: list[Path] = field(default_factory=list)  # fetched from scratch
    resumed: list[Path] = field(default_factory=list)     # completed from a partial file
    skipped: list[Path] = field(default_factory=list)     # already complete
    failed: list[tuple[str, str]] = field(default_factory=list)    # (url, reason)
    rejected: list[tuple[Any, str]] = field(default_factory=list)  # (file-list entry, reason)
    splits_fetched: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.downloaded)} downloaded, {len(self.resumed)} resumed, "
                f"{len(self.skipped)} already complete, {len(self.failed)} failed, "
                f"{len(self.rejected)} file-list entries rejected, {len(self.splits_fetched)} split files fetched")


def server_base_url(server: str) -> str:
    if server not in SERVERS:
        raise ValueError(f"unknown server {server!r}; choose from {list(SERVERS)}")
    return SERVERS[server] + "v3/"


def check_terms(cfg: FFPPConfig) -> None:
    if not cfg.agree_tos:
        raise TermsNotAcceptedError(
            "refusing to download FaceForensics++: params 'data.agree_tos' is false. FaceForensics++ may only be "
            f"downloaded after you fill in the access form and accept its terms of use (see {TOS_URL}); once you "
            "have, set data.agree_tos: true in params.yaml. Or point data.root at a tree you already have and keep "
            "data.download: false."
        )


def parse_filelist(data: bytes, where: str) -> tuple[set[str], list[tuple[Any, str]]]:
    """The video names a file list offers (originals and both fakes of each pair) and the rejected entries."""
    try:
        entries = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise DownloadError(f"{where}: file list is not valid JSON: {e}") from None
    if not isinstance(entries, list):
        raise DownloadError(f"{where}: file list must be a JSON list of [target, source] pairs, "
                            f"got {type(entries).__name__}")
    names: set[str] = set()
    rejected = []
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 2 and all(map(ffpp.is_id, entry))
                and entry[0] != entry[1]):
            reason = "not a [target, source] pair of ids (1-16 letters or digits)"
            log.warning("%s: skipping file-list entry %r: %s", where, entry, reason)
            rejected.append((entry, reason))
            continue
        originals, fakes = ffpp.pair_videos(*entry)
        names.update(originals)
        names.update(fakes)
    return names, rejected


class Downloader:
    """Resumable downloads of single files over one HTTP session."""

    def __init__(self, retry: RetryPolicy | None = None, session: requests.Session | None = None,
                 progress: bool = True, sleep: Callable[[float], None] = time.sleep):
        self.retry = retry or RetryPolicy()
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        # Sizes and byte ranges must be those of the file itself, not of a compressed transfer.
        self.session.headers["Accept-Encoding"] = "identity"
        self.progress = progress
        self.sleep = sleep

    def _with_retries(self, url: str, attempt_fn: Callable[[], Any], progress_fn: Callable[[], int] = lambda: 0):
        attempt = 0
        while True:
            before = progress_fn()
            try:
                return attempt_fn()
            except _Retry as e:
                if progress_fn() > before:
                    attempt = 0
                if attempt >= self.retry.retries:
                    raise _Fatal(f"gave up after {self.retry.retries + 1} tries: {e}") from None
                delay = self.retry.delay(attempt)
                log.info("%s: %s; retrying in %.3gs", url, e, delay)
                self.sleep(delay)
                attempt += 1

    def _request(self, method: str, url: str, accept: tuple[int, ...] = (), **kwargs) -> requests.Response:
        """One request; 2xx and the ``accept`` statuses are returned, the rest raise _Retry or _Fatal."""
        try:
            response = self.session.request(method, url, timeout=self.retry.timeout, allow_redirects=True, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as e:
            raise _Retry(f"{type(e).__name__}: {e}") from None
        status = response.status_code
        if status < 400 or status in accept:
            return response
        response.close()
        if status in (408, 429) or status >= 500:
            raise _Retry(f"HTTP {status} {response.reason}")
        raise _Fatal(f"HTTP {status} {response.reason}")

    def get_bytes(self, url: str) -> bytes:
        """A small file (file list, split) in memory."""
        def attempt() -> bytes:
            response = self._request("GET", url)
            try:
                return response.content
            except requests.RequestException as e:
                raise _Retry(f"{type(e).__name__}: {e}") from None
        try:
            return self._with_retries(url, attempt)
        except _Fatal as e:
            raise DownloadError(f"{url}: {e}") from None

    def remote_size(self, url: str) -> int | None:
        """Content-Length from a HEAD, or from a GET's headers (body unread) when HEAD does not say; else None."""
        def attempt() -> int | None:
            for method in ("HEAD", "GET"):
                response = self._request(method, url, accept=(405, 501), stream=True)
                response.close()
                length = response.headers.get("Content-Length")
                if response.status_code < 400 and length and length.isdigit():
                    return int(length)
            return None
        return self._with_retries(url, attempt)

    def fetch(self, url: str, dest: Path) -> str:
        """Download ``url`` to ``dest``: ``"skipped"`` (already complete), ``"resumed"`` or ``"downloaded"``.

        Raises _Fatal with the reason when the file cannot be had.
        """
        part = dest.with_name(dest.name + PART_SUFFIX)
        if dest.is_file():
            size = self.remote_size(url)
            if size is not None and dest.stat().st_size == size:
                return "skipped"
            log.warning("%s: %d bytes but the server %s; downloading it again", dest, dest.stat().st_size,
                        "gives no size" if size is None else f"has {size}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        resumed = part.is_file() and part.stat().st_size > 0

        def part_size() -> int:
            return part.stat().st_size if part.exists() else 0

        self._with_retries(url, lambda: self._fetch_once(url, part), part_size)
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(part, dest)
        return "resumed" if resumed else "downloaded"

    def _fetch_once(self, url: str, part: Path) -> None:
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = self._request("GET", url, accept=(416,) if offset else (), headers=headers, stream=True)
        with contextlib.closing(response):
            if response.status_code == 416:  # the part is already whole (or longer than the file): check the size
                total = _content_range_total(response.headers.get("Content-Range", ""))
                if total is not None and total == offset:
                    return
                part.unlink()
                raise _Retry(f"server refused range from byte {offset} (file has {total} bytes); starting over")
            if response.status_code == 206:
                start = _content_range_start(response.headers.get("Content-Range", ""))
                if start != offset:
                    part.unlink()
                    raise _Retry(f"server answered range from byte {start} for byte {offset}; starting over")
                total = _content_range_total(response.headers.get("Content-Range", ""))
                mode = "ab"
            else:  # 200: the whole file (the server may ignore Range)
                offset = 0
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                mode = "wb"
            with open(part, mode) as f, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                             desc=part.name[: -len(PART_SUFFIX)], leave=False,
                                             disable=not self.progress) as bar:
                try:
                    for chunk in _iter_body(response):
                        f.write(chunk)
                        bar.update(len(chunk))
                except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
                    raise _Retry(f"connection lost at byte {f.tell()}: {type(e).__name__}") from None
                size = f.tell()
            if total is not None and size != total:
                if size > total:
                    part.unlink()
                raise _Retry(f"got {size} of {total} bytes")


def _iter_body(response: requests.Response):
    """The body as it arrives. ``read1`` hands over every byte received before a connection drops, where
    ``iter_content`` would lose the last chunk it was filling; that is what makes resuming from the part exact."""
    read1 = getattr(response.raw, "read1", None)
    if read1 is None:
        yield from response.iter_content(CHUNK)
        return
    while chunk := read1(CHUNK, decode_content=False):
        yield chunk


_CONTENT_RANGE_RE = re.compile(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)")


def _content_range_start(value: str) -> int | None:
    m = _CONTENT_RANGE_RE.match(value.strip())
    return int(m.group(1)) if m and m.group(1) else None


def _content_range_total(value: str) -> int | None:
    m = _CONTENT_RANGE_RE.match(value.strip())
    return int(m.group(2)) if m and m.group(2) != "*" else None


def fetch_splits(cfg: FFPPConfig, downloader: Downloader, report: DownloadReport) -> dict[str, list]:
    """``{root}/splits/{split}.json`` from ``cfg.splits_url`` unless already there; validated before writing."""
    splits_dir = cfg.splits_dir
    for split in SPLITS:
        path = splits_dir / f"{split}.json"
        if path.is_file():
            continue
        url = f"{cfg.splits_url}/{split}.json"
        data = downloader.get_bytes(url)
        ffpp.parse_split(data, url)
        atomic_write_bytes(path, data)
        report.splits_fetched.append(path)
    return ffpp.load_splits(splits_dir)


def download(cfg: FFPPConfig, base_url: str | None = None, *, retry: RetryPolicy | None = None,
             progress: bool = True, session: requests.Session | None = None,
             sleep: Callable[[float], None] = time.sleep) -> DownloadReport:
    """Fill ``cfg.root`` with the splits and the videos they name (see the module docstring).

    ``base_url`` replaces ``{server}v3/`` (a mirror, or a local test server). Raises TermsNotAcceptedError when
    ``cfg.agree_tos`` is false, DownloadError listing every file that could not be had (after fetching the rest).
    """
    check_terms(cfg)
    base = (base_url or server_base_url(cfg.server)).rstrip("/") + "/"
    downloader = Downloader(retry, session, progress, sleep)
    report = DownloadReport()
    root = Path(cfg.root)
    root.mkdir(parents=True, exist_ok=True)

    splits = fetch_splits(cfg, downloader, report)
    filelist_url = base + FILELIST
    offered, report.rejected = parse_filelist(downloader.get_bytes(filelist_url), filelist_url)

    wanted = ffpp.wanted_videos(splits, cfg.methods, cfg.max_videos)
    jobs, n_wanted = [], 0
    for quality in cfg.qualities:
        for method in [ORIGINAL, *cfg.methods]:
            for split in SPLITS:
                for name in wanted[split][method]:
                    relpath = ffpp.video_relpath(method, quality, name)
                    url = base + relpath
                    n_wanted += 1
                    if name not in offered:
                        report.failed.append((url, f"{name} is not in the server's file list {filelist_url}"))
                        continue
                    try:
                        dest = safe_join(root, relpath)
                    except ValueError as e:
                        report.failed.append((url, str(e)))
                        continue
                    jobs.append((url, dest))

    with tqdm(jobs, unit="video", desc="FF++ download", disable=not progress) as bar:
        for url, dest in bar:
            try:
                outcome = downloader.fetch(url, dest)
            except _Fatal as e:
                report.failed.append((url, str(e)))
                continue
            getattr(report, outcome).append(dest)
            bar.set_postfix(failed=len(report.failed), refresh=False)

    if report.failed:
        lines = [f"{url}: {reason}" for url, reason in report.failed[:FAILED_EXAMPLES]]
        more = len(report.failed) - FAILED_EXAMPLES
        raise DownloadError(
            f"{len(report.failed)} of {n_wanted} FF++ files could not be downloaded into {root} "
            f"({report.summary()}):\n  " + "\n  ".join(lines) + (f"\n  (+{more} more)" if more > 0 else "")
            + "\nRerun to retry: complete files are kept and partial ones resume.",
            report,
        )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add download", __doc__)
    parser.add_argument("--base-url", default=None,
                        help="download from this URL instead of {server}v3/ (a mirror of FF++'s v3/ tree)")
    args = parser.parse_args(argv)
    cfg = FFPPConfig.from_params(load_params(args.params))
    report = download(cfg, args.base_url)
    print(f"add download: {cfg.root}: {report.summary()}")
    return 0
