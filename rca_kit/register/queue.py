"""The investigation queue of `rca serve`: its state lives in the register, so a restart
resumes pending work and a worker that died mid-investigation is noticed and retried once.

One entry per alert occurrence (a unique alert id), so a repeated notification, a retry or a
second Alertmanager of an HA pair starts nothing new. Every move is audited.

Identical alerts share an investigation: a firing alert whose name and service are those of
an alert queued, being investigated or investigated, that started within the evidence window
(`[evidence] before`) of it either way, gets an entry `merged` into that one (`shared_with`:
its alert id; `investigation_id` once that alert's investigation is known) instead of its own
investigation, so a storm of one alert, or ten thousand copies of it, costs one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from . import audit
from .ids import now_iso
from .schema import alerts, investigations, queue, runs

if TYPE_CHECKING:
    from .store import Store

STATES = ("pending", "running", "done", "failed", "merged")
MAX_ATTEMPTS = 2  # the first run and one retry after a crash


@dataclass(frozen=True)
class Entry:
    id: int
    alert_id: str
    attempts: int
    worker: str


def _owned(entry: Entry) -> Any:
    """The entry as this worker claimed it: a peer that took it over since is not touched."""
    return sa.and_(
        queue.c.id == entry.id,
        queue.c.state == "running",
        queue.c.worker == entry.worker,
        queue.c.attempts == entry.attempts,
    )


def enqueue(
    conn: sa.Connection, alert_id: str, *, actor: str, share_within: timedelta | None = None
) -> tuple[bool, str | None]:
    """Queue an investigation of the alert (unless one is queued or exists), inside the
    caller's write transaction: (queued, the alert whose investigation it shares, if any)."""
    own = conn.execute(
        sa.select(queue.c.id, queue.c.shared_with).where(queue.c.alert_id == alert_id)
    ).first()
    if own is not None:
        return False, own.shared_with
    investigated = conn.execute(
        sa.select(investigations.c.id).where(investigations.c.alert_id == alert_id).limit(1)
    ).first()
    if investigated:
        return False, None
    shared = _shared(conn, alert_id, share_within) if share_within is not None else None
    now = now_iso()
    result = conn.execute(
        queue.insert().values(
            alert_id=alert_id,
            state="merged" if shared else "pending",
            enqueued_at=now,
            finished_at=now if shared else None,
            shared_with=shared[0] if shared else None,
            investigation_id=shared[1] if shared else None,
        )
    )
    key = result.inserted_primary_key
    details: dict[str, Any] = {"queue_id": int(key[0]) if key else None}
    if shared:
        details.update(shared_with=shared[0], investigation_id=shared[1])
    audit.append(
        conn,
        action="queue.merged" if shared else "queue.enqueued",
        entity="alert",
        entity_id=alert_id,
        actor=actor,
        details=details,
    )
    return (False, shared[0]) if shared else (True, None)


def _shared(conn: sa.Connection, alert_id: str, within: timedelta) -> tuple[str, str | None] | None:
    """(alert id, investigation id or None while queued) of the investigation of the same
    alert of the same service that started within `within` of this one; None: there is none.
    Merged entries are not investigations: each share leads to one that runs (or ran)."""
    row = conn.execute(
        sa.select(alerts.c.name, alerts.c.service, alerts.c.starts_at).where(
            alerts.c.id == alert_id
        )
    ).first()
    if row is None or not row.service:
        return None
    try:
        start = datetime.fromisoformat(row.starts_at)
        low, high = (start - within).isoformat(), (start + within).isoformat()
    except (OverflowError, ValueError):  # a row stored before intake bounded times
        return None
    same = sa.and_(
        alerts.c.name == row.name,
        alerts.c.service == row.service,
        alerts.c.starts_at >= low,
        alerts.c.starts_at <= high,
        alerts.c.id != alert_id,
    )
    waiting = conn.execute(
        sa.select(queue.c.alert_id)
        .join(alerts, alerts.c.id == queue.c.alert_id)
        .where(same, queue.c.state.in_(("pending", "running")))
        .order_by(queue.c.id)
        .limit(1)
    ).first()
    if waiting is not None:
        return str(waiting.alert_id), None
    investigated = conn.execute(
        sa.select(investigations.c.alert_id, investigations.c.id)
        .join(alerts, alerts.c.id == investigations.c.alert_id)
        .where(
            same,
            investigations.c.kind == "incident",
            investigations.c.status.not_in(("failed", "abandoned")),
        )
        .order_by(investigations.c.created_at.desc(), investigations.c.id)
        .limit(1)
    ).first()
    return (str(investigated.alert_id), str(investigated.id)) if investigated else None


def claim(store: Store, worker: str) -> Entry | None:
    """Take the oldest pending entry for this worker (None: nothing to do)."""
    with store.transaction() as conn:
        row = conn.execute(
            sa.select(queue.c.id, queue.c.alert_id, queue.c.attempts)
            .where(queue.c.state == "pending")
            .order_by(queue.c.id)
            .limit(1)
        ).first()
        if row is None:
            return None
        attempts = int(row.attempts) + 1
        conn.execute(
            queue.update()
            .where(queue.c.id == row.id)
            .values(state="running", attempts=attempts, started_at=now_iso(), worker=worker[:200])
        )
        audit.append(
            conn,
            action="queue.started",
            entity="alert",
            entity_id=row.alert_id,
            actor=store.actor,
            details={"queue_id": row.id, "attempt": attempts, "worker": worker[:200]},
        )
        return Entry(
            id=int(row.id), alert_id=str(row.alert_id), attempts=attempts, worker=worker[:200]
        )


def finish(
    store: Store,
    entry: Entry,
    *,
    investigation_id: str | None,
    error: str | None = None,
    retry: bool = False,
) -> str:
    """Record how an entry ended; a failed attempt with a retry left goes back to pending.
    Returns the new state, or "lost" when the entry is no longer this worker's (it was taken
    over as abandoned): then nothing is written."""
    if error is None:
        state = "done"
    elif retry and entry.attempts < MAX_ATTEMPTS:
        state = "pending"
    else:
        state = "failed"
    with store.transaction() as conn:
        updated = conn.execute(
            queue.update()
            .where(_owned(entry))
            .values(
                state=state,
                finished_at=now_iso() if state != "pending" else None,
                investigation_id=investigation_id,
                error=error[:2000] if error else None,
            )
        )
        if updated.rowcount != 1:
            return "lost"
        if investigation_id and state != "pending":  # alerts sharing it now know which
            conn.execute(
                queue.update()
                .where(queue.c.shared_with == entry.alert_id, queue.c.state == "merged")
                .values(investigation_id=investigation_id)
            )
        audit.append(
            conn,
            action=f"queue.{'retried' if state == 'pending' else state}",
            entity="alert",
            entity_id=entry.alert_id,
            actor=store.actor,
            details={
                "queue_id": entry.id,
                "attempt": entry.attempts,
                "investigation_id": investigation_id,
                "error": error[:500] if error else None,
            },
        )
    return state


def release(store: Store, entry: Entry) -> None:
    """Give a running entry back untouched (a graceful shutdown): the attempt does not count."""
    with store.transaction() as conn:
        updated = conn.execute(
            queue.update()
            .where(_owned(entry))
            .values(state="pending", attempts=entry.attempts - 1, worker=None, started_at=None)
        )
        if updated.rowcount != 1:
            return
        audit.append(
            conn,
            action="queue.released",
            entity="alert",
            entity_id=entry.alert_id,
            actor=store.actor,
            details={"queue_id": entry.id},
        )


def recover(store: Store, *, lease_s: float, alive: Callable[[str], bool]) -> dict[str, list[str]]:
    """Entries left running by a worker that is gone are retried once, or failed.

    A worker is gone when `alive(worker)` says so (its process on this host has ended) or
    when it has held the entry longer than `lease_s` (a worker on another host, or one
    whose process id was reused). Entries of live workers are left alone, so a second
    receiver starting on the same register takes nothing from the first.
    Returns the alert ids of each.
    """
    found: dict[str, list[str]] = {"retried": [], "failed": []}
    expired = (datetime.now(UTC) - timedelta(seconds=lease_s)).isoformat()
    with store.transaction() as conn:
        rows = conn.execute(
            sa.select(
                queue.c.id, queue.c.alert_id, queue.c.attempts, queue.c.worker, queue.c.started_at
            ).where(queue.c.state == "running")
        ).all()
        for row in rows:
            if alive(row.worker or "") and (row.started_at or "") > expired:
                continue
            retry = int(row.attempts) < MAX_ATTEMPTS
            state = "pending" if retry else "failed"
            error = f"the worker {row.worker or '?'} stopped during the investigation"
            conn.execute(
                queue.update()
                .where(queue.c.id == row.id, queue.c.state == "running")
                .values(
                    state=state,
                    error=error,
                    worker=None,
                    finished_at=None if retry else now_iso(),
                )
            )
            audit.append(
                conn,
                action="queue.retried" if retry else "queue.failed",
                entity="alert",
                entity_id=row.alert_id,
                actor=store.actor,
                details={"queue_id": row.id, "attempt": int(row.attempts), "error": error},
            )
            found["retried" if retry else "failed"].append(str(row.alert_id))
    return found


def entries(store: Store, *, alert_id: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(queue).order_by(queue.c.id)
    if alert_id is not None:
        query = query.where(queue.c.alert_id == alert_id)
    with store.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        found: dict[str, int] = {
            str(state): int(n)
            for state, n in conn.execute(
                sa.select(queue.c.state, sa.func.count()).group_by(queue.c.state)
            )
        }
    return {state: int(found.get(state, 0)) for state in STATES}


def progress(store: Store, *, last: timedelta = timedelta(minutes=15)) -> dict[str, Any]:
    """What the queue got done: notebooks harvested (and how many errored) in all, and over
    the `last` minutes the investigations the queue finished, their notebooks and the rate."""
    since = (datetime.now(UTC) - last).isoformat(timespec="seconds")
    errored = sa.func.sum(sa.case((runs.c.verdict == "errored", 1), else_=0))
    with store.engine.connect() as conn:
        done, failed = conn.execute(sa.select(sa.func.count(), errored)).one()
        finished = conn.execute(
            sa.select(sa.func.count()).where(
                queue.c.state.in_(("done", "failed")), queue.c.finished_at >= since
            )
        ).scalar_one()
        recent = conn.execute(
            sa.select(sa.func.count()).where(runs.c.created_at >= since)
        ).scalar_one()
    minutes = last.total_seconds() / 60
    return {
        "notebooks": int(done),
        "errored": int(failed or 0),
        f"last_{minutes:.0f}_min": {
            "investigations": int(finished),
            "notebooks": int(recent),
            "notebooks_per_min": round(int(recent) / minutes, 2),
        },
    }
