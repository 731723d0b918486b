"""An evidence notebook as the review reads it: checked first against the sha256 its run
recorded (`runs.notebook_sha256`, what `rca audit verify` checks), then its outcome's figure
(every text in it inert: `outcome.figure_of`, the one place figures enter a report), when it
ran, and the provenance it recorded. A notebook that is missing or changed since its run was
recorded gives the review nothing but that fact. Each notebook is read once per page."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..outcome import figure_of

MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024  # a notebook larger than this is not read for the review
# none: no notebook recorded; ok: as recorded; unrecorded: no sha256 to check it against;
# missing, not_file, changed: what `rca audit verify` reports; too_large: checked, not read;
# unreadable: this process may not read it
State = Literal[
    "none", "ok", "unrecorded", "missing", "not_file", "changed", "too_large", "unreadable"
]
TAMPERED = ("missing", "not_file", "changed")


@dataclass(frozen=True)
class NotebookFacts:
    figure: dict[str, Any] | None = None
    started_at: str | None = None  # papermill's start and end of the run
    ended_at: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)  # metadata.rca_kit, if any
    state: State = "none"
    sha256: str | None = None  # of the bytes read (None: none could be read)
    data: bytes | None = field(default=None, repr=False)  # those bytes, when small enough
    problem: str | None = None  # why the notebook is not the one its run recorded

    @property
    def tampered(self) -> bool:
        return self.state in TAMPERED


def run_notebook(run: Mapping[str, Any] | None) -> NotebookFacts:
    """The facts of a run's notebook, checked against the sha256 the run recorded."""
    if not run:
        return NotebookFacts()
    return read_notebook(run.get("notebook"), run.get("notebook_sha256"))


def read_notebook(notebook: str | Path | None, recorded: str | None = None) -> NotebookFacts:
    """What the review needs from an executed notebook: empty facts when it is unreadable, and
    only the problem when it is missing or its bytes are not those `recorded` (sha256)."""
    if not notebook:
        return NotebookFacts()
    path = Path(notebook)
    name = path.name
    try:
        digest, data = _read(path)
    except FileNotFoundError:
        return NotebookFacts(state="missing", problem=f"The evidence notebook {name} is missing")
    except OSError:
        return NotebookFacts(state="unreadable")
    if digest is None:
        return NotebookFacts(
            state="not_file", problem=f"The evidence notebook {name} is not a regular file"
        )
    if recorded and digest != recorded:
        return NotebookFacts(
            state="changed",
            sha256=digest,
            problem=(
                f"The evidence notebook {name} changed after its run was recorded (sha256 "
                f"{digest[:12]}… now, {recorded[:12]}… recorded)"
            ),
        )
    state: State = "ok" if recorded else "unrecorded"
    if data is None:
        return NotebookFacts(state="too_large", sha256=digest)
    return _parsed(data, state, digest)


def _read(path: Path) -> tuple[str | None, bytes | None]:
    """(sha256, bytes) of a regular file, no symlink followed and no FIFO waited on; bytes
    None when larger than MAX_NOTEBOOK_BYTES; (None, None) when it is not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if path.is_symlink():  # O_NOFOLLOW refused a link
            return None, None
        raise exc
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None, None
        digest, kept, size = hashlib.sha256(), bytearray(), 0
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
            if size <= MAX_NOTEBOOK_BYTES:
                kept += block
    return digest.hexdigest(), bytes(kept) if size <= MAX_NOTEBOOK_BYTES else None


def _parsed(data: bytes, state: State, digest: str) -> NotebookFacts:
    checked = NotebookFacts(state=state, sha256=digest, data=data)
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return checked
    if not isinstance(document, dict):
        return checked
    metadata = _mapping(document.get("metadata"))
    papermill = _mapping(metadata.get("papermill"))
    return NotebookFacts(
        figure=figure_of(document),
        started_at=_text(papermill.get("start_time")),
        ended_at=_text(papermill.get("end_time")),
        provenance=_mapping(metadata.get("rca_kit")),
        state=state,
        sha256=digest,
        data=data,
    )


def notebook_figure(notebook: str | Path | None) -> dict[str, Any] | None:
    """The figure an evidence notebook recorded with its outcome, every text in it inert."""
    return read_notebook(notebook).figure


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
