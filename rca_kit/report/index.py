"""Render the index of every investigation, newest first, linking each review: reports/index.html
(one query for all rows; the plot shares the reports folder's plotly.js)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..fsutil import atomic_write
from ..inert import inert_figure
from ..learning import parse_ts
from ..register import Register
from ..register.schema import alerts, investigations, task_evidence
from .html import Figures, generated_at, plotly_for, render, safe_name
from .library import FILENAME as LIBRARY
from .register import FILENAME as REGISTER

FILENAME = "index.html"
NONE_SUPPORTED = "(none supported)"
DAY_MS = 86_400_000
TOP_CAUSES = 8  # the plot's colours: the most frequent leading hypotheses, the rest "other"


def investigation_rows(register: Register) -> list[dict[str, Any]]:
    """Every investigation with its alert and how many tasks it produced, newest first."""
    task_count = (
        sa.select(sa.func.count(sa.distinct(task_evidence.c.task_id)))
        .where(task_evidence.c.investigation_id == investigations.c.id)
        .scalar_subquery()
    )
    query = (
        sa.select(
            investigations.c.id,
            investigations.c.kind,
            investigations.c.status,
            investigations.c.created_at,
            investigations.c.finished_at,
            investigations.c.leading_hypothesis,
            investigations.c.root_cause,
            investigations.c.error,
            alerts.c.id.label("alert_id"),
            alerts.c.name.label("alert_name"),
            alerts.c.service,
            alerts.c.severity,
            alerts.c.status.label("alert_status"),
            alerts.c.starts_at,
            task_count.label("tasks"),
        )
        .join(alerts, alerts.c.id == investigations.c.alert_id)
        # created in the same second (the register's resolution): the later alert first
        .order_by(
            investigations.c.created_at.desc(),
            alerts.c.starts_at.desc(),
            investigations.c.id.desc(),
        )
    )
    with register.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def causes_figure(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Incidents per day of their alert's start, one bar segment per leading hypothesis."""
    incidents = [r for r in rows if r["kind"] == "incident" and parse_ts(r["starts_at"])]
    if not incidents:
        return None
    frequent = [
        cause
        for cause, _ in Counter(
            r["leading_hypothesis"] or NONE_SUPPORTED for r in incidents
        ).most_common(TOP_CAUSES)
    ]
    per = Counter(
        (
            _day(r["starts_at"]),
            cause if (cause := r["leading_hypothesis"] or NONE_SUPPORTED) in frequent else "other",
        )
        for r in incidents
    )
    days = sorted({day for day, _ in per})
    causes = [*frequent, "other"]
    traces = [
        {
            "type": "bar",
            "name": cause,
            "x": days,
            "y": [per.get((day, cause), 0) for day in days],
            "width": [DAY_MS * 0.8] * len(days),  # a day wide, however few days there are
        }
        for cause in causes
        if any(c == cause for _, c in per)
    ]
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    xaxis: dict[str, Any] = {
        "type": "date",
        "title": {"text": "day the alert started (UTC)"},
        "tickformat": "%Y-%m-%d",
        # whole days, with room for the bars at both ends (plotly would show a few
        # milliseconds around one day)
        "range": [(first - timedelta(days=1)).isoformat(), (last + timedelta(days=1)).isoformat()],
    }
    if (last - first).days <= 14:
        xaxis["dtick"] = DAY_MS  # one tick a day
    layout = {
        "barmode": "stack",
        "height": 300,
        "showlegend": True,
        "margin": {"l": 50, "r": 20, "t": 30, "b": 40},
        "xaxis": xaxis,
        "yaxis": {"title": {"text": "incidents"}, "rangemode": "tozero"},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
    }
    return inert_figure({"data": traces, "layout": layout})


def _day(moment: str) -> str:
    parsed = parse_ts(moment)
    assert parsed is not None  # rows without a readable start are left out
    return parsed.astimezone(UTC).date().isoformat()


def render_index(register: Register, reports_dir: Path) -> Path:
    """Write reports/index.html and return its path: each review linked when it is rendered."""
    out = reports_dir / FILENAME
    rows = investigation_rows(register)
    rendered = {p.name for p in reports_dir.glob("*.html")} if reports_dir.is_dir() else set()
    for row in rows:
        name = safe_name(row["id"])
        row["review"] = f"{name}.html" if name and f"{name}.html" in rendered else None
    figures = Figures()
    drawn = causes_figure(rows)
    html = render(
        "index.html.j2",
        rows=rows,
        counts=Counter(r["status"] for r in rows),
        pages={
            name: label
            for name, label in ((REGISTER, "Remediation register"), (LIBRARY, "Hypothesis library"))
            if name in rendered
        },
        generated_at=generated_at(),
        causes_figure=figures.embed(drawn) if drawn else None,
        figures=figures,
        plotly=plotly_for(out, reports_dir) if drawn else None,
    )
    return atomic_write(out, html)
