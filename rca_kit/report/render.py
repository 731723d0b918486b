"""Render the post-incident review of one investigation as one self-contained HTML file."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ..fsutil import atomic_write
from ..inert import html_text, inert_figure
from ..models import HypothesisSpec, Outcome
from ..outcome import MIMETYPE
from ..register import Register, history
from ..selection import consequences

VERDICT_ORDER = {"supported": 0, "inconclusive": 1, "errored": 2, "refuted": 3}


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rca_kit.report", "templates"),
        autoescape=True,  # every value is untrusted text unless marked otherwise
        undefined=jinja2.StrictUndefined,
        finalize=html_text,  # and printed without control or bidi characters
    )
    env.filters["num"] = _number
    return env


@cache
def _plotly_js() -> Markup:
    from plotly.offline import get_plotlyjs

    return Markup(get_plotlyjs().replace("</script", "<\\/script"))  # noqa: S704 - bundled library code


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return json.dumps(value) if isinstance(value, list | dict) else str(value)
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e12):
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.4g}" if abs(value) >= 1e-3 else f"{value:.3g}"


def script_json(value: Any) -> Markup:
    """JSON safe to place inside a <script type="application/json"> element."""
    text = json.dumps(value, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - every markup character is escaped above


def _figure(notebook: str | None) -> dict[str, Any] | None:
    if not notebook or not Path(notebook).is_file():
        return None
    try:
        document = json.loads(Path(notebook).read_text(encoding="utf-8"))
    except ValueError:
        return None
    for cell in document.get("cells", []):
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(MIMETYPE)
            if isinstance(payload, dict) and isinstance(payload.get("figure"), dict):
                # the one place figures enter a report: every text in them (titles, axis
                # titles, trace names, annotations, hover texts) is shown literally, so
                # plotly's HTML subset (links, styles, line breaks) in a label stays inert
                return inert_figure(payload["figure"])
    return None


def _verifications(
    register: Register, investigation_id: str, runs: list[dict[str, Any]], folder: Path
) -> list[dict[str, Any]]:
    """Each verification of this incident's fixes, with its numbers and both plots."""
    found = []
    tasks = {t["id"]: t for t in register.tasks(investigation_id=investigation_id)}
    for item in register.verifications(investigation_id):
        result = item.get("verification") or {}
        after_runs = register.runs(item["id"])
        after = after_runs[0] if after_runs else None
        before = next(
            (r for r in runs if after and r["hypothesis_id"] == after["hypothesis_id"]), None
        )
        before_figure = _figure(before["notebook"]) if before else None
        after_figure = _figure(after["notebook"]) if after else None
        task = tasks.get(item["task_id"], {})
        found.append(
            {
                **item,
                "task_title": task.get("title", item["task_id"]),
                "result": result.get("result", item["status"]),
                "reason": result.get("reason") or item.get("error") or "",
                "description": result.get("description", ""),
                "metrics": (result.get("check") or {}).get("metrics", []),
                "before": before,
                "after": after,
                "before_figure": script_json(before_figure) if before_figure else None,
                "after_figure": script_json(after_figure) if after_figure else None,
                "link": os.path.relpath(after["notebook"], folder)
                if after and after["notebook"]
                else None,
            }
        )
    return found


def _evidence_notes(folder: str | None) -> list[str]:
    """The banner's lines: sources that failed or fell short, kinds nobody provides."""
    from ..evidence.coverage import evidence_notes

    if not folder:
        return []
    try:
        manifest = json.loads((Path(folder) / "snapshot" / "manifest.json").read_text())
    except (OSError, ValueError):
        return []
    return evidence_notes(manifest) if isinstance(manifest, dict) else []


def render_investigation(
    register: Register, investigation_id: str, reports_dir: Path, specs: dict[str, HypothesisSpec]
) -> Path:
    """Write reports/<investigation_id>.html and return its path."""
    investigation = register.investigation(investigation_id)
    alert = register.alert(investigation["alert_id"])
    out = reports_dir / f"{investigation_id}.html"
    runs = register.runs(investigation_id)
    explained = consequences(
        [Outcome(r["hypothesis_id"], r["verdict"], r["confidence"], "", "") for r in runs], specs
    )
    hypotheses = []
    for run in runs:
        spec = specs.get(run["hypothesis_id"])
        figure = _figure(run["notebook"])
        notebook = run["notebook"]
        hypotheses.append(
            {
                **run,
                "title": spec.title if spec else run["hypothesis_id"],
                "statement": spec.statement if spec else "",
                "false_positives": spec.known_false_positives if spec else (),
                "figure": script_json(figure) if figure else None,
                "link": os.path.relpath(notebook, out.parent) if notebook else None,
                "consequence_of": explained.get(run["hypothesis_id"]),
            }
        )
    hypotheses.sort(
        key=lambda h: (VERDICT_ORDER.get(h["verdict"], 9), -h["confidence"], h["hypothesis_id"])
    )
    verifications = _verifications(register, investigation_id, runs, out.parent)
    review = register.review(investigation_id)
    with register.engine.connect() as conn:
        past = history.alert_history(conn, alert.name, alert.service, alert.starts_at.isoformat())
    for h in hypotheses:
        h["fp_note"] = past["false_positive_notes"].get(h["hypothesis_id"])
    figures = any(h["figure"] for h in hypotheses) or any(
        v["before_figure"] or v["after_figure"] for v in verifications
    )
    html = (
        _environment()
        .get_template("investigation.html.j2")
        .render(
            investigation=investigation,
            alert=alert,
            hypotheses=hypotheses,
            tasks=register.tasks(investigation_id=investigation_id),
            suspects=investigation.get("suspects") or [],
            any_supported=any(h["verdict"] == "supported" for h in hypotheses),
            generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            plotly_js=_plotly_js() if figures else None,
            verifications=verifications,
            review=review,
            history=past,
            evidence_notes=_evidence_notes(investigation.get("folder")),
        )
    )
    return atomic_write(out, html)
