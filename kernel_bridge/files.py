"""Files only their owner may read: key files, material stores, audit logs.

Everything here is created 0600 (folders 0700) and tightened when it already exists with a
wider mode. Writes that must survive a crash go to a unique temporary file, are fsynced,
renamed over the target, and the folder is fsynced so the rename itself is on disk.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from .errors import SessionFileError

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and parents) if needed and make it owner-only."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    tighten(path, DIR_MODE)
    return path


def tighten(path: Path, mode: int) -> None:
    """Remove group and other permissions from an existing file or folder."""
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077:
        os.chmod(path, current & ~0o077 & 0o7777 | (mode & 0o700))


def open_private(path: str | os.PathLike[str], flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> int:
    """``os.open`` for a file only its owner may read; an existing file is tightened first."""
    fd = os.open(path, flags, FILE_MODE)
    if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
        os.fchmod(fd, FILE_MODE)
    return fd


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new content, on disk."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def check_private(path: Path, what: str) -> None:
    """Refuse a secret file others can read (as ssh does for private keys), with the fix."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SessionFileError(
            f"{what} {path} can be read by other users of this machine (mode {mode:04o}); "
            f"it holds a secret key. Fix it with: chmod 600 {path}"
        )
