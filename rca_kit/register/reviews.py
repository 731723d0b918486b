"""Post-incident reviews: the confirmed cause, the lessons, and what they say of each verdict.

A supported hypothesis that is neither the confirmed cause nor one of its documented
consequences (the cause spec's `explains`) counts as a false positive; an inconclusive one is a
data gap to close (the missing data it named).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ..exceptions import InputError, NotFoundError
from . import audit
from .ids import now_iso
from .schema import incident_reviews, investigations, runs
from .tasks import plain

OTHER = "other"  # the cause was none of the hypotheses that ran
MAX_TEXT = 10_000


def _text(value: str | None, what: str) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > MAX_TEXT:
        raise InputError(f"{what} is longer than {MAX_TEXT} characters")
    return plain(value, MAX_TEXT)


def record(
    conn: sa.Connection,
    investigation_id: str,
    *,
    root_cause: str,
    explains: Mapping[str, tuple[str, ...]],
    notes: str | None,
    worked: str | None,
    did_not_work: str | None,
    reviewer: str,
    actor: str,
) -> dict[str, Any]:
    found = conn.execute(
        sa.select(investigations.c.kind).where(investigations.c.id == investigation_id)
    ).first()
    if found is None:
        raise NotFoundError(f"no investigation with id {investigation_id!r}")
    if found.kind != "incident":
        raise InputError(f"{investigation_id} is a {found.kind}; review the incident instead")
    ran = [
        dict(r)
        for r in conn.execute(
            sa.select(runs.c.hypothesis_id, runs.c.verdict, runs.c.missing_data)
            .where(runs.c.investigation_id == investigation_id, runs.c.rerun_of.is_(None))
            .order_by(runs.c.hypothesis_id)
        ).mappings()
    ]
    names = [r["hypothesis_id"] for r in ran]
    cause = root_cause.strip()
    if cause not in (*names, OTHER):
        raise InputError(
            f"--root-cause {cause!r} did not run in {investigation_id} "
            f"(ran: {', '.join(names) or 'nothing'}; or '{OTHER}' for a cause outside the library)"
        )
    consequences = set(explains.get(cause, ()))
    false_positives = [
        r["hypothesis_id"]
        for r in ran
        if r["verdict"] == "supported"
        and r["hypothesis_id"] != cause
        and r["hypothesis_id"] not in consequences
    ]
    gaps = [
        {
            "hypothesis_id": r["hypothesis_id"],
            "missing_data": list(r["missing_data"] or []),
            "was_the_cause": r["hypothesis_id"] == cause,
        }
        for r in ran
        if r["verdict"] == "inconclusive"
    ]
    row: dict[str, Any] = {
        "investigation_id": investigation_id,
        "root_cause": cause,
        "notes": _text(notes, "--notes"),
        "worked": _text(worked, "--worked"),
        "did_not_work": _text(did_not_work, "--did-not-work"),
        "false_positives": false_positives,
        "data_gaps": gaps,
        "reviewer": plain(reviewer, 200),
        "created_at": now_iso(),
    }
    conn.execute(incident_reviews.insert().values(**row))
    conn.execute(
        investigations.update()
        .where(investigations.c.id == investigation_id)
        .values(root_cause=cause)
    )
    audit.append(
        conn,
        action="investigation.reviewed",
        entity="investigation",
        entity_id=investigation_id,
        seal=True,
        actor=actor,
        authority=row["reviewer"],
        rationale=row["notes"],
        details={k: row[k] for k in ("root_cause", "false_positives", "data_gaps")},
    )
    return row


def latest(conn: sa.Connection, investigation_id: str) -> dict[str, Any] | None:
    query = (
        sa.select(incident_reviews)
        .where(incident_reviews.c.investigation_id == investigation_id)
        .order_by(incident_reviews.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None
