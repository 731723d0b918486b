"""Render the remediation register (ranked backlog, review agenda, closed work) as one HTML page
beside the reviews: reports/register.html."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write
from ..inert import inert_figure
from ..lifecycle import ACTIVE
from ..register import Register
from .html import Figures, generated_at, plotly_for, render

FILENAME = "register.html"
# the header's counters, in reading order: work to do, then work finished
COUNTERS = {
    "open": "Open",
    "in_progress": "In progress",
    "reopened": "Reopened",
    "overdue": "Overdue",
    "done": "Done",
    "verified": "Verified",
    "wont_do": "Won't do",
}
STATUS_LABELS = {k: v for k, v in COUNTERS.items() if k != "overdue"}
STATUS_COLORS = {"open": "#0969da", "in_progress": "#9a6700", "reopened": "#cf222e"}
FACTORS = ("impact", "effort", "risk")


def _override(override: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a decision authority set: a score, or the factors it changed ("impact 5, risk 1")."""
    if not override:
        return None
    factors = ", ".join(f"{k} {override[k]}" for k in FACTORS if override.get(k) is not None)
    return {
        "authority": override.get("authority") or "(unknown)",
        "rationale": override.get("rationale") or "",
        "at": str(override.get("at") or "")[:10],
        "score": override.get("score"),
        "factors": factors,
    }


def backlog_figure(backlog: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Open work per service, one bar segment per status (None: nothing open)."""
    if not backlog:
        return None
    per = Counter((row["service"] or "(none)", row["status"]) for row in backlog)
    services = sorted(
        {service for service, _ in per},
        key=lambda s: -sum(n for (svc, _), n in per.items() if svc == s),
    )
    traces = [
        {
            "type": "bar",
            "orientation": "h",
            "name": STATUS_LABELS[status],
            "y": services,
            "x": [per.get((service, status), 0) for service in services],
            "marker": {"color": STATUS_COLORS[status]},
        }
        for status in ACTIVE
        if any(s == status for _, s in per)
    ]
    layout = {
        "barmode": "stack",
        "showlegend": True,
        "height": 120 + 28 * len(services),
        "margin": {"l": 160, "r": 20, "t": 30, "b": 40},
        "xaxis": {"title": {"text": "open tasks"}, "dtick": 1, "rangemode": "tozero"},
        "yaxis": {"type": "category", "autorange": "reversed", "automargin": True},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
    }
    return inert_figure({"data": traces, "layout": layout})


def render_register(register: Register, reports_dir: Path, *, today: str | None = None) -> Path:
    """Write reports/register.html and return its path (`today`: the date overdue is judged on,
    YYYY-MM-DD; default the current UTC date)."""
    out = reports_dir / FILENAME
    rows = register.tasks(today=today)
    for row in rows:
        row["override_view"] = _override(row["override"])
    counts = {key: sum(1 for r in rows if r["status"] == key) for key in STATUS_LABELS}
    counts["overdue"] = sum(1 for r in rows if r["overdue"])
    # overdue first, each part in the register's rank order (the rank shown stays its rank)
    backlog = sorted(
        (r for r in rows if r["status"] in ACTIVE), key=lambda r: (not r["overdue"], r["rank"])
    )
    figures = Figures()
    drawn = backlog_figure(backlog)
    html = render(
        "register.html.j2",
        backlog=backlog,
        closed=[r for r in rows if r["status"] not in ACTIVE],
        counts=counts,
        counters=COUNTERS,
        labels=STATUS_LABELS,
        agenda=register.agenda(),
        today=today or datetime.now(UTC).date().isoformat(),
        generated_at=generated_at(),
        backlog_figure=figures.embed(drawn) if drawn else None,
        figures=figures,
        plotly=plotly_for(out, reports_dir) if drawn else None,
    )
    return atomic_write(out, html)
