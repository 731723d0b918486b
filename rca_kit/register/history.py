"""What the register remembers of past incidents: library statistics, an alert's history,
learned priors and incident timings (queries here; the formulas live in `rca_kit.learning`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .. import learning
from ..exceptions import InputError
from .schema import alerts, incident_reviews, investigations, runs, task_evidence, tasks

_REVIEW_COLUMNS = (
    incident_reviews.c.id,
    incident_reviews.c.investigation_id,
    incident_reviews.c.root_cause,
    incident_reviews.c.false_positives,
    incident_reviews.c.notes,
    incident_reviews.c.created_at,
)


def _rows(conn: sa.Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(query).mappings()]


def _same_service(column: sa.ColumnElement[Any], service: str | None) -> sa.ColumnElement[bool]:
    return column.is_(None) if service is None else column == service


# library statistics -------------------------------------------------------------------------
def library_stats(
    conn: sa.Connection, service: str | None = None, *, ids: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """learning.library_stats over the register; `service` keeps the alerts of that service."""
    joined = runs.join(investigations, investigations.c.id == runs.c.investigation_id).join(
        alerts, alerts.c.id == investigations.c.alert_id
    )
    run_query = sa.select(
        runs.c.hypothesis_id, runs.c.verdict, runs.c.duration_s, investigations.c.kind
    ).select_from(joined)
    run_query = run_query.where(runs.c.rerun_of.is_(None))  # an analyst's rerun is no new test
    review_query = sa.select(*_REVIEW_COLUMNS).select_from(
        incident_reviews.join(
            investigations, investigations.c.id == incident_reviews.c.investigation_id
        ).join(alerts, alerts.c.id == investigations.c.alert_id)
    )
    verification_query = sa.select(
        tasks.c.hypothesis_id, investigations.c.verification
    ).select_from(investigations.join(tasks, tasks.c.id == investigations.c.task_id))
    verification_query = verification_query.where(investigations.c.kind == "verification")
    if service is not None:
        run_query = run_query.where(alerts.c.service == service)
        review_query = review_query.where(alerts.c.service == service)
        verification_query = verification_query.where(tasks.c.service == service)
    return learning.library_stats(
        _rows(conn, run_query),
        _rows(conn, review_query),
        _rows(conn, verification_query),
        ids=ids,
    )


# one alert's history ------------------------------------------------------------------------
def _earlier_investigations(
    conn: sa.Connection, alert_name: str, service: str | None, before: str | None
) -> list[dict[str, Any]]:
    """Incident investigations of alerts with this name and service starting before `before`."""
    query = (
        sa.select(investigations.c.id, alerts.c.starts_at)
        .select_from(investigations.join(alerts, alerts.c.id == investigations.c.alert_id))
        .where(
            alerts.c.name == alert_name,
            _same_service(alerts.c.service, service),
            investigations.c.kind == "incident",
        )
    )
    rows = _rows(conn, query)
    if before is None:
        return rows
    cutoff = _cutoff(before)
    # compared as instants: stored texts may differ in precision or offset
    return [r for r in rows if (learning.parse_ts(r["starts_at"]) or cutoff) < cutoff]


def _cutoff(before: str) -> datetime:
    parsed = learning.parse_ts(before)
    if parsed is None:
        raise InputError(f"before: {before!r} is not an ISO 8601 timestamp")
    return parsed


def _reviews_of(conn: sa.Connection, investigation_ids: list[str]) -> list[dict[str, Any]]:
    if not investigation_ids:
        return []
    query = sa.select(*_REVIEW_COLUMNS).where(
        incident_reviews.c.investigation_id.in_(investigation_ids)
    )
    return [dict(r) for r in learning.latest_reviews(_rows(conn, query))]


def alert_history(
    conn: sa.Connection, alert_name: str, service: str | None, before: str, days: int = 30
) -> dict[str, Any]:
    """What is known of an alert (name + service) before `before` (its starts_at, ISO 8601).

    seen: distinct alerts (fingerprint + starts_at) of that name and service starting within
    `days` up to and including `before`; last_root_cause: the latest review's cause among
    earlier incident investigations; last_verified_fix: the latest verified task linked to them;
    false_positive_notes: per hypothesis, over all reviews, how often it was a false positive and
    the notes of the latest such review that has notes; reviews: the earlier latest reviews
    (what `learning.priors` needs).
    """
    cutoff = _cutoff(before)
    since = cutoff - timedelta(days=days)
    occurrences = conn.execute(
        sa.select(alerts.c.fingerprint, alerts.c.starts_at).where(
            alerts.c.name == alert_name, _same_service(alerts.c.service, service)
        )
    )
    seen = {
        (fingerprint, started)
        for fingerprint, started in occurrences
        if since <= (learning.parse_ts(started) or since - timedelta(1)) <= cutoff
    }
    earlier = _earlier_investigations(conn, alert_name, service, before)
    earlier_ids = [str(i["id"]) for i in earlier]
    reviews = _reviews_of(conn, earlier_ids)
    last = reviews[-1] if reviews else None
    return {
        "seen": len(seen),
        "days": days,
        "last_root_cause": (
            {
                "root_cause": last["root_cause"],
                "investigation_id": last["investigation_id"],
                "reviewed_at": last["created_at"],
            }
            if last
            else None
        ),
        "last_verified_fix": _last_verified_fix(conn, earlier_ids),
        "false_positive_notes": false_positive_notes(conn),
        "reviews": reviews,
    }


def _last_verified_fix(conn: sa.Connection, investigation_ids: list[str]) -> dict[str, Any] | None:
    if not investigation_ids:
        return None
    linked = sa.select(task_evidence.c.task_id).where(
        task_evidence.c.investigation_id.in_(investigation_ids)
    )
    query = sa.select(
        tasks.c.id, tasks.c.title, tasks.c.hypothesis_id, tasks.c.verified_at, tasks.c.status
    ).where(tasks.c.id.in_(linked), tasks.c.verified_at.is_not(None))
    found = _rows(conn, query)
    if not found:
        return None
    oldest = datetime.min.replace(tzinfo=UTC)
    latest = max(found, key=lambda t: (learning.parse_ts(t["verified_at"]) or oldest, t["id"]))
    return {
        "task_id": latest["id"],
        "title": latest["title"],
        "hypothesis_id": latest["hypothesis_id"],
        "verified_at": latest["verified_at"],
        "status": latest["status"],  # "reopened" when it recurred after verification
    }


def false_positive_notes(conn: sa.Connection) -> dict[str, dict[str, Any]]:
    """Per hypothesis: how many reviews listed it as a false positive, and the latest note."""
    notes: dict[str, dict[str, Any]] = {}
    for review in learning.latest_reviews(_rows(conn, sa.select(*_REVIEW_COLUMNS))):
        for hypothesis in sorted(set(review["false_positives"] or ())):
            entry = notes.setdefault(str(hypothesis), {"count": 0, "latest_note": None})
            entry["count"] += 1
            if review["notes"]:  # oldest first: the latest note with text wins
                entry["latest_note"] = review["notes"]
    return notes


def priors(
    conn: sa.Connection,
    alert_name: str,
    service: str | None,
    spec_priors: Mapping[str, float],
    *,
    before: str | None = None,
    strength: float = learning.DEFAULT_STRENGTH,
) -> dict[str, float]:
    """Each spec's prior learned from reviews of this alert's (name, service) investigations."""
    reviews = earlier_reviews(conn, alert_name, service, before)
    return learning.priors(reviews, spec_priors, strength=strength)


def earlier_reviews(
    conn: sa.Connection, alert_name: str, service: str | None, before: str | None = None
) -> list[dict[str, Any]]:
    """Reviews of earlier investigations of alerts with this name and service."""
    earlier = _earlier_investigations(conn, alert_name, service, before)
    return _reviews_of(conn, [str(i["id"]) for i in earlier])


# incident metrics ---------------------------------------------------------------------------
def incident_metrics(conn: sa.Connection) -> dict[str, Any]:
    """learning.incident_metrics over every stored alert: per incident, week and service."""
    alert_rows = _rows(
        conn,
        sa.select(
            alerts.c.id,
            alerts.c.name,
            alerts.c.service,
            alerts.c.status,
            alerts.c.fingerprint,
            alerts.c.starts_at,
            alerts.c.ends_at,
            alerts.c.received_at,
        ),
    )
    investigation_rows = _rows(
        conn,
        sa.select(
            investigations.c.id,
            investigations.c.alert_id,
            investigations.c.kind,
            investigations.c.created_at,
        ),
    )
    first_runs = {
        str(investigation_id): str(created)
        for investigation_id, created in conn.execute(
            sa.select(runs.c.investigation_id, sa.func.min(runs.c.created_at)).group_by(
                runs.c.investigation_id
            )
        )
    }
    fixes = _rows(
        conn,
        sa.select(task_evidence.c.investigation_id, tasks.c.id, tasks.c.verified_at)
        .select_from(task_evidence.join(tasks, tasks.c.id == task_evidence.c.task_id))
        .where(task_evidence.c.kind == "origin", tasks.c.verified_at.is_not(None)),
    )
    return learning.incident_metrics(alert_rows, investigation_rows, first_runs, fixes)
