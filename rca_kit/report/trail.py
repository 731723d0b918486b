"""The audit trail of one investigation as the review shows it: every event about its alert,
itself, its runs, its tasks and the verifications of their fixes, with the chain's head."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from ..inert import one_line
from ..register.schema import audit_events

# bookkeeping in an event's details that a reader does not need (the seal is checked by
# `rca audit verify`, which the review names)
_UNSHOWN = frozenset({"row_sha256", "keyed", "suspects"})
DETAILS_LIMIT = 300


def investigation_trail(
    conn: sa.Connection,
    *,
    alert_id: str,
    investigation_ids: Iterable[str],
    run_ids: Iterable[str],
    task_ids: Iterable[str],
) -> list[dict[str, Any]]:
    """The audit events about these entities in chain order, details as one short line."""
    wanted = {
        "alert": [alert_id],
        "investigation": list(investigation_ids),
        "run": list(run_ids),
        "task": list(task_ids),
    }
    clauses = [
        sa.and_(audit_events.c.entity == entity, audit_events.c.entity_id.in_(ids))
        for entity, ids in wanted.items()
        if ids
    ]
    query = sa.select(audit_events).where(sa.or_(*clauses)).order_by(audit_events.c.seq)
    events = []
    for row in conn.execute(query).mappings():
        event = dict(row)
        details = _details(event["details"])
        event["details"] = details
        event["summary"] = summarize(details)
        events.append(event)
    return events


def chain_head(conn: sa.Connection) -> dict[str, Any] | None:
    """The last event of the whole chain (seq, hash, at): what `rca audit anchor` would save."""
    row = (
        conn.execute(
            sa.select(audit_events.c.seq, audit_events.c.hash, audit_events.c.at)
            .order_by(audit_events.c.seq.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def summarize(details: dict[str, Any]) -> str:
    """An event's details as one inert line: `key value; key value` (long values cut)."""
    parts = []
    for key, value in details.items():
        if key in _UNSHOWN or value in (None, "", [], {}):
            continue
        if isinstance(value, float):
            value = round(value, 4)
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        parts.append(f"{key} {one_line(text, 80)}")
    return one_line("; ".join(parts), DETAILS_LIMIT)


def _details(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"details": text}
    return value if isinstance(value, dict) else {"details": value}
