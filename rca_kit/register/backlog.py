"""The backlog view of the register: ranked and filtered tasks, one task's whole story,
ownership and links to external trackers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from ..exceptions import InputError
from ..lifecycle import ACTIVE
from .listing import check_statuses, ranked_rows
from .schema import audit_events, task_evidence, tasks
from .tasks import evidence, get, write

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
TRACKERS = ("github", "jira")


def ranked(
    conn: sa.Connection,
    *,
    investigation_id: str | None = None,
    owner: str | None = None,
    team: str | None = None,
    statuses: Iterable[str] = (),
    service: str | None = None,
    overdue: bool = False,
    today: str | None = None,
) -> list[dict[str, Any]]:
    """Tasks in rank order (open work first, then by scoring.rank_key), numbered from 1.

    Ranks are positions in the whole register, or within one investigation's tasks when
    `investigation_id` is given; the other filters only choose which ranked rows to show.
    """
    wanted = check_statuses(statuses)
    query = sa.select(tasks)
    if investigation_id:
        linked = sa.select(task_evidence.c.task_id).where(
            task_evidence.c.investigation_id == investigation_id
        )
        query = query.where(tasks.c.id.in_(linked))
    return ranked_rows(
        (dict(r) for r in conn.execute(query).mappings()),
        owner=owner,
        team=team,
        statuses=wanted,
        service=service,
        overdue=overdue,
        today=today,
    )


def why(row: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """One line: where the task ranks and what sets it apart from its neighbours."""
    active = [r for r in rows if r["status"] in ACTIVE]
    if row["status"] not in ACTIVE:
        return f"not ranked: {row['status']}; score {row['score']:.1f} ({row['explanation']})"
    place = next(i for i, r in enumerate(active) if r["id"] == row["id"])
    parts = [f"#{place + 1} of {len(active)} open tasks: {row['explanation']}"]
    if place > 0:
        above = active[place - 1]
        parts.append(f"below {above['id']} ({above['score']:.1f})")
    if place + 1 < len(active):
        below = active[place + 1]
        parts.append(f"above {below['id']} ({below['score']:.1f})")
    return "; ".join(parts)


def trail(conn: sa.Connection, task_id: str) -> list[dict[str, Any]]:
    query = (
        sa.select(audit_events)
        .where(audit_events.c.entity == "task", audit_events.c.entity_id == task_id)
        .order_by(audit_events.c.seq)
    )
    events = []
    for row in conn.execute(query).mappings():
        event = dict(row)
        event["details"] = json.loads(event["details"])
        events.append(event)
    return events


def detail(conn: sa.Connection, task_id: str) -> dict[str, Any]:
    """A task with its rank and why, its evidence and its audit trail."""
    get(conn, task_id)  # NotFoundError for an unknown id
    rows = ranked(conn)
    row = next(r for r in rows if r["id"] == task_id)
    return {
        **row,
        "why": why(row, rows),
        "evidence": evidence(conn, task_id),
        "audit": trail(conn, task_id),
    }


def clean_name(value: str, what: str) -> str:
    """A person's or team's name: one line of printable text, bounded."""
    name = _CONTROL.sub("", value).strip()
    if not name:
        raise InputError(f"{what} must not be empty")
    if len(name) > 200:
        raise InputError(f"{what} is longer than 200 characters")
    return name


def assign(
    conn: sa.Connection,
    task_id: str,
    *,
    owner: str,
    team: str | None,
    actor: str,
    expected_version: int | None = None,
    authority: str | None = None,
) -> dict[str, Any]:
    before = get(conn, task_id)
    changes: dict[str, Any] = {"owner": clean_name(owner, "--owner")}
    if team is not None:
        changes["team"] = clean_name(team, "--team")
    return write(
        conn,
        before,
        changes,
        action="task.assigned",
        actor=actor,
        expected_version=expected_version,
        authority=authority,
    )


def link(
    conn: sa.Connection,
    task_id: str,
    *,
    system: str,
    key: str,
    actor: str,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Store the tracker's key: later exports update that ticket instead of opening one."""
    if system not in TRACKERS:
        raise InputError(f"unknown tracker {system!r} (one of: {', '.join(TRACKERS)})")
    before = get(conn, task_id)
    changes = {"external": {**(before["external"] or {}), system: clean_name(key, "--external")}}
    return write(
        conn,
        before,
        changes,
        action="task.linked_external",
        actor=actor,
        expected_version=expected_version,
    )
