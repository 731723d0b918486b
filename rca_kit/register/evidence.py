"""Evidence notebooks against the register: each run that recorded its notebook's sha256 still
has that notebook, byte for byte (`rca audit verify` reports every one that does not)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import sqlalchemy as sa

from ..fsutil import stream_sha256
from ..inert import one_line
from .schema import runs


def file_digest(path: Path) -> str | None:
    """The sha256 of a regular file's bytes (no symlink followed); None if there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        return stream_sha256(handle)


def notebook_problems(conn: sa.Connection) -> list[str]:
    """One line per evidence notebook that is missing or whose bytes changed since its run was
    recorded, naming the run, its investigation and the path."""
    query = (
        sa.select(runs.c.id, runs.c.investigation_id, runs.c.notebook, runs.c.notebook_sha256)
        .where(runs.c.notebook_sha256.is_not(None))
        .order_by(runs.c.created_at, runs.c.id)
    )
    problems = []
    for run_id, investigation_id, notebook, expected in conn.execute(query):
        where = f"run {run_id} of investigation {investigation_id}: evidence notebook {notebook}"
        if not notebook:
            problems.append(f"{where}: no path recorded")
            continue
        path = Path(notebook)
        found = file_digest(path)
        if found is None:
            missing = not path.exists() and not path.is_symlink()
            why = "is missing" if missing else "is not a regular file"
            problems.append(f"{where} {why}")
        elif found != expected:
            problems.append(
                f"{where} changed since it was recorded (sha256 {found[:12]}…, "
                f"recorded {expected[:12]}…)"
            )
    return [one_line(problem) for problem in problems]
