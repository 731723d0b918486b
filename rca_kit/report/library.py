"""Render the library's track record and the incident timings as one self-contained HTML file."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from .. import learning
from ..fsutil import atomic_write
from ..inert import html_text
from ..models import HypothesisSpec
from ..register import Register, history

FILENAME = "library.html"
UNKNOWN = "–"  # shown for an undefined rate or a missing duration
METRIC_LABELS = {
    "mttd_s": "MTTD",
    "time_to_first_verdict_s": "Time to first verdict",
    "mttr_s": "MTTR",
    "time_to_verified_fix_s": "Time to verified fix",
}


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rca_kit.report", "templates"),
        autoescape=True,  # hypothesis ids, services and notes are untrusted text
        undefined=jinja2.StrictUndefined,
        finalize=html_text,  # printed without control or bidi characters
    )
    env.filters["duration"] = human_duration
    env.filters["ratio"] = ratio
    return env


def human_duration(seconds: float | None) -> str:
    """Like "45 s", "4 min", "2.1 h", "3.5 d"; an en dash when unknown."""
    if seconds is None:
        return UNKNOWN
    # thresholds on the rounded value, so 59.7 s reads "1 min", never "60 s"
    if round(seconds) < 60:
        return f"{seconds:.0f} s"
    if round(seconds / 60) < 60:
        return f"{seconds / 60:.0f} min"
    if round(seconds / 3600, 1) < 24:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def ratio(value: float | None) -> str:
    """A rate in [0, 1] as "0.83"; an en dash when undefined (nothing to divide by)."""
    return UNKNOWN if value is None else f"{value:.2f}"


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
    html = (
        _environment()
        .get_template("library.html.j2")
        .render(
            stats=rows,
            metrics=metrics,
            labels=METRIC_LABELS,
            strength=learning.DEFAULT_STRENGTH,
            generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
    )
    return atomic_write(reports_dir / FILENAME, html)
