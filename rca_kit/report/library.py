"""Render the library's track record and the incident timings as one HTML page (no plots, no
scripts): reports/library.html."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import learning
from ..fsutil import atomic_write
from ..models import HypothesisSpec
from ..register import Register, history
from .html import generated_at, render

FILENAME = "library.html"
METRIC_LABELS = {
    "mttd_s": "MTTD",
    "time_to_first_verdict_s": "Time to first verdict",
    "mttr_s": "MTTR",
    "time_to_verified_fix_s": "Time to verified fix",
}


def render_library(
    register: Register, reports_dir: Path, specs: Mapping[str, HypothesisSpec]
) -> Path:
    """Write reports/library.html and return its path."""
    with register.engine.connect() as conn:
        stats = history.library_stats(conn, ids=specs)
        metrics = history.incident_metrics(conn)
    rows: list[dict[str, Any]] = []
    for row in stats:
        spec = specs.get(row["hypothesis_id"])
        rows.append(
            {
                **row,
                "title": spec.title if spec else "(not in the library)",
                "prior": spec.prior if spec else None,
            }
        )
    html = render(
        "library.html.j2",
        stats=rows,
        metrics=metrics,
        labels=METRIC_LABELS,
        strength=learning.DEFAULT_STRENGTH,
        generated_at=generated_at(),
        plotly=None,
    )
    return atomic_write(reports_dir / FILENAME, html)
