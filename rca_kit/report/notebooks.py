"""An evidence notebook as the review reads it: its outcome's figure (every text in it inert:
`outcome.figure_of`, the one place figures enter a report), when it ran, and the provenance it
recorded. Each notebook is parsed once per page."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..outcome import figure_of

MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024  # a notebook larger than this is not read for the review


@dataclass(frozen=True)
class NotebookFacts:
    figure: dict[str, Any] | None = None
    started_at: str | None = None  # papermill's start and end of the run
    ended_at: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)  # metadata.rca_kit, if any


def read_notebook(notebook: str | Path | None) -> NotebookFacts:
    """What the review needs from an executed notebook; empty facts when it is unreadable."""
    if not notebook:
        return NotebookFacts()
    path = Path(notebook)
    try:
        if not path.is_file() or path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return NotebookFacts()
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return NotebookFacts()
    if not isinstance(document, dict):
        return NotebookFacts()
    metadata = _mapping(document.get("metadata"))
    papermill = _mapping(metadata.get("papermill"))
    return NotebookFacts(
        figure=figure_of(document),
        started_at=_text(papermill.get("start_time")),
        ended_at=_text(papermill.get("end_time")),
        provenance=_mapping(metadata.get("rca_kit")),
    )


def notebook_figure(notebook: str | Path | None) -> dict[str, Any] | None:
    """The figure an evidence notebook recorded with its outcome, every text in it inert."""
    return read_notebook(notebook).figure


def plotted(figure: dict[str, Any] | None) -> bool:
    """Whether a figure draws any data (a test that found nothing to plot leaves empty
    traces, which plotly would draw as an empty chart on a made-up year-2000 axis)."""
    data = figure.get("data") if figure else None
    return isinstance(data, list) and any(_has_points(trace) for trace in data)


def _has_points(trace: Any) -> bool:
    if not isinstance(trace, dict):
        return False
    for key in ("x", "y", "z", "values", "lat", "lon", "r"):
        value = trace.get(key)
        if isinstance(value, list) and value:
            return True
        if isinstance(value, dict) and value.get("bdata"):  # a typed array, base64-encoded
            return True
    return False


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
