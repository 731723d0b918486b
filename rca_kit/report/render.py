"""Render the post-incident review of one investigation: reports/<investigation_id>.html, its
evidence pages under reports/<investigation_id>/ and the plotly.js the reports folder shares
(or, `standalone`, one file that carries plotly.js and links nothing beside it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write
from ..learning import duration_s
from ..models import HypothesisSpec
from ..register import Register, history
from . import timeline
from .html import Figures, generated_at, plotly_for, render
from .hypotheses import hypothesis_views
from .snapshot import (
    evidence_notes,
    integrity_notes,
    read_manifest,
    snapshot_view,
    symptom_onset,
    window_cap,
)
from .trail import chain_head, investigation_trail
from .verifications import verification_views


def review_path(reports_dir: Path, investigation_id: str, *, standalone: bool = False) -> Path:
    """reports/<id>.html, or reports/<id>.standalone.html for the page that travels alone."""
    return reports_dir / f"{investigation_id}{'.standalone' if standalone else ''}.html"


def render_investigation(
    register: Register,
    investigation_id: str,
    reports_dir: Path,
    specs: Mapping[str, HypothesisSpec],
    *,
    standalone: bool = False,
) -> Path:
    """Write the review (and the evidence pages it links) and return its path."""
    out = review_path(reports_dir, investigation_id, standalone=standalone)
    html = render("investigation.html.j2", **review(register, investigation_id, out, specs))
    return atomic_write(out, html)


def annotation_views(
    annotations: Mapping[str, Any], links: Mapping[str, str]
) -> list[tuple[str, Any, str | None]]:
    """(key, value, url) per annotation: url is the value when it is one of the alert's links
    (http(s) only, checked at intake), shown as a link; else None, shown as text."""
    urls = set(links.values())
    return [
        (key, value, value.strip() if isinstance(value, str) and value.strip() in urls else None)
        for key, value in annotations.items()
    ]


def review(
    register: Register,
    investigation_id: str,
    out: Path,
    specs: Mapping[str, HypothesisSpec],
) -> dict[str, Any]:
    """Everything the review template shows, gathered from the register and the folder."""
    reports_dir = out.parent
    standalone = out.name.endswith(".standalone.html")
    investigation = register.investigation(investigation_id)
    alert = register.alert(investigation["alert_id"])
    alert_row = register.alert_row(investigation["alert_id"])
    runs = register.runs(investigation_id)
    tasks = register.tasks(investigation_id=investigation_id)
    checks = register.verifications(investigation_id)
    with register.engine.connect() as conn:
        trail = investigation_trail(
            conn,
            alert_id=alert_row["id"],
            investigation_ids=[investigation_id, *(v["id"] for v in checks)],
            run_ids=[r["id"] for r in runs],
            task_ids=[t["id"] for t in tasks],
        )
        head = chain_head(conn)
        past = history.alert_history(conn, alert.name, alert.service, alert.starts_at.isoformat())
    edits = {
        e["entity_id"]: e["details"].get("edited")
        for e in trail
        if e["action"] == "run.rerun_recorded"
    }
    figures = Figures()
    links = not standalone
    hypotheses = hypothesis_views(
        runs,
        specs,
        page=out,
        reports_dir=reports_dir,
        investigation_id=investigation_id,
        links=links,
        figures=figures,
        edits=edits,
    )
    for h in hypotheses:
        h["fp_note"] = past["false_positive_notes"].get(h["hypothesis_id"])
    verifications = verification_views(
        register,
        checks,
        runs,
        tasks,
        page=out,
        reports_dir=reports_dir,
        figures=figures,
        links=links,
    )
    manifest = read_manifest(investigation.get("folder"))
    onset = symptom_onset(manifest)
    snapshot = snapshot_view(manifest, register.recorded_manifest(investigation_id))
    frozen = [e["at"] for e in trail if e["action"] == "investigation.snapshot_frozen"]
    events = timeline.events(
        alert=alert_row,
        onset=onset,
        hypotheses=hypotheses,
        trail=[e for e in trail if e["entity_id"] not in {v["id"] for v in checks}],
        task_titles={t["id"]: t["title"] for t in tasks},
    )
    drawn = timeline.figure(
        events, window=(investigation["window_start"], investigation["window_end"])
    )
    timeline_figure = figures.embed(drawn) if drawn else None
    return {
        "investigation": investigation,
        "alert": alert,
        "alert_row": alert_row,
        "onset": onset,
        # symptom onset (the snapshot's, else the alert's start) → the alerting system fired
        "time_to_detect_s": duration_s(onset or alert_row["starts_at"], alert_row["starts_at"]),
        "time_to_notify_s": duration_s(alert_row["starts_at"], alert_row["received_at"]),
        "annotations": annotation_views(alert.annotations, alert.links),
        "time_to_resolve_s": alert_row["time_to_resolve_s"],
        "window_cap": window_cap(
            register.settings, alert, investigation, frozen[-1] if frozen else None
        ),
        "hypotheses": hypotheses,
        "tasks": tasks,
        "suspects": investigation.get("suspects") or [],
        "any_supported": any(h["verdict"] == "supported" for h in hypotheses),
        "generated_at": generated_at(),
        "verifications": verifications,
        "review": register.review(investigation_id),
        "history": past,
        "evidence_notes": evidence_notes(manifest),
        "snapshot": snapshot,
        "integrity": integrity_notes(snapshot)
        + [h["integrity"] for h in hypotheses if h["integrity"]]
        + [r["integrity"] for h in hypotheses for r in h["reruns"] if r["integrity"]]
        + [v["integrity"] for v in verifications if v["integrity"]],
        "timeline": timeline.rows(events),
        "timeline_figure": timeline_figure,
        "trail": trail,
        "chain_head": head,
        "standalone": standalone,
        "figures": figures,
        "plotly": plotly_for(out, reports_dir, standalone=standalone) if figures.count else None,
    }
