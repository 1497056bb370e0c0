"""Crash-safe file writes: a temp file in the same folder, fsync, then `os.replace`.

A reader sees either the old file or the complete new one, never a half-written file, and the
new file carries its final mode from the moment it is created (a secret written with mode 0600
is never readable by others, not even briefly). The default mode is 0600: evidence, reports and
exports are private to Recoup's user. On failure the temp file is removed and the
OSError propagates; callers convert it at their boundary.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

TEMP_PREFIX = ".tmp-"
"""Name prefix of in-flight temp files; anything left with it after a crash is garbage."""


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o600, sync_dir: bool = True) -> None:
    """Write `data` to `path` atomically; the file ends with permission bits `mode`.

    The temp file is created with `O_EXCL` and `mode` (then `fchmod` to undo the umask), the
    data is fsynced, the temp file renamed over `path`, and the folder fsynced so the rename
    survives a power cut. `sync_dir=False` leaves that last fsync to the caller, who writes
    several files into one folder and fsyncs it once at the end (:func:`fsync_dir`).
    """
    with _replacing(path, mode, sync_dir=sync_dir) as fd:
        _write_all(fd, data)


def atomic_copy(src: Path, dest: Path, *, mode: int = 0o600, chunk: int = 1 << 20) -> str:
    """Copy `src` to `dest` atomically (same guarantees as :func:`atomic_write_bytes`).

    Returns the sha256 hex digest of the bytes written, computed while copying, so the hash
    describes exactly what landed on disk even if `src` changes afterwards.
    """
    digest = hashlib.sha256()
    with _replacing(dest, mode) as fd, src.open("rb") as source:
        while block := source.read(chunk):
            digest.update(block)
            _write_all(fd, block)
    return digest.hexdigest()


@contextlib.contextmanager
def _replacing(path: Path, mode: int, *, sync_dir: bool = True) -> Iterator[int]:
    """Yield the descriptor of a new temp file beside `path` (created with `mode`). When the
    block ends normally the file is fsynced, renamed over `path` and the folder fsynced; when
    it raises, the temp file is removed and the error propagates."""
    folder = path.parent
    tmp = folder / f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        try:
            os.fchmod(fd, mode)
            yield fd
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if sync_dir:
        fsync_dir(folder)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entry table (best effort: some filesystems refuse it)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(dfd)
    finally:
        os.close(dfd)
