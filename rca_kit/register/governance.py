"""Governed decisions: reprioritization by a decision authority, and the review agenda."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from ..config import GovernanceSection
from ..exceptions import InputError, NotAuthorizedError
from . import audit
from .backlog import ranked
from .ids import now_iso
from .schema import audit_events, register_reviews
from .tasks import get, plain, scores, write


def authorize(
    governance: GovernanceSection, authority: str, *, team: str | None, severity: str | None
) -> str:
    """The authority's name if rca.toml lets it decide here; else NotAuthorizedError."""
    name = authority.strip()
    if not name:
        raise InputError("--authority is required: name who decides")
    if not governance.configured():
        raise NotAuthorizedError(
            "no decision authorities are configured",
            hint="list them under [governance] authorities (or teams/severities) in rca.toml",
        )
    if not governance.may_decide(name, team=team, severity=severity):
        scope = ", ".join(f"{k} {v}" for k, v in (("team", team), ("severity", severity)) if v)
        raise NotAuthorizedError(
            f"{name!r} is not a decision authority for this task ({scope or 'no team'})",
            hint="see [governance] in rca.toml",
        )
    return name


def reprioritize(
    conn: sa.Connection,
    task_id: str,
    *,
    override: Mapping[str, Any] | None,
    rationale: str,
    authority: str,
    governance: GovernanceSection,
    weights: Mapping[str, float],
    actor: str,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Set (or, with override=None, clear) a decision authority's override of a task."""
    rationale = plain(rationale)
    if not rationale:
        raise InputError("--rationale is required: say why the priority changes")
    if override and override.get("score") is not None:
        value = float(override["score"])
        if not (math.isfinite(value) and 0 <= value <= 100):
            raise InputError(f"--score must be a number from 0 to 100, got {value}")
    before = get(conn, task_id)
    name = authorize(governance, authority, team=before["team"], severity=before["severity"])
    current = before["override"]
    if override is None:
        if not current:
            raise InputError(f"{task_id} has no override to clear")
        if current.get("authority") != name and name not in governance.authorities:
            raise NotAuthorizedError(
                f"the override was set by {current.get('authority')!r}; only they "
                "(or a global authority) may clear it"
            )
        new_override = None
    else:
        new_override = {**override, "authority": name, "rationale": rationale, "at": now_iso()}
    changes: dict[str, Any] = {"override": new_override}
    changes.update(scores({**before, **changes}, weights))
    return write(
        conn,
        before,
        changes,
        action="task.reprioritized" if new_override else "task.override_cleared",
        actor=actor,
        expected_version=expected_version,
        rationale=rationale,
        authority=name,
        details={"old_score": before["score"], "new_score": changes["score"]},
    )


def last_review(conn: sa.Connection) -> dict[str, Any] | None:
    query = sa.select(register_reviews).order_by(register_reviews.c.id.desc()).limit(1)
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def agenda(conn: sa.Connection, today: str | None = None) -> dict[str, Any]:
    """What needs a decision since the last review: new, overdue, reopened, score moved."""
    review = last_review(conn)
    since = review["audit_seq"] if review else 0
    reasons: dict[str, list[str]] = {}
    query = (
        sa.select(audit_events.c.entity_id, audit_events.c.action, audit_events.c.details)
        .where(audit_events.c.entity == "task", audit_events.c.seq > since)
        .order_by(audit_events.c.seq)
    )
    for task_id, action, details in conn.execute(query):
        changes = json.loads(details).get("changes", {})
        found = reasons.setdefault(task_id, [])
        if action == "task.created":
            found.append("new")
        if "computed_score" in changes:
            old, new = changes["computed_score"]
            found.append(f"computed score {old:.1f} → {new:.1f}")
        if "occurrences" in changes:
            found.append(f"recurred ({changes['occurrences'][1]} alerts)")
    day = today or datetime.now(UTC).date().isoformat()
    items = []
    for row in ranked(conn, today=day):
        why = list(dict.fromkeys(reasons.get(row["id"], [])))
        if row["overdue"]:
            why.append(f"overdue since {row['due_date']}")
        if row["status"] == "reopened":
            why.append("reopened" + (f": {row['status_reason']}" if row["status_reason"] else ""))
        if why:
            items.append({**_brief(row), "reasons": why})
    return {"since": review, "today": day, "items": items}


def _brief(row: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("id", "rank", "title", "status", "owner", "team", "due_date", "score")
    return {k: row[k] for k in (*keys, "computed_score")}


def reviewed(
    conn: sa.Connection,
    *,
    authority: str,
    notes: str | None,
    governance: GovernanceSection,
    actor: str,
) -> dict[str, Any]:
    """Record that the register was reviewed: the next agenda starts after this event."""
    name = authority.strip()
    if name not in {a.strip() for a in governance.authorities}:
        raise NotAuthorizedError(
            f"{name!r} may not record register reviews: only [governance] authorities may",
            hint="see [governance] in rca.toml",
        )
    notes = plain(notes or "") or None
    covered = len(agenda(conn)["items"])  # what this review covered
    seq = audit.append(
        conn,
        action="register.reviewed",
        entity="register",
        entity_id="register",
        actor=actor,
        authority=name,
        rationale=notes,
        details={"items": covered},
    )
    values = {"at": now_iso(), "authority": name, "notes": notes, "audit_seq": seq}
    conn.execute(register_reviews.insert().values(**values))
    return {**values, "items": covered}
