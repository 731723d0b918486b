"""Verification outcomes in the register: a fix verified, reopened, or still pending."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..exceptions import ConflictError, LifecycleError
from . import audit
from .schema import investigations, task_evidence
from .tasks import Context, _due, _link, get, rescore, set_status


def apply(
    conn: sa.Connection,
    task_id: str,
    *,
    result: str,
    reason: str,
    investigation_id: str | None,
    run_id: str | None,
    alert_id: str | None,
    verdict: str | None,
    confidence: float | None,
    context: Context,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Record a verification's evidence and move the task (verified / reopened) or note it.

    Only the task as it was when its test started may be moved: if anyone changed it while
    the notebook ran (reopened by a recurrence, marked done again), nothing is written.
    """
    current = get(conn, task_id)
    if expected_version is not None and current["version"] != expected_version:
        raise ConflictError(task_id, int(current["version"]), expected_version)
    if current["status"] != "done":
        msg = f"is {current['status']}; only a done task's fix can be verified"
        raise LifecycleError(msg, where=task_id)
    if investigation_id is not None:
        _link(
            conn,
            task_id,
            investigation_id=investigation_id,
            run_id=run_id,
            alert_id=alert_id,
            kind="verification",
            confidence=confidence,
            verdict=verdict,
        )
    if result == "verified":
        return set_status(
            conn, task_id, "verified", reason=reason, actor=context.actor, by_verification=True
        )
    before = get(conn, task_id)
    if result == "reopened":
        changes: dict[str, Any] = {
            "status": "reopened",
            "status_reason": reason[:2000],
            "due_date": _due(context.due_days(before["severity"])),
            "verify_after": None,
        }
        if verdict == "supported" and confidence is not None:
            changes["confidence"] = confidence  # the new evidence replaces the old
        cause = {"kind": "verification", "investigation_id": investigation_id, "run_id": run_id}
        return rescore(conn, before, changes, context, cause=cause)
    audit.append(
        conn,
        action=f"task.verification_{result}",
        entity="task",
        entity_id=task_id,
        actor=context.actor,
        rationale=reason[:2000],
        details={"investigation_id": investigation_id, "run_id": run_id},
    )
    return before


def latest_of_task(conn: sa.Connection, task_id: str) -> dict[str, Any] | None:
    """The task's most recent verification investigation, if any."""
    query = (
        sa.select(investigations)
        .where(investigations.c.kind == "verification", investigations.c.task_id == task_id)
        .order_by(investigations.c.created_at.desc(), investigations.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def of_investigation(conn: sa.Connection, investigation_id: str) -> list[dict[str, Any]]:
    """Verification investigations of the tasks this (incident) investigation produced."""
    linked = sa.select(task_evidence.c.task_id).where(
        task_evidence.c.investigation_id == investigation_id
    )
    query = (
        sa.select(investigations)
        .where(investigations.c.kind == "verification", investigations.c.task_id.in_(linked))
        .order_by(investigations.c.created_at, investigations.c.id)
    )
    return [dict(r) for r in conn.execute(query).mappings()]
