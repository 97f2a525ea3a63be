"""Writing files that survive a crash: the spool, Maildir delivery and DKIM keys all need it.

A file is durable once its data and the directory entry that names it are on disk: fsync the file,
rename it into place (atomic on POSIX), then fsync the directory.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Make a rename or creation in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, *, mode: int = 0o600, temp_dir: Path | None = None) -> None:
    """Write `data` to `path` so that a crash leaves either the old file or the whole new one."""
    temp = (temp_dir or path.parent) / f".{path.name}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
