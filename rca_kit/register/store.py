"""Register operations: every write is one transaction that also appends its audit event."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..config import RcaToml, parse_duration
from ..exceptions import NotFoundError
from ..models import Alert, Outcome
from . import audit, evidence, notices, queue, reruns, snapshots, tasks
from .ids import new_id, now_iso
from .migrate import migrate
from .schema import audit_events, dead_letters, investigations, make_engine, runs, writing


class Store:
    """The register's storage behind one database URL (SQLite by default), migrated on open.

    `settings` (a workspace's rca.toml) supplies scoring weights, due days and decision
    authorities; `actor` is who the audit log names for changes made through this object.
    """

    def __init__(
        self,
        url: str,
        settings: RcaToml | None = None,
        *,
        actor: str = "rca-kit",
        busy_timeout_s: float = 30,
    ) -> None:
        self.url = url
        self.settings = settings or RcaToml()
        self.actor = actor
        self.engine = make_engine(url, busy_timeout_s=busy_timeout_s)
        self.busy_timeout_s = busy_timeout_s
        self._writer = threading.RLock()
        try:
            migrate(self.engine)
        except BaseException:
            self.engine.dispose()
            raise

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """One serialized write transaction (SQLite BEGIN IMMEDIATE; PostgreSQL table lock).

        Threads of one process queue on a lock first: the database would serialize them
        anyway, and SQLite's busy handler (sleeps of up to 100 ms) would make them wait longer.
        """
        if not self._writer.acquire(timeout=self.busy_timeout_s):
            raise sa.exc.TimeoutError(
                f"no database write slot within {self.busy_timeout_s} s (other writers busy)"
            )
        try:
            with writing(self.engine) as conn:
                audit.lock(conn)
                yield conn
        finally:
            self._writer.release()

    @property
    def context(self) -> tasks.Context:
        return tasks.Context(
            weights=self.settings.scoring.model_dump(),
            due_days=self.settings.register_.due_in_days,
            team_label=self.settings.register_.team_label,
            actor=self.actor,
        )

    def close(self) -> None:
        self.engine.dispose()

    # alerts -----------------------------------------------------------------------------------
    def store_alert(self, alert: Alert) -> tuple[str, bool]:
        """(alert id, created): see `receive_alert`, which also says whether it resolved one."""
        receipt = self.receive_alert(alert)
        return receipt.id, receipt.created

    def receive_alert(self, alert: Alert) -> notices.Receipt:
        """Store an alert in one transaction: a repeat of its (fingerprint, startsAt) returns
        the stored one, and a resolved notice resolves a stored firing alert (notices.store)."""
        with self.transaction() as conn:
            return notices.store(conn, alert)

    def receive_and_queue(self, alert: Alert) -> tuple[notices.Receipt, bool]:
        """`receive_alert`, and in the same transaction queue an investigation of a firing
        alert that names a service (unless queued or investigated already, or it shares the
        investigation of the same alert nearby in time: `receipt.shared_with`, queue.py):
        (receipt, queued)."""
        return self.receive_batch([[alert]])[0][0]

    def receive_batch(
        self, groups: Sequence[Sequence[Alert]]
    ) -> list[list[tuple[notices.Receipt, bool]]]:
        """`receive_and_queue` for the alerts of several payloads in one transaction."""
        within = parse_duration(self.settings.evidence.before)
        with self.transaction() as conn:
            results = []
            for group in groups:
                stored = []
                for alert in group:
                    receipt = notices.store(conn, alert)
                    queued = False
                    if alert.status == "firing" and alert.service:
                        queued, shared = queue.enqueue(
                            conn, receipt.id, actor=self.actor, share_within=within
                        )
                        receipt = receipt._replace(shared_with=shared)
                    stored.append((receipt, queued))
                results.append(stored)
            return results

    def alert(self, alert_id: str) -> Alert:
        with self.engine.connect() as conn:
            return notices.get(conn, alert_id)

    def alerts(
        self, *, status: str | None = None, service: str | None = None, limit: int | None = 50
    ) -> list[dict[str, Any]]:
        """Stored alerts, most recently received first (see notices.listing)."""
        with self.engine.connect() as conn:
            return notices.listing(conn, status=status, service=service, limit=limit)

    def alert_row(self, alert_id: str) -> dict[str, Any]:
        """One alert with links, time to resolve and its investigations (notices.detail)."""
        with self.engine.connect() as conn:
            return notices.detail(conn, alert_id)

    def dead_letter(self, payload: bytes, *, source: str, error: str) -> int:
        """Keep a payload that failed to parse, with the reason."""
        with self.transaction() as conn:
            result = conn.execute(
                dead_letters.insert().values(
                    received_at=now_iso(),
                    source=source[:500],
                    error=error[:2000],
                    payload=payload,
                )
            )
            key = result.inserted_primary_key
            letter_id = int(key[0]) if key else 0
            audit.append(
                conn,
                action="alert.dead_lettered",
                entity="dead_letter",
                entity_id=str(letter_id),
                details={"source": source[:500], "error": error[:500]},
            )
            return letter_id

    def dead_letters(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(dead_letters)).mappings()]

    def dead_letter_rows(self) -> list[dict[str, Any]]:
        """Dead letters without their payloads: id, received_at, source, error, size."""
        with self.engine.connect() as conn:
            return notices.dead_letter_rows(conn)

    def dead_letter_payload(self, letter_id: int) -> bytes:
        """The raw bytes of one dead letter, as received."""
        with self.engine.connect() as conn:
            return notices.dead_letter_payload(conn, letter_id)

    # investigations ---------------------------------------------------------------------------
    def create_investigation(
        self,
        alert_id: str,
        folder_root: Path,
        *,
        kind: str = "incident",
        task_id: str | None = None,
    ) -> tuple[str, Path]:
        """A new investigation of an alert (kind "verification": of one task's fix)."""
        investigation_id = new_id("inv")
        folder = folder_root / investigation_id
        with self.transaction() as conn:
            conn.execute(
                investigations.insert().values(
                    id=investigation_id,
                    alert_id=alert_id,
                    status="running",
                    folder=str(folder),
                    created_at=now_iso(),
                    kind=kind,
                    task_id=task_id,
                )
            )
            audit.append(
                conn,
                action="investigation.started",
                entity="investigation",
                entity_id=investigation_id,
                seal=True,
                details={"alert_id": alert_id, "kind": kind, "task_id": task_id},
            )
        return investigation_id, folder

    def update_investigation(
        self,
        investigation_id: str,
        *,
        action: str,
        only_if: str | None = None,
        audit_details: dict[str, Any] | None = None,
        **fields: Any,
    ) -> bool:
        """Change an investigation (with `only_if`, only while its status is that); True if
        it changed. `audit_details` go into the audit event only (no column holds them)."""
        with self.transaction() as conn:
            query = investigations.update().where(investigations.c.id == investigation_id)
            if only_if is not None:
                query = query.where(investigations.c.status == only_if)
            if conn.execute(query.values(**fields)).rowcount != 1:
                return False
            audit.append(
                conn,
                action=action,
                entity="investigation",
                entity_id=investigation_id,
                seal=True,
                details={**fields, **(audit_details or {})},
            )
            return True

    def recorded_manifest(self, investigation_id: str) -> str | None:
        """The manifest sha256 of the snapshot this investigation last froze, as audited
        (None if it froze none, or froze it before manifests were sealed)."""
        query = (
            sa.select(audit_events.c.details)
            .where(
                audit_events.c.entity == "investigation",
                audit_events.c.entity_id == investigation_id,
                audit_events.c.action == "investigation.snapshot_frozen",
            )
            .order_by(audit_events.c.seq.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            details = conn.execute(query).scalar()
        value = json.loads(details).get("manifest_sha256") if details else None
        return str(value) if value else None

    def running_investigations(self) -> list[dict[str, Any]]:
        """Investigations marked running (some perhaps by a process that is gone)."""
        query = sa.select(
            investigations.c.id, investigations.c.folder, investigations.c.created_at
        ).where(investigations.c.status == "running")
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def investigation(self, investigation_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(investigations).where(investigations.c.id == investigation_id)
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFoundError(f"no investigation with id {investigation_id!r}")
        return dict(row)

    def investigations_of(self, alert_id: str) -> list[dict[str, Any]]:
        """The investigations of one alert, oldest first."""
        with self.engine.connect() as conn:
            return notices.investigations_of(conn, alert_id)

    def run(self, run_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        return dict(row)

    def runs(self, investigation_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            query = sa.select(runs).where(runs.c.investigation_id == investigation_id)
            return [dict(r) for r in conn.execute(query.order_by(runs.c.hypothesis_id)).mappings()]

    # outcomes and tasks -----------------------------------------------------------------------
    def record_outcomes(
        self,
        investigation_id: str,
        outcomes: Sequence[Outcome],
        versions: dict[str, int],
        parameters: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, str]:
        """Store one run per outcome (with its notebook's sha256 and provenance as harvested:
        sealed, and checked by `evidence_problems`); return run id per hypothesis."""
        ids: dict[str, str] = {}
        with self.transaction() as conn:
            for outcome in outcomes:
                run_id = reruns.insert_run(
                    conn,
                    outcome,
                    investigation_id=investigation_id,
                    spec_version=versions.get(outcome.hypothesis_id, 0),
                    parameters=(parameters or {}).get(outcome.hypothesis_id),
                    notebook_sha256=outcome.notebook_sha256,
                    provenance=outcome.provenance,
                )
                ids[outcome.hypothesis_id] = run_id
                audit.append(
                    conn,
                    action="run.recorded",
                    entity="run",
                    entity_id=run_id,
                    seal=True,
                    details={
                        "investigation_id": investigation_id,
                        "hypothesis_id": outcome.hypothesis_id,
                        "verdict": outcome.verdict,
                        "confidence": outcome.confidence,
                    },
                )
        return ids

    def integrity_problems(self) -> list[str]:
        """The database's own consistency check (SQLite integrity and foreign keys; PostgreSQL
        checks its pages itself and amcheck needs a superuser, so nothing is added there)."""
        if self.engine.dialect.name != "sqlite":
            return []
        with self.engine.connect() as conn:
            found = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
            keys = [str(tuple(r)) for r in conn.exec_driver_sql("PRAGMA foreign_key_check")]
        return [p for p in found if p != "ok"] + keys

    def verify_audit(self, anchor: tuple[int, str] | None = None) -> tuple[int, str]:
        """Check the hash chain (and that it still holds `anchor`), then every sealed row
        against its last audited state; return (events, head hash)."""
        with self.engine.connect() as conn:
            count, head = audit.verify_chain(conn, audit.audit_key())
            if anchor is not None:
                audit.check_anchor(conn, *anchor)
            audit.verify_rows(conn)
            return count, head

    def evidence_problems(self) -> list[str]:
        """Each evidence notebook missing or changed since its run recorded its sha256."""
        with self.engine.connect() as conn:
            return evidence.notebook_problems(conn)

    def snapshot_problems(self) -> list[str]:
        """Each frozen snapshot missing, or whose manifest or files changed since it was frozen."""
        with self.engine.connect() as conn:
            return snapshots.snapshot_problems(conn)

    def unauthenticated_events(self) -> int:
        """Keyed audit events that `verify_audit` checked only for linkage: RCA_AUDIT_KEY unset."""
        with self.engine.connect() as conn:
            return audit.unauthenticated(conn, audit.audit_key())
