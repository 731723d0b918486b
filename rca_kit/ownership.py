"""Who is running an investigation: a lock file in its folder, held (flock) for as long as
the process running it lives. The kernel drops the lock when that process dies however it
dies (kill -9 included), so "running, but nobody holds the lock" means abandoned — with no
process ids to compare and none to be reused.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from .exceptions import BusyError

LOCK = ".running"


@dataclass
class Claim:
    """An investigation folder held by this process."""

    path: Path
    fd: int

    def release(self) -> None:
        if self.fd < 0:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)
            self.fd = -1


def claim(folder: Path) -> Claim:
    """Hold the folder's lock, creating both if needed; ConflictError if a live process
    holds it (the investigation is running elsewhere)."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK
    if lock.exists():  # a crashed run's lock: take the same file over, if nobody holds it
        fd = os.open(lock, os.O_RDWR)
        if not _try_lock(fd):
            os.close(fd)
            raise BusyError(
                f"investigation folder {folder.name} is being run by another process",
                hint="wait for it, or stop that process first",
            )
    else:  # lock a private file, then publish it: the visible lock is never unheld
        temp = folder / f"{LOCK}.{secrets.token_hex(4)}"
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        _try_lock(fd)
        os.replace(temp, lock)
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(owner).encode(), 0)
    return Claim(lock, fd)


def orphaned(folder: Path, *, age_s: float, grace_s: float = 120) -> bool:
    """Whether a `running` investigation has nobody running it. A young one without its
    lock yet (created a moment ago, folder still being made) is given `grace_s`."""
    lock = folder / LOCK
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return age_s > grace_s
    try:
        if _try_lock(fd):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return True
        return False
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
