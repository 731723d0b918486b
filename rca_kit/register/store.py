"""Register operations: every write is one transaction that also appends its audit event."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..exceptions import NotFoundError
from ..models import Alert, Outcome, ScoredTask
from ..scoring import rank_key
from . import audit
from .schema import alerts, dead_letters, investigations, make_engine, metadata, runs, tasks


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_id(prefix: str) -> str:
    """Generated ids only: time-ordered and random, never derived from alert content."""
    return f"{prefix}-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


class Register:
    """The register behind one database URL (SQLite file by default)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        metadata.create_all(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    # alerts -----------------------------------------------------------------------------------
    def store_alert(self, alert: Alert) -> tuple[str, bool]:
        """(alert id, created); a repeat of (fingerprint, startsAt, status) returns the first."""
        key = (alert.fingerprint, _iso(alert.starts_at), alert.status)
        with self.transaction() as conn:
            existing = conn.execute(
                sa.select(alerts.c.id).where(
                    alerts.c.fingerprint == key[0],
                    alerts.c.starts_at == key[1],
                    alerts.c.status == key[2],
                )
            ).scalar()
            if existing:
                return str(existing), False
            alert_id = new_id("al")
            conn.execute(
                alerts.insert().values(
                    id=alert_id,
                    fingerprint=alert.fingerprint,
                    name=alert.name,
                    status=alert.status,
                    service=alert.service,
                    severity=alert.severity,
                    starts_at=key[1],
                    ends_at=_iso(alert.ends_at),
                    labels=alert.labels,
                    annotations=alert.annotations,
                    source_format=alert.source_format,
                    raw=alert.raw,
                    received_at=now_iso(),
                )
            )
            audit.append(
                conn,
                action="alert.stored",
                entity="alert",
                entity_id=alert_id,
                details={
                    "fingerprint": alert.fingerprint,
                    "status": alert.status,
                    "format": alert.source_format,
                },
            )
            return alert_id, True

    def alert(self, alert_id: str) -> Alert:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no alert with id {alert_id!r}", hint="see `rca register list`")
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
        )

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

    # investigations ---------------------------------------------------------------------------
    def create_investigation(self, alert_id: str, folder_root: Path) -> tuple[str, Path]:
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
                )
            )
            audit.append(
                conn,
                action="investigation.started",
                entity="investigation",
                entity_id=investigation_id,
                details={"alert_id": alert_id},
            )
        return investigation_id, folder

    def update_investigation(self, investigation_id: str, *, action: str, **fields: Any) -> None:
        with self.transaction() as conn:
            conn.execute(
                investigations.update()
                .where(investigations.c.id == investigation_id)
                .values(**fields)
            )
            audit.append(
                conn,
                action=action,
                entity="investigation",
                entity_id=investigation_id,
                details=fields,
            )

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

    def runs(self, investigation_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            query = sa.select(runs).where(runs.c.investigation_id == investigation_id)
            return [dict(r) for r in conn.execute(query.order_by(runs.c.hypothesis_id)).mappings()]

    # outcomes and tasks -----------------------------------------------------------------------
    def record_outcomes(
        self, investigation_id: str, outcomes: Sequence[Outcome], versions: dict[str, int]
    ) -> dict[str, str]:
        """Store one run per outcome; return run id per hypothesis."""
        ids: dict[str, str] = {}
        with self.transaction() as conn:
            for outcome in outcomes:
                run_id = new_id("run")
                ids[outcome.hypothesis_id] = run_id
                conn.execute(
                    runs.insert().values(
                        id=run_id,
                        investigation_id=investigation_id,
                        hypothesis_id=outcome.hypothesis_id,
                        spec_version=versions.get(outcome.hypothesis_id, 0),
                        verdict=outcome.verdict,
                        confidence=outcome.confidence,
                        summary=outcome.summary,
                        criterion=outcome.criterion,
                        observed=outcome.observed,
                        missing_data=list(outcome.missing_data),
                        notebook=str(outcome.notebook) if outcome.notebook else None,
                        duration_s=outcome.duration_s,
                        error=outcome.error,
                        created_at=now_iso(),
                    )
                )
                audit.append(
                    conn,
                    action="run.recorded",
                    entity="run",
                    entity_id=run_id,
                    details={
                        "investigation_id": investigation_id,
                        "hypothesis_id": outcome.hypothesis_id,
                        "verdict": outcome.verdict,
                        "confidence": outcome.confidence,
                    },
                )
        return ids

    def create_tasks(
        self, investigation_id: str, scored: Sequence[ScoredTask], run_ids: dict[str, str]
    ) -> list[str]:
        created = []
        stamp = now_iso()
        with self.transaction() as conn:
            for task in scored:
                task_id = new_id("task")
                due = (datetime.now(UTC) + timedelta(days=task.due_in_days)).date().isoformat()
                conn.execute(
                    tasks.insert().values(
                        id=task_id,
                        investigation_id=investigation_id,
                        run_id=run_ids.get(task.hypothesis_id),
                        hypothesis_id=task.hypothesis_id,
                        title=task.title,
                        description=task.description,
                        owner=None,
                        status="open",
                        due_date=due,
                        impact=task.impact,
                        effort=task.effort,
                        risk=task.risk,
                        confidence=task.confidence,
                        score=task.score,
                        breakdown=task.breakdown,
                        explanation=task.explanation,
                        created_at=stamp,
                        updated_at=stamp,
                    )
                )
                audit.append(
                    conn,
                    action="task.created",
                    entity="task",
                    entity_id=task_id,
                    details={**asdict(task), "investigation_id": investigation_id},
                )
                created.append(task_id)
        return created

    def tasks(self, *, investigation_id: str | None = None) -> list[dict[str, Any]]:
        """Tasks in rank order (scoring.rank_key, then id), numbered from 1."""
        query = sa.select(tasks)
        if investigation_id:
            query = query.where(tasks.c.investigation_id == investigation_id)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        rows.sort(
            key=lambda r: (
                *rank_key(
                    r["score"], r["impact"], r["effort"], r["risk"], r["hypothesis_id"], r["title"]
                ),
                r["id"],
            )
        )
        for rank, row in enumerate(rows, start=1):
            row["rank"] = rank
        return rows

    def verify_audit(self) -> tuple[int, str]:
        with self.engine.connect() as conn:
            return audit.verify_chain(conn)
