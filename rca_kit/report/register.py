"""Render the remediation register (ranked backlog, review agenda, closed work) as one
self-contained HTML file."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from ..fsutil import atomic_write
from ..inert import html_text
from ..lifecycle import ACTIVE
from ..register import Register

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
FACTORS = ("impact", "effort", "risk")


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rca_kit.report", "templates"),
        autoescape=True,  # titles, owners, rationales and alert-derived services are untrusted
        undefined=jinja2.StrictUndefined,
        finalize=html_text,  # printed without control or bidi characters
    )
    env.filters["score"] = _score
    env.filters["status"] = lambda status: STATUS_LABELS.get(status, status)
    return env


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


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


def render_register(register: Register, reports_dir: Path, *, today: str | None = None) -> Path:
    """Write reports/register.html and return its path (`today`: the date overdue is judged on,
    YYYY-MM-DD; default the current UTC date)."""
    rows = register.tasks(today=today)
    for row in rows:
        row["override_view"] = _override(row["override"])
    counts = {key: sum(1 for r in rows if r["status"] == key) for key in STATUS_LABELS}
    counts["overdue"] = sum(1 for r in rows if r["overdue"])
    html = (
        _environment()
        .get_template("register.html.j2")
        .render(
            backlog=[r for r in rows if r["status"] in ACTIVE],
            closed=[r for r in rows if r["status"] not in ACTIVE],
            counts=counts,
            counters=COUNTERS,
            agenda=register.agenda(),
            today=today or datetime.now(UTC).date().isoformat(),
            generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
    )
    return atomic_write(reports_dir / FILENAME, html)
