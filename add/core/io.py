"""Small I/O helpers shared by every stage: atomic writes and safe path joins.

Atomic outputs are written to a temp file (or folder) beside the target and renamed over it. ``mkstemp`` and
``mkdtemp`` create those owner-only (0600 / 0700) whatever the umask; every helper here gives the final file or
folder the mode a plain ``open()`` / ``mkdir()`` would (0644 / 0755 under umask 022), so outputs stay readable by a
group on a shared machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from add.core.errors import AddError


class UnsafeOutputError(AddError):
    """A stage would delete a folder that holds, or lies inside, data that is not its own output."""


def current_umask() -> int:
    """The process's umask, without changing it (Linux: /proc; elsewhere set and restored at once)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open()`` gives a new file: 0o666 less the umask."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode ``mkdir()`` gives a new folder: 0o777 less the umask."""
    return 0o777 & ~current_umask()


def make_temp_dir(beside: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """A new empty folder beside ``beside`` (hidden, unique), with the mode ``mkdir()`` would give it; the caller
    fills it and puts it in place with :func:`replace_tree` (or removes it)."""
    beside = Path(beside)
    beside.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{beside.name}.", suffix=suffix, dir=beside.parent))
    os.chmod(tmp, dir_mode())
    return tmp


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on success fsync it and rename it over ``path``.

    An exception (or a kill) leaves ``path`` untouched and removes the temp file, so a reader never sees a
    half-written output.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            os.fchmod(f.fileno(), file_mode())
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path`` for libraries that want a file name; renamed over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, file_mode())  # after the library wrote it: some recreate the file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class HashingWriter:
    """Wraps a binary file being written: counts the bytes written through it and hashes them (sha256), so a writer
    can record what it wrote without reading it back. Enough of a file for ``tarfile`` (write, tell, flush)."""

    def __init__(self, f: IO[bytes]):
        self._file = f
        self._sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._sha256.update(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self._file.tell()

    def flush(self) -> None:
        self._file.flush()

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def record(self) -> dict[str, Any]:
        """``{"size": bytes, "sha256": hex}`` of what was written."""
        return {"size": self.size, "sha256": self.sha256}


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 (hex) of a file's content."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_record(path: str | os.PathLike) -> dict[str, Any]:
    """``{"size": bytes, "sha256": hex}`` of a file on disk, to compare with a :meth:`HashingWriter.record`."""
    with open(path, "rb") as f:
        return {"size": os.fstat(f.fileno()).st_size, "sha256": hashlib.file_digest(f, "sha256").hexdigest()}


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_write(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Deterministic JSON (sorted keys, 2-space indent, trailing newline)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def check_output_file(path: str | os.PathLike, option: str) -> Path:
    """``path`` as a Path, unless it cannot be written as a file: raises :class:`AddError` naming ``option`` when it
    is a folder or its folder cannot be created or written in. A command checks its outputs this way before the
    work, so that finished work is never lost to a bad path."""
    target = Path(path)
    if target.is_dir():
        raise AddError(f"{option} {path}: is a folder; give a file name")
    check_output_folder(target.parent, f"{option} {path}")
    return target


def check_output_folder(folder: str | os.PathLike, what: str) -> None:
    """Create ``folder`` if needed and check that a file can be made in it; :class:`AddError` naming ``what``."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise AddError(f"{what}: cannot write in {folder}: {e.strerror or e}") from None


def climbs_out(relpath: str) -> bool:
    """Whether a relative path leaves its folder by its own ``..`` parts (read lexically, no file system access):
    how a file list is checked before it is joined to a folder that may not exist yet."""
    depth = 0
    for part in Path(relpath).parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return True
    return False


def safe_join(root: str | os.PathLike, relpath: str) -> Path:
    """``root / relpath``, refusing absolute paths and anything that resolves outside ``root``."""
    if not relpath or os.path.isabs(relpath) or "\x00" in relpath:
        raise ValueError(f"refusing path {relpath!r}: must be a non-empty relative path inside {root}")
    root_resolved = Path(root).resolve()
    target = (root_resolved / relpath).resolve()
    if target != root_resolved and root_resolved not in target.parents:
        raise ValueError(f"refusing path {relpath!r}: it escapes {root}")
    return target


def refuse_overlap(output: str | os.PathLike, other: str | os.PathLike, *, output_what: str, other_what: str,
                   ) -> None:
    """Raise UnsafeOutputError, naming both paths, when the folder ``output`` (which a stage deletes and rewrites)
    is ``other``, lies inside it or contains it."""
    out, oth = Path(output).resolve(), Path(other).resolve()
    if out == oth:
        relation = "is"
    elif out in oth.parents:
        relation = "lies inside"
    elif oth in out.parents:
        relation = "contains"
    else:
        return
    raise UnsafeOutputError(f"{other_what} {other} {relation} {output_what} {output}, which this stage deletes to "
                            f"write its output; refusing to run (nothing was deleted) — keep the two apart")


def replace_tree(new: str | os.PathLike, target: str | os.PathLike) -> None:
    """Put the folder ``new`` at ``target`` by renames: the old ``target`` is moved aside first and deleted after,
    so a reader sees the old tree or the new one, never a mix. ``new`` gets the mode ``mkdir()`` would give it (a
    ``mkdtemp`` folder is owner-only)."""
    new, target = Path(new), Path(target)
    os.chmod(new, dir_mode())
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.replace(target, old / target.name)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
