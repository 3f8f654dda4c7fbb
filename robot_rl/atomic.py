"""Atomic file writes: a reader sees the old file or the new one, never a torn one.

The data goes to a uniquely named temporary file in the target's directory
(``.<name>.<pid>-<random>.tmp``, so a ``*.tmp`` glob finds leftovers), is
flushed and fsynced, moved over the target with ``os.replace`` (atomic on
POSIX) and the directory is fsynced so the rename itself survives a power cut.
A crash leaves at most a stray ``.tmp`` file, which readers must ignore.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

TMP_SUFFIX = ".tmp"
"""Suffix of the temporary files (ignore or delete ``*.tmp`` leftovers of a crashed writer)."""


def _fsync_dir(directory: Path) -> None:
    """fsync a directory so a rename in it is durable (skipped where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """Binary file object whose content replaces ``path`` atomically when the block exits normally.

    If the block raises, the temporary file is removed and ``path`` is untouched. The
    parent directory must exist. Permissions follow the umask, as for ``open(path, "wb")``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and durably (temp file, fsync, os.replace, fsync dir); returns the path."""
    path = Path(path)
    with atomic_file(path) as f:
        f.write(data)
    return path
