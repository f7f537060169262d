"""Running many videos: a pool of spawned processes, fakes started after their originals (so results never depend
on the number of processes or on timing), resumed videos read back, and Ctrl-C that stops every worker at once."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from add.core.layout import ORIGINAL
from add.data.extract.config import ExtractConfig
from add.data.extract.jobs import Reference, VideoJob, VideoResult, _kept
from add.data.extract.per_video import extract_video
from add.data.extract.sidecar import _read_sidecar, fingerprint


def reference_map(jobs: Sequence[VideoJob]) -> dict[int, int]:
    """``{fake job index: index of the original of its target}`` for the fakes whose original is listed."""
    originals = {job.video: job.index for job in jobs if job.method == ORIGINAL}
    return {job.index: originals[job.footage] for job in jobs if job.method != ORIGINAL and job.footage in originals}


class _Inline:
    """The executor of one worker: runs each task in this process when it is submitted."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as e:
            future.set_exception(e)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def extract_videos(jobs: Sequence[VideoJob], cfg: ExtractConfig, *, workers: int | None = None,
                   force: bool = False, done: Callable[[VideoResult], None] | None = None) -> dict[int, VideoResult]:
    """Extract every job, or read it back from its sidecar (unless ``force``); ``done(result)`` after each one.

    Originals (and fakes whose original is not listed) go first; with ``cfg.reuse_boxes`` a fake starts once its
    original is done and gets it as its :class:`Reference`, so results never depend on ``workers`` (default
    ``cfg.workers``) or timing. Fakes whose original is done are preferred to new originals, which bounds the
    thumbnails held in memory.
    """
    by_index = {job.index: job for job in jobs}
    ref_of = reference_map(jobs) if cfg.reuse_boxes else {}
    prints: dict[int, str | None] = {}
    results: dict[int, VideoResult] = {}

    def ref_pair(job: VideoJob) -> tuple[str, str | None] | None:
        if job.index not in ref_of:
            return None
        original = by_index[ref_of[job.index]]
        return original.key, print_of(original)

    def print_of(job: VideoJob) -> str | None:
        if job.index not in prints:
            prints[job.index] = fingerprint(job, cfg, ref_pair(job))
        return prints[job.index]

    def finish(result: VideoResult) -> None:
        results[result.index] = result
        if done is not None:
            done(result)

    todo = []
    for job in sorted(jobs, key=lambda j: j.index in ref_of):  # stable: originals first
        stored = _read_sidecar(job, cfg, print_of(job)) if not force and Path(job.sidecar).is_file() else None
        if stored is not None:
            finish(stored)
        else:
            todo.append(job)
    waiting: dict[int, list[VideoJob]] = {}
    users: dict[int, int] = {}  # original index -> fakes not yet started that need its alignment
    ready, ready_fakes = deque(), deque()
    for job in todo:
        original = ref_of.get(job.index)
        if original is None:
            ready.append(job)
            continue
        users[original] = users.get(original, 0) + 1
        if original in results:  # resumed
            ready_fakes.append(job)
        else:
            waiting.setdefault(original, []).append(job)

    def release(index: int) -> None:
        if users.get(index, 0) == 0 and index in results:
            results[index].alignment = None  # no fake left to check against it

    for index in list(results):
        release(index)

    def reference_for(job: VideoJob) -> Reference | None:
        if job.index not in ref_of:
            return None
        original = ref_of[job.index]
        r = results[original]
        ref = Reference(by_index[original].key, r.fingerprint, tuple(_kept(r.decisions)), r.alignment)
        users[original] -= 1
        release(original)
        return ref

    workers = workers or cfg.workers(len(todo))
    children_before = {child.pid for child in multiprocessing.active_children()}
    # spawn, not fork: the parent holds pyarrow/tqdm threads; workers import only what extract_video needs.
    executor = _Inline() if workers <= 1 or len(todo) <= 1 else ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_started, initargs=(os.getpid(),))
    inline = isinstance(executor, _Inline)
    limit = 1 if inline else 2 * workers
    in_flight: dict[Future, VideoJob] = {}
    try:
        with _sigint_remembered() as interrupted:
            while ready or ready_fakes or in_flight:
                while (ready or ready_fakes) and len(in_flight) < limit:
                    job = (ready_fakes or ready).popleft()
                    # a worker the pool starts meanwhile inherits the blocked SIGINT; inline, Ctrl-C stays live
                    with contextlib.nullcontext() if inline else _sigint_blocked():
                        future = executor.submit(extract_video, job, cfg, prints.get(job.index), reference_for(job))
                    in_flight[future] = job
                finished, _ = wait(in_flight, timeout=_POLL_SECONDS, return_when=FIRST_COMPLETED)
                if interrupted.is_set():
                    raise KeyboardInterrupt
                for future in sorted(finished, key=lambda f: in_flight[f].index):
                    job = in_flight.pop(future)
                    finish(future.result())
                    ready_fakes.extend(waiting.pop(job.index, []))
                    release(job.index)
                if interrupted.is_set():
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        _stop_now(executor, children_before)
        raise
    except BaseException:
        try:
            executor.shutdown(wait=True, cancel_futures=True)  # a video failed: let the running ones finish
        except KeyboardInterrupt:
            _stop_now(executor, children_before)
            raise
        raise
    executor.shutdown()
    return results


# --------------------------------------------------------------------------------------------- interrupting
# Ctrl-C sends SIGINT to the whole foreground process group. The workers (and, through them, their ffmpeg
# decoders) start with SIGINT blocked, so only this process sees it; it then kills the workers at once instead of
# waiting for their videos: what they finished is on disk (tar, then sidecar, each written atomically) and a video
# cut short leaves at most a temp file that the next run removes, so a rerun resumes exactly where this one stopped.


_POLL_SECONDS = 0.2  # how often the scheduler looks at the Ctrl-C flag while it waits for a video


@contextlib.contextmanager
def _sigint_remembered() -> Iterator[threading.Event]:
    """Meanwhile SIGINT raises KeyboardInterrupt as usual *and* sets the yielded flag, which the scheduler checks.

    Python raises a signal handler's exception wherever the main thread happens to be; when that is a finaliser
    (``__del__`` of a pipe or a future the pool drops, a weakref callback) the KeyboardInterrupt is printed as
    "Exception ignored" and lost, and extraction ran on to the end. The flag cannot be lost. A handler someone else
    installed (or SIGINT ignored) is left alone, and outside the main thread nothing changes."""
    interrupted = threading.Event()
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield interrupted
        return

    def on_sigint(signum: int, frame: Any) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread meanwhile (a Ctrl-C then is delivered when the block ends); processes started
    meanwhile keep it blocked."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _worker_started(parent: int) -> None:
    """Initializer of a worker process: it dies with the stage even when the stage is killed outright (SIGKILL,
    out of memory), instead of waiting forever for its next video (Linux; best effort elsewhere)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _stop_now(executor: ProcessPoolExecutor | _Inline, children_before: frozenset[int] | set[int] = frozenset()
              ) -> None:
    """End every worker now, whatever it is doing, and never wait on one; a second Ctrl-C meanwhile waits.

    A Ctrl-C inside ``submit`` can land between a worker's start and the pool's note of it, so the workers are the
    pool's and every child process started since ``children_before`` (the pids before the pool)."""
    if isinstance(executor, _Inline):
        return
    with _sigint_blocked():
        processes = list((getattr(executor, "_processes", None) or {}).values())
        known = {process.pid for process in processes}
        processes += [child for child in multiprocessing.active_children()
                      if child.pid not in children_before and child.pid not in known]
        results = getattr(executor, "_result_queue", None)
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(Exception):
                process.kill()
        for process in processes:
            process.join(5)
        # A worker killed while sending a result leaves half a message in the result pipe: closing our end of it
        # lets the pool's manager thread read EOF instead of waiting for the rest (which would block our exit).
        writer = getattr(results, "_writer", None)
        if writer is not None:
            with contextlib.suppress(OSError):
                writer.close()
