"""Tables of the register (SQLAlchemy Core) and the engine set-up per dialect."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

metadata = sa.MetaData()
_WRITE = "rca_kit_write"  # a connection.info flag: this transaction will write
_ts = sa.String(40)  # ISO 8601 UTC text: portable, sortable

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("service", sa.Text),
    sa.Column("severity", sa.Text),
    sa.Column("starts_at", _ts, nullable=False),
    sa.Column("ends_at", _ts),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("annotations", sa.JSON, nullable=False),
    sa.Column("source_format", sa.String(32), nullable=False),
    sa.Column("raw", sa.JSON, nullable=False),
    sa.Column("received_at", _ts, nullable=False),
    sa.Column("resolved_at", _ts),  # when the resolved notice for this firing alert arrived
    sa.Column("links", sa.JSON),  # http(s) links the alert carries: {"runbook": url, ...}
    sa.UniqueConstraint("fingerprint", "starts_at", "status", name="uq_alert_occurrence"),
    # the same alert of a service nearby in time shares one investigation (queue.py)
    sa.Index("ix_alerts_name_service_start", "name", "service", "starts_at"),
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received_at", _ts, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
)

investigations = sa.Table(
    "investigations",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("alert_id", sa.String(40), sa.ForeignKey("alerts.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("folder", sa.Text, nullable=False),
    sa.Column("window_start", _ts),
    sa.Column("window_end", _ts),
    sa.Column("snapshot_sha256", sa.String(64)),
    sa.Column("leading_hypothesis", sa.Text),
    sa.Column("root_cause", sa.Text),
    sa.Column("suspects", sa.JSON),
    sa.Column("report", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("finished_at", _ts),
    # "incident", or "verification": a re-run of one task's hypothesis on a post-fix window
    sa.Column("kind", sa.String(16), nullable=False, server_default="incident"),
    sa.Column("task_id", sa.String(40)),
    sa.Column("verification", sa.JSON),  # a verification's result, check and window
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "investigation_id", sa.String(40), sa.ForeignKey("investigations.id"), nullable=False
    ),
    sa.Column("hypothesis_id", sa.Text, nullable=False),
    sa.Column("spec_version", sa.Integer, nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("criterion", sa.Text, nullable=False),
    sa.Column("observed", sa.JSON, nullable=False),
    sa.Column("missing_data", sa.JSON, nullable=False),
    sa.Column("notebook", sa.Text),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("parameters", sa.JSON),  # what the notebook was run with (verification re-uses)
    sa.Column("notebook_sha256", sa.String(64)),  # the evidence notebook as harvested
    sa.Column("provenance", sa.JSON),  # template, spec, library, versions, snapshot
    sa.Column("rerun_of", sa.String(40)),  # an analyst's rerun: the run it repeats
    sa.Column("override", sa.JSON),  # a person's verdict: verdict, rationale, by, at
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "investigation_id", sa.String(40), sa.ForeignKey("investigations.id"), nullable=False
    ),
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id")),
    sa.Column("hypothesis_id", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("owner", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("due_date", sa.String(10)),
    sa.Column("impact", sa.Integer, nullable=False),
    sa.Column("effort", sa.Integer, nullable=False),
    sa.Column("risk", sa.Integer, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("breakdown", sa.JSON, nullable=False),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("updated_at", _ts, nullable=False),
    # identity of a remediation: the spec's task title (before {service}), hypothesis, service
    sa.Column("spec_task", sa.Text, nullable=False, server_default=""),
    sa.Column("service", sa.Text, nullable=False, server_default=""),
    sa.Column("team", sa.Text),
    sa.Column("severity", sa.Text),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),  # optimistic lock
    sa.Column("computed_score", sa.Float, nullable=False, server_default="0"),
    sa.Column("override", sa.JSON),  # a decision authority's factors or score, with rationale
    sa.Column("occurrences", sa.Integer, nullable=False, server_default="1"),  # distinct alerts
    sa.Column("status_reason", sa.Text),
    sa.Column("external", sa.JSON),  # tracker → key of the ticket: {"jira": "OPS-7"}
    sa.Column("done_at", _ts),
    sa.Column("verify_after", _ts),  # when the post-fix window is long enough to verify
    sa.Column("verified_at", _ts),
    sa.Index("ix_tasks_identity", "hypothesis_id", "spec_task", "service"),
)

task_evidence = sa.Table(
    "task_evidence",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.String(40), sa.ForeignKey("tasks.id"), nullable=False),
    sa.Column(
        "investigation_id", sa.String(40), sa.ForeignKey("investigations.id"), nullable=False
    ),
    sa.Column("run_id", sa.String(40)),
    sa.Column("alert_id", sa.String(40)),
    # origin | rerun | recurrence | verification
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("verdict", sa.String(16)),
    sa.Column("confidence", sa.Float),
    sa.Column("created_at", _ts, nullable=False),
    sa.Index("ix_task_evidence_task", "task_id"),
)

register_reviews = sa.Table(
    "register_reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", _ts, nullable=False),
    sa.Column("authority", sa.Text, nullable=False),
    sa.Column("notes", sa.Text),
    sa.Column("audit_seq", sa.Integer, nullable=False),  # the agenda starts after this event
)

incident_reviews = sa.Table(
    "incident_reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "investigation_id", sa.String(40), sa.ForeignKey("investigations.id"), nullable=False
    ),
    sa.Column("root_cause", sa.Text, nullable=False),
    sa.Column("notes", sa.Text),
    sa.Column("worked", sa.Text),
    sa.Column("did_not_work", sa.Text),
    sa.Column("false_positives", sa.JSON, nullable=False),  # supported, but not the cause
    sa.Column("data_gaps", sa.JSON, nullable=False),  # inconclusive for want of data
    sa.Column("reviewer", sa.Text),
    sa.Column("created_at", _ts, nullable=False),
)

# Investigations waiting for, or taken by, a worker of `rca serve` (state in the database, so a
# restart resumes pending work; one entry per alert occurrence, so repeats start nothing; an
# entry `merged` shares the investigation of the alert `shared_with`).
queue = sa.Table(
    "queue",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.String(40), sa.ForeignKey("alerts.id"), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending|running|done|failed|merged
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("enqueued_at", _ts, nullable=False),
    sa.Column("started_at", _ts),
    sa.Column("finished_at", _ts),
    sa.Column("worker", sa.Text),
    sa.Column("investigation_id", sa.String(40)),
    sa.Column("error", sa.Text),
    sa.Column("shared_with", sa.String(40)),  # the alert whose investigation a merged one shares
    sa.UniqueConstraint("alert_id", name="uq_queue_alert"),
    sa.Index("ix_queue_state", "state", "id"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", _ts, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("entity", sa.Text, nullable=False),
    sa.Column("entity_id", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),  # canonical JSON, hashed as written
    sa.Column("rationale", sa.Text),
    sa.Column("authority", sa.Text),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)


def transient(exc: BaseException) -> bool:
    """A fault worth retrying: the database busy, unreachable or out of disk (not a value
    it refuses, which fails again however often it is sent)."""
    if isinstance(exc, OSError | sa.exc.OperationalError | sa.exc.InterfaceError):
        return True
    if isinstance(exc, sa.exc.TimeoutError):  # no connection or write slot in time
        return True
    return isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated


def make_engine(url: str, *, busy_timeout_s: float = 30) -> sa.Engine:
    """An engine whose write transactions serialize (SQLite: WAL + BEGIN IMMEDIATE).

    `busy_timeout_s` bounds how long a statement waits for a lock (or, on PostgreSQL, for a
    connection) before it fails: long for the command line, short for the receiver, whose
    sender would rather retry than wait.
    """
    if not url.startswith("sqlite"):
        return sa.create_engine(
            url,
            pool_pre_ping=True,
            pool_timeout=busy_timeout_s,
            connect_args={
                "connect_timeout": max(1, int(busy_timeout_s)),
                # a writer waiting behind another (LOCK TABLE) gives up like SQLite's busy one
                "options": f"-c lock_timeout={int(busy_timeout_s * 1000)}",
            },
        )
    engine = sa.create_engine(
        url, connect_args={"timeout": busy_timeout_s}, pool_timeout=busy_timeout_s
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"busy_timeout={int(busy_timeout_s * 1000)}",
            "foreign_keys=ON",
            "synchronous=FULL",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        # writers take the write lock up front (a deferred transaction that upgrades to a
        # write fails at once with SQLITE_BUSY); readers stay deferred and, in WAL mode,
        # never block a writer or each other
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.info.get(_WRITE) else "BEGIN")

    return engine


@contextmanager
def writing(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One write transaction: on SQLite it holds the write lock from its first statement."""
    with engine.connect() as conn:
        conn.info[_WRITE] = True
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info.pop(_WRITE, None)
