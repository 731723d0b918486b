"""Alerts as received: store one (a repeat is the same alert; a resolved notice closes its
firing alert), list them, show one, and the dead letters of payloads that failed to parse.

Functions take a connection; `Store` wraps each in one transaction or read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from ..exceptions import NotFoundError
from ..intake.identity import BY_ID, earlier_keys
from ..intake.links import safe_url
from ..learning import duration_s
from ..models import Alert
from . import audit
from .ids import new_id, now_iso
from .listing import ALERT_COLUMNS, with_time_to_resolve
from .schema import alerts, dead_letters, investigations


class Receipt(NamedTuple):
    """What storing one alert did: its id, whether a row was created, whether it resolved a
    stored firing alert (then nothing new is to be investigated), and the alert whose
    investigation it shares instead of having its own (queue.enqueue)."""

    id: str
    created: bool
    resolved: bool = False
    shared_with: str | None = None


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def store(conn: sa.Connection, alert: Alert) -> Receipt:
    """Store an alert unless its occurrence (fingerprint, startsAt) is stored, whatever its
    status: a repeat returns the stored row; a resolved notice of a stored firing alert
    resolves that row (ends_at, resolved_at, audited as `alert.resolved`). The fingerprint
    is rca-kit's identity of the alert (intake/identity.py), never the payload's."""
    starts = iso(alert.starts_at)
    found = {
        row.status: str(row.id)
        for row in conn.execute(
            sa.select(alerts.c.id, alerts.c.status)
            .where(alerts.c.fingerprint == alert.fingerprint, alerts.c.starts_at == starts)
            .order_by(alerts.c.received_at, alerts.c.id)
        )
    } or _stored_earlier(conn, alert, starts)
    if alert.status == "resolved" and "resolved" not in found and "firing" in found:
        return _resolve(conn, found["firing"], alert)
    if found:
        return Receipt(found.get(alert.status) or next(iter(found.values())), False)
    alert_id = new_id("al")
    conn.execute(
        alerts.insert().values(
            id=alert_id,
            fingerprint=alert.fingerprint,
            name=alert.name,
            status=alert.status,
            service=alert.service,
            severity=alert.severity,
            starts_at=starts,
            ends_at=iso(alert.ends_at),
            labels=alert.labels,
            annotations=alert.annotations,
            source_format=alert.source_format,
            raw=alert.raw,
            received_at=now_iso(),
            links=alert.links or None,
        )
    )
    audit.append(
        conn,
        action="alert.stored",
        entity="alert",
        entity_id=alert_id,
        seal=True,
        details={
            "fingerprint": alert.fingerprint,
            "status": alert.status,
            "format": alert.source_format,
            **({"warnings": list(alert.warnings)} if alert.warnings else {}),
        },
    )
    return Receipt(alert_id, True)


def _stored_earlier(conn: sa.Connection, alert: Alert, starts: str | None) -> dict[str, str]:
    """The occurrence as a release that trusted payload fingerprints stored it: found by the
    keys it may carry, and the same alert only if its content is this one's (the sender's id
    for PagerDuty and Opsgenie, else name and labels), so a claimed value never matches."""
    keys = earlier_keys(alert.source_format, alert.name, alert.labels, alert.raw)
    keys.discard(alert.fingerprint)
    if not keys:
        return {}
    rows = conn.execute(
        sa.select(alerts.c.id, alerts.c.status, alerts.c.name, alerts.c.labels)
        .where(
            alerts.c.fingerprint.in_(sorted(keys)),
            alerts.c.starts_at == starts,
            alerts.c.source_format == alert.source_format,
        )
        .order_by(alerts.c.received_at, alerts.c.id)
    )
    by_id = alert.source_format in BY_ID
    return {
        row.status: str(row.id)
        for row in rows
        if by_id or (row.name == alert.name and row.labels == alert.labels)
    }


def _resolve(conn: sa.Connection, alert_id: str, notice: Alert) -> Receipt:
    now = now_iso()
    ends = iso(notice.ends_at) or now
    conn.execute(
        alerts.update()
        .where(alerts.c.id == alert_id)
        .values(status="resolved", ends_at=ends, resolved_at=now)
    )
    audit.append(
        conn,
        action="alert.resolved",
        entity="alert",
        entity_id=alert_id,
        seal=True,
        details={
            "time_to_resolve_s": duration_s(iso(notice.starts_at), ends),
            "ends_at": ends,
            "format": notice.source_format,
        },
    )
    return Receipt(alert_id, False, True)


def get(conn: sa.Connection, alert_id: str) -> Alert:
    row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no alert with id {alert_id!r}", hint="see `rca alert list`")
    return Alert(
        id=row["id"],
        name=row["name"],
        status=row["status"],
        fingerprint=row["fingerprint"],
        starts_at=datetime.fromisoformat(row["starts_at"]),
        ends_at=datetime.fromisoformat(row["ends_at"]) if row["ends_at"] else None,
        service=row["service"],
        severity=row["severity"],
        labels=row["labels"],
        annotations=row["annotations"],
        source_format=row["source_format"],
        raw=row["raw"],
        links=_links(row["links"]),
    )


def _links(value: Any) -> dict[str, str]:
    """Stored links, checked again on the way out (a row may predate the check)."""
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if safe_url(v)}


def listing(
    conn: sa.Connection,
    *,
    status: str | None = None,
    service: str | None = None,
    limit: int | None = 50,
) -> list[dict[str, Any]]:
    """Alerts, most recently received first, with how many investigations each has."""
    count = (
        sa.select(sa.func.count())
        .where(investigations.c.alert_id == alerts.c.id)
        .scalar_subquery()
        .label("investigations")
    )
    query = sa.select(*(alerts.c[name] for name in ALERT_COLUMNS), count)
    if status:
        query = query.where(alerts.c.status == status)
    if service:
        query = query.where(alerts.c.service == service)
    query = query.order_by(alerts.c.received_at.desc(), alerts.c.id.desc())
    if limit:
        query = query.limit(limit)
    return [with_time_to_resolve(dict(row)) for row in conn.execute(query).mappings()]


def detail(conn: sa.Connection, alert_id: str) -> dict[str, Any]:
    """One alert as stored (without its raw payload), its time to resolve and investigations."""
    columns = [c for c in alerts.c if c.name != "raw"]
    row = conn.execute(sa.select(*columns).where(alerts.c.id == alert_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no alert with id {alert_id!r}", hint="see `rca alert list`")
    found = with_time_to_resolve(dict(row))
    found["links"] = _links(found.get("links"))
    found["investigations"] = investigations_of(conn, alert_id)
    return found


def investigations_of(conn: sa.Connection, alert_id: str) -> list[dict[str, Any]]:
    """The investigations of one alert, oldest first."""
    query = (
        sa.select(
            investigations.c.id,
            investigations.c.alert_id,
            investigations.c.kind,
            investigations.c.status,
            investigations.c.created_at,
            investigations.c.finished_at,
            investigations.c.leading_hypothesis,
            investigations.c.root_cause,
            investigations.c.report,
            investigations.c.error,
        )
        .where(investigations.c.alert_id == alert_id)
        .order_by(investigations.c.created_at, investigations.c.id)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def dead_letter_rows(conn: sa.Connection) -> list[dict[str, Any]]:
    """Dead letters without their payload: id, received_at, source, error, size (bytes)."""
    query = sa.select(
        dead_letters.c.id,
        dead_letters.c.received_at,
        dead_letters.c.source,
        dead_letters.c.error,
        sa.func.length(dead_letters.c.payload).label("size"),
    ).order_by(dead_letters.c.id)
    return [dict(r) for r in conn.execute(query).mappings()]


def dead_letter_payload(conn: sa.Connection, letter_id: int) -> bytes:
    payload = conn.execute(
        sa.select(dead_letters.c.payload).where(dead_letters.c.id == letter_id)
    ).scalar()
    if payload is None:
        raise NotFoundError(
            f"no dead letter with id {letter_id}", hint="see `rca alert dead-letters`"
        )
    return bytes(payload)
