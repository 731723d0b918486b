"""Append-only audit log: each event chained to the previous one by sha256."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from ..exceptions import AuditChainError
from .schema import audit_events

GENESIS = "0" * 64
_FIELDS = (
    "seq",
    "at",
    "actor",
    "action",
    "entity",
    "entity_id",
    "details",
    "rationale",
    "authority",
    "prev_hash",
)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def event_hash(row: dict[str, Any]) -> str:
    return hashlib.sha256(canonical([row[f] for f in _FIELDS]).encode()).hexdigest()


def append(
    conn: sa.Connection,
    *,
    action: str,
    entity: str,
    entity_id: str,
    details: dict[str, Any] | None = None,
    actor: str = "rca-kit",
    rationale: str | None = None,
    authority: str | None = None,
) -> int:
    """Append one event inside the caller's (serialized) write transaction; return its seq."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("LOCK TABLE audit_events IN EXCLUSIVE MODE"))
    last = conn.execute(
        sa.select(audit_events.c.seq, audit_events.c.hash)
        .order_by(audit_events.c.seq.desc())
        .limit(1)
    ).first()
    row: dict[str, Any] = {
        "seq": (last.seq + 1) if last else 1,
        "at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "details": canonical(details or {}),
        "rationale": rationale,
        "authority": authority,
        "prev_hash": last.hash if last else GENESIS,
    }
    row["hash"] = event_hash(row)
    conn.execute(audit_events.insert().values(**row))
    return int(row["seq"])


def verify_chain(conn: sa.Connection) -> tuple[int, str]:
    """Walk the chain; return (events, head hash) or raise AuditChainError at the first break."""
    previous, expected_seq = GENESIS, 1
    for row in conn.execute(sa.select(audit_events).order_by(audit_events.c.seq)).mappings():
        if row["seq"] != expected_seq:
            raise AuditChainError(
                f"event {expected_seq} is missing (next is {row['seq']}): deleted"
            )
        if row["prev_hash"] != previous:
            raise AuditChainError(f"event {row['seq']} does not follow event {row['seq'] - 1}")
        if event_hash(dict(row)) != row["hash"]:
            raise AuditChainError(f"event {row['seq']} was modified after it was written")
        previous, expected_seq = row["hash"], expected_seq + 1
    return expected_seq - 1, previous
