"""Remediation tasks: proposal (with recurrence), lifecycle, rescoring, optimistic locking.

Every function runs inside the caller's write transaction and appends exactly one audit event
per task it changes; the event records what changed (old and new values) and the hash of the
task's row afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .. import lifecycle, scoring
from ..exceptions import ConflictError, NotFoundError
from ..models import ScoredTask
from . import audit
from .ids import new_id, now_iso
from .schema import alerts, investigations, runs, task_evidence, tasks

DueDays = Callable[[str | None], int]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: str, limit: int = 2000) -> str:
    """Untrusted free text as stored: no control characters (newlines kept), bounded."""
    return _CONTROL.sub("", text).strip()[:limit]


@dataclass(frozen=True)
class Context:
    """What proposing or rescoring tasks needs to know besides the tasks themselves."""

    weights: Mapping[str, float]
    due_days: DueDays
    team_label: str = "team"
    actor: str = "rca-kit"


def get(conn: sa.Connection, task_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no task with id {task_id!r}", hint="see `rca register list`")
    return dict(row)


def _due(days: int, today: date | None = None) -> str:
    return ((today or datetime.now(UTC).date()) + timedelta(days=days)).isoformat()


def scores(row: Mapping[str, Any], weights: Mapping[str, float]) -> dict[str, Any]:
    """The computed and effective score columns of a task row (override applied)."""
    factors = {k: int(row[k]) for k in ("impact", "effort", "risk")}
    confidence, occurrences = float(row["confidence"]), int(row["occurrences"] or 1)
    computed = scoring.score(
        factors["impact"], confidence, factors["effort"], factors["risk"], weights, occurrences
    )
    value, points, explanation = scoring.with_override(
        computed,
        row.get("override"),
        confidence=confidence,
        occurrences=occurrences,
        weights=weights,
        **factors,
    )
    return {
        "computed_score": computed[0],
        "score": value,
        "breakdown": points,
        "explanation": explanation,
    }


def write(
    conn: sa.Connection,
    before: Mapping[str, Any],
    changes: Mapping[str, Any],
    *,
    action: str,
    actor: str,
    expected_version: int | None = None,
    rationale: str | None = None,
    authority: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply changes to one task if nobody changed it since `expected_version`; audit it."""
    task_id, version = str(before["id"]), int(before["version"])
    if expected_version is not None and expected_version != version:
        raise ConflictError(task_id, version, expected_version)
    after = {**before, **changes, "version": version + 1, "updated_at": now_iso()}
    values = {k: after[k] for k in (*changes, "version", "updated_at")}
    result = conn.execute(
        tasks.update().where(tasks.c.id == task_id, tasks.c.version == version).values(**values)
    )
    if result.rowcount != 1:
        raise ConflictError(task_id, int(get(conn, task_id)["version"]), version)
    diff = {k: [before.get(k), after[k]] for k in changes if before.get(k) != after[k]}
    audit.append(
        conn,
        action=action,
        entity="task",
        entity_id=task_id,
        actor=actor,
        rationale=rationale,
        authority=authority,
        details={**(details or {}), "changes": diff, "version": after["version"]},
        seal=True,
    )
    return after


def _alert_context(conn: sa.Connection, investigation_id: str) -> Mapping[str, Any]:
    query = (
        sa.select(
            alerts.c.id,
            alerts.c.service,
            alerts.c.severity,
            alerts.c.labels,
            alerts.c.fingerprint,
            alerts.c.starts_at,
        )
        .select_from(investigations.join(alerts, alerts.c.id == investigations.c.alert_id))
        .where(investigations.c.id == investigation_id)
    )
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFoundError(f"no investigation with id {investigation_id!r}")
    return dict(row)


def _link(
    conn: sa.Connection,
    task_id: str,
    *,
    investigation_id: str,
    run_id: str | None,
    alert_id: str | None,
    kind: str,
    confidence: float | None,
    verdict: str | None = "supported",
) -> None:
    conn.execute(
        task_evidence.insert().values(
            task_id=task_id,
            investigation_id=investigation_id,
            run_id=run_id,
            alert_id=alert_id,
            kind=kind,
            verdict=verdict,
            confidence=confidence,
            created_at=now_iso(),
        )
    )


def _create(
    conn: sa.Connection,
    planned: ScoredTask,
    *,
    investigation_id: str,
    run_id: str | None,
    alert: Mapping[str, Any],
    context: Context,
) -> str:
    task_id, stamp = new_id("task"), now_iso()
    labels = alert["labels"] or {}
    team = labels.get(context.team_label) if isinstance(labels, dict) else None
    team = plain(team, 200) if isinstance(team, str) else None
    row: dict[str, Any] = {
        "id": task_id,
        "investigation_id": investigation_id,
        "run_id": run_id,
        "hypothesis_id": planned.hypothesis_id,
        "spec_task": planned.spec_task or planned.title,
        "service": alert["service"] or "",
        "team": team or None,
        "severity": alert["severity"],
        "title": planned.title,
        "description": planned.description,
        "owner": None,
        "status": "open",
        "due_date": _due(min(planned.due_in_days, context.due_days(alert["severity"]))),
        "impact": planned.impact,
        "effort": planned.effort,
        "risk": planned.risk,
        "confidence": planned.confidence,
        "occurrences": 1,
        "override": None,
        "version": 1,
        "created_at": stamp,
        "updated_at": stamp,
    }
    row.update(scores(row, context.weights))
    conn.execute(tasks.insert().values(**row))
    _link(
        conn,
        task_id,
        investigation_id=investigation_id,
        run_id=run_id,
        alert_id=alert["id"],
        kind="origin",
        confidence=planned.confidence,
    )
    audit.append(
        conn,
        action="task.created",
        entity="task",
        entity_id=task_id,
        actor=context.actor,
        details={
            "investigation_id": investigation_id,
            "run_id": run_id,
            "score": row["score"],
            "breakdown": row["breakdown"],
            "version": 1,
        },
        seal=True,
    )
    return task_id


def occurrences(conn: sa.Connection, task_id: str) -> set[tuple[str, str]]:
    """The alert occurrences behind a task: (fingerprint, startsAt), so that the resolved
    notice of an alert is the same occurrence as its firing one, not a recurrence."""
    query = (
        sa.select(alerts.c.fingerprint, alerts.c.starts_at)
        .select_from(task_evidence.join(alerts, alerts.c.id == task_evidence.c.alert_id))
        .where(task_evidence.c.task_id == task_id)
    )
    return {(str(f), str(s)) for f, s in conn.execute(query)}


def propose(
    conn: sa.Connection,
    investigation_id: str,
    planned: Sequence[ScoredTask],
    run_ids: Mapping[str, str],
    context: Context,
) -> list[str]:
    """Create each planned task, or link it to the task it repeats (rescored, maybe reopened)."""
    alert = _alert_context(conn, investigation_id)
    ids: list[str] = []
    for task in planned:
        run_id = run_ids.get(task.hypothesis_id)
        # tasks migrated from 0.1.0 carry their rendered title as spec_task
        names = {task.spec_task or task.title, task.title}
        query = (
            sa.select(tasks)
            .where(
                tasks.c.hypothesis_id == task.hypothesis_id,
                tasks.c.spec_task.in_(sorted(names)),
                tasks.c.service == (alert["service"] or ""),
            )
            .order_by(tasks.c.created_at, tasks.c.id)
        )
        existing = conn.execute(query.limit(1)).mappings().first()
        if existing is None:
            ids.append(
                _create(
                    conn,
                    task,
                    investigation_id=investigation_id,
                    run_id=run_id,
                    alert=alert,
                    context=context,
                )
            )
            continue
        seen = occurrences(conn, existing["id"])
        occurrence = (str(alert["fingerprint"]), str(alert["starts_at"]))
        kind = "rerun" if occurrence in seen else "recurrence"
        _link(
            conn,
            existing["id"],
            investigation_id=investigation_id,
            run_id=run_id,
            alert_id=alert["id"],
            kind=kind,
            confidence=task.confidence,
        )
        changes: dict[str, Any] = {
            "confidence": task.confidence,
            "occurrences": len(seen | {occurrence}),
        }
        if kind == "recurrence" and existing["status"] in ("done", "verified"):
            changes.update(
                status="reopened",
                status_reason=f"recurred: investigation {investigation_id}",
                due_date=_due(context.due_days(alert["severity"])),
                verify_after=None,
            )
        rescore(
            conn,
            dict(existing),
            changes,
            context,
            cause={"kind": kind, "investigation_id": investigation_id, "run_id": run_id},
        )
        ids.append(str(existing["id"]))
    return ids


def rescore(
    conn: sa.Connection,
    before: dict[str, Any],
    changes: Mapping[str, Any],
    context: Context,
    *,
    cause: Mapping[str, Any],
) -> dict[str, Any]:
    """Apply new evidence (confidence, occurrences, status) and recompute both scores."""
    merged = {**before, **changes}
    updated = {**changes, **scores(merged, context.weights)}
    reopened = updated.get("status") == "reopened" and before["status"] != "reopened"
    moved = updated["computed_score"] != before["computed_score"]
    action = "task.reopened" if reopened else "task.rescored" if moved else "task.linked"
    return write(
        conn,
        before,
        updated,
        action=action,
        actor=context.actor,
        details={
            "cause": dict(cause),
            "old_score": before["score"],
            "new_score": updated["score"],
        },
    )


def set_status(
    conn: sa.Connection,
    task_id: str,
    status: str,
    *,
    reason: str | None,
    actor: str,
    expected_version: int | None = None,
    by_verification: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    before = get(conn, task_id)
    lifecycle.check_move(
        task_id, before["status"], status, reason=reason, by_verification=by_verification
    )
    stamp = now_iso()
    changes: dict[str, Any] = {"status": status, "status_reason": plain(reason or "") or None}
    if status == "done":
        changes["done_at"] = stamp
    if status == "verified":
        changes["verified_at"] = stamp
    changes.update(extra or {})
    return write(
        conn,
        before,
        changes,
        action=f"task.{status}",
        actor=actor,
        expected_version=expected_version,
        rationale=changes["status_reason"],
    )


def evidence(conn: sa.Connection, task_id: str) -> list[dict[str, Any]]:
    """Every investigation behind a task, oldest first, with its run's verdict and files."""
    query = (
        sa.select(
            task_evidence.c.kind,
            task_evidence.c.investigation_id,
            task_evidence.c.run_id,
            task_evidence.c.alert_id,
            task_evidence.c.created_at,
            runs.c.hypothesis_id,
            runs.c.verdict,
            runs.c.confidence,
            runs.c.notebook,
            investigations.c.report,
            investigations.c.snapshot_sha256,
            investigations.c.window_start,
            investigations.c.window_end,
        )
        .select_from(
            task_evidence.join(
                investigations, investigations.c.id == task_evidence.c.investigation_id
            ).outerjoin(runs, runs.c.id == task_evidence.c.run_id)
        )
        .where(task_evidence.c.task_id == task_id)
        .order_by(task_evidence.c.id)
    )
    return [dict(r) for r in conn.execute(query).mappings()]
