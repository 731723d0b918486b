"""Append-only audit log: each event chained to the previous one by sha256.

With `RCA_AUDIT_KEY` set, each new event's hash is an HMAC-SHA256 keyed with it, and the event
says so (`"keyed": "hmac-sha256"` in its hashed details): whoever edits the database without the
key can relink the chain but cannot forge those hashes. The key is never stored or logged.

Every write of an alert, investigation, run or task also records the sha256 of that row as
written (`row_sha256`), so that verification checks the tables against the chain: a row edited
behind the register's back no longer matches its last event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..exceptions import AuditChainError, InputError
from .schema import alerts, audit_events, investigations, runs, tasks

GENESIS = "0" * 64
KEY_ENV = "RCA_AUDIT_KEY"
KEYED = "hmac-sha256"  # the details marker of an event whose hash is keyed
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


# the columns of a task whose values the audit chain vouches for
TASK_SEALED = (
    "id",
    "investigation_id",
    "run_id",
    "description",
    "status_reason",
    "hypothesis_id",
    "spec_task",
    "service",
    "title",
    "status",
    "owner",
    "team",
    "severity",
    "due_date",
    "impact",
    "effort",
    "risk",
    "confidence",
    "computed_score",
    "score",
    "override",
    "occurrences",
    "external",
    "version",
    "done_at",
    "verify_after",
    "verified_at",
)


ALERT_SEALED = (
    "id",
    "fingerprint",
    "name",
    "status",
    "service",
    "severity",
    "starts_at",
    "ends_at",
    "labels",
    "annotations",
    "source_format",
    "raw",
    "received_at",
)
# Columns added after rows were first sealed: part of the seal once they hold a value, so a
# row sealed before they existed still verifies.
LATER_SEALED = {
    "alert": ("resolved_at", "links"),
    "run": ("notebook_sha256", "provenance", "rerun_of", "override"),
}
RUN_SEALED = (
    "id",
    "investigation_id",
    "hypothesis_id",
    "spec_version",
    "verdict",
    "confidence",
    "summary",
    "criterion",
    "observed",
    "missing_data",
    "notebook",
    "duration_s",
    "error",
    "parameters",
)
INVESTIGATION_SEALED = (
    "id",
    "alert_id",
    "kind",
    "task_id",
    "status",
    "folder",
    "window_start",
    "window_end",
    "snapshot_sha256",
    "leading_hypothesis",
    "root_cause",
    "suspects",
    "report",
    "error",
    "verification",
    "finished_at",
)
SEALED: dict[str, tuple[sa.Table, tuple[str, ...]]] = {
    "alert": (alerts, ALERT_SEALED),
    "investigation": (investigations, INVESTIGATION_SEALED),
    "run": (runs, RUN_SEALED),
    "task": (tasks, TASK_SEALED),
}
_JSON = {
    "links",
    "override",
    "external",
    "labels",
    "annotations",
    "raw",
    "observed",
    "missing_data",
    "parameters",
    "provenance",
    "suspects",
    "verification",
}


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def audit_key() -> str | None:
    """The audit key from the environment (unset or empty: events are not keyed)."""
    return os.environ.get(KEY_ENV) or None


def event_hash(row: dict[str, Any], key: str | None = None) -> str:
    """The event's sha256 (with `key`: its HMAC-SHA256 keyed with it)."""
    material = canonical([row[f] for f in _FIELDS]).encode()
    if key is not None:
        return hmac.new(key.encode(), material, hashlib.sha256).hexdigest()
    return hashlib.sha256(material).hexdigest()


def is_keyed(details: str) -> bool:
    """Whether an event's details (canonical JSON) mark its hash as keyed."""
    try:
        value = json.loads(details)
    except ValueError:
        return False
    return isinstance(value, dict) and value.get("keyed") == KEYED


def row_digest(row: dict[str, Any], entity: str = "task") -> str:
    """The sha256 of a row's sealed columns (JSON read back as text or as objects)."""
    values = []
    for name in SEALED[entity][1]:
        value = row.get(name)
        if name in _JSON and isinstance(value, str):
            value = json.loads(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # one database returns 91.0 where another returns 91
        values.append(value)
    for name in LATER_SEALED.get(entity, ()):
        value = row.get(name)
        if name in _JSON and isinstance(value, str):
            value = json.loads(value)
        if value is not None:
            values.append({name: value})
    return hashlib.sha256(canonical(values).encode()).hexdigest()


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
    seal: bool = False,
) -> int:
    """Append one event inside the caller's (serialized) write transaction; return its seq.

    With `seal`, the event records the hash of the entity's row as it now is in the table.
    """
    lock(conn)
    if seal:
        details = {**(details or {}), "row_sha256": row_seal(conn, entity, entity_id)}
    key = audit_key()
    if key is not None:
        details = {**(details or {}), "keyed": KEYED}
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
    row["hash"] = event_hash(row, key)
    conn.execute(audit_events.insert().values(**row))
    return int(row["seq"])


def lock(conn: sa.Connection) -> None:
    """Serialize writers on PostgreSQL (SQLite's BEGIN IMMEDIATE already does).

    Every write transaction appends to the chain, so taking this lock first, before touching
    any row, gives one global order and no lock-order deadlocks.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("LOCK TABLE audit_events IN EXCLUSIVE MODE"))


def _sealed_columns(entity: str, later: bool = True) -> list[sa.Column[Any]]:
    table, columns = SEALED[entity]
    added = LATER_SEALED.get(entity, ()) if later else ()
    return [table.c[name] for name in (*columns, *added)]


def row_seal(conn: sa.Connection, entity: str, entity_id: str, *, later: bool = True) -> str:
    """The row hash of one stored alert, investigation, run or task (`later=False`: only
    the columns it had when first sealed, for migrations that run before the others exist)."""
    table = SEALED[entity][0]
    query = sa.select(*_sealed_columns(entity, later)).where(table.c.id == entity_id)
    return row_digest(dict(conn.execute(query).mappings().one()), entity)


def verify_rows(conn: sa.Connection) -> int:
    """Check every alert, investigation, run and task row against the row hash its latest
    audit event recorded; return how many rows were checked."""
    sealed: dict[tuple[str, str], str] = {}
    query = (
        sa.select(audit_events.c.entity, audit_events.c.entity_id, audit_events.c.details)
        .where(audit_events.c.entity.in_(sorted(SEALED)))
        .order_by(audit_events.c.seq)
    )
    for entity, entity_id, details in conn.execute(query):
        digest = json.loads(details).get("row_sha256")
        if digest:
            sealed[(entity, entity_id)] = digest
    count = 0
    for entity in SEALED:
        for row in conn.execute(sa.select(*_sealed_columns(entity))).mappings():
            expected = sealed.get((entity, row["id"]))
            if expected is None:
                raise AuditChainError(
                    f"{entity} {row['id']} has no audit event vouching for its row"
                )
            if row_digest(dict(row), entity) != expected:
                raise AuditChainError(
                    f"{entity} {row['id']} differs from its last audited state: "
                    "changed outside rca-kit"
                )
            count += 1
    return count


def read_anchor(path: Path) -> tuple[int, str]:
    """(seq, hash) from a file written by `rca audit anchor`; InputError if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        seq, digest = int(data["seq"]), str(data["hash"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not an audit anchor: {exc}", where=str(path)) from None
    return seq, digest


def check_anchor(conn: sa.Connection, seq: int, digest: str) -> None:
    """The chain must still hold the anchored event unchanged (else it was cut or rewritten)."""
    if seq == 0:
        return
    found = conn.execute(sa.select(audit_events.c.hash).where(audit_events.c.seq == seq)).scalar()
    if found is None:
        raise AuditChainError(f"event {seq} of the anchor is gone: the chain was truncated")
    if found != digest:
        raise AuditChainError(f"event {seq} differs from the anchor: the chain was rewritten")


def verify_chain(conn: sa.Connection, key: str | None = None) -> tuple[int, str]:
    """Walk the chain; return (events, head hash) or raise AuditChainError at the first break.

    Keyed events are authenticated with `key`; without it only their linkage is checked (see
    `unauthenticated`). With the key, an unkeyed event after a keyed one is a rewrite.
    """
    previous, expected_seq, first_keyed = GENESIS, 1, 0
    for row in conn.execute(sa.select(audit_events).order_by(audit_events.c.seq)).mappings():
        seq = row["seq"]
        if seq != expected_seq:
            raise AuditChainError(f"event {expected_seq} is missing (next is {seq}): deleted")
        if row["prev_hash"] != previous:
            raise AuditChainError(f"event {seq} does not follow event {seq - 1}")
        keyed = is_keyed(row["details"])
        if keyed and key is not None:
            if not hmac.compare_digest(event_hash(dict(row), key), row["hash"]):
                raise AuditChainError(
                    f"event {seq}: keyed hash does not match: changed without the audit key "
                    f"(or {KEY_ENV} is not the key it was written with)"
                )
            first_keyed = first_keyed or seq
        elif not keyed:
            if key is not None and first_keyed:
                raise AuditChainError(
                    f"event {seq} is not keyed though event {first_keyed} before it is: "
                    "written or rewritten without the audit key"
                )
            if event_hash(dict(row)) != row["hash"]:
                raise AuditChainError(f"event {seq} was modified after it was written")
        previous, expected_seq = row["hash"], expected_seq + 1
    return expected_seq - 1, previous


def unauthenticated(conn: sa.Connection, key: str | None = None) -> int:
    """How many keyed events `verify_chain` could check only for linkage (no key given)."""
    if key is not None:
        return 0
    return sum(is_keyed(d) for d in conn.execute(sa.select(audit_events.c.details)).scalars())
