"""The register becomes a working backlog: task identity, owners and teams, optimistic
locking, overrides, recurrence, ticket links, verification; task evidence, register reviews
and incident reviews.

Existing tasks keep every value and get their origin evidence; every alert, investigation,
run and task gets a sealing audit event (`<entity>.migrated`) carrying the hash of its row, so
`rca audit verify` vouches for the tables from then on.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ts = sa.String(40)


def _columns() -> None:
    with op.batch_alter_table("investigations") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="incident")
        )
        batch.add_column(sa.Column("task_id", sa.String(40)))
        batch.add_column(sa.Column("verification", sa.JSON))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("parameters", sa.JSON))
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("spec_task", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("service", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("team", sa.Text))
        batch.add_column(sa.Column("severity", sa.Text))
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("computed_score", sa.Float, nullable=False, server_default="0"))
        batch.add_column(sa.Column("override", sa.JSON))
        batch.add_column(sa.Column("occurrences", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("status_reason", sa.Text))
        batch.add_column(sa.Column("external", sa.JSON))
        batch.add_column(sa.Column("done_at", _ts))
        batch.add_column(sa.Column("verify_after", _ts))
        batch.add_column(sa.Column("verified_at", _ts))
        batch.create_index("ix_tasks_identity", ["hypothesis_id", "spec_task", "service"])


def _tables() -> None:
    op.create_table(
        "task_evidence",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(40), sa.ForeignKey("tasks.id"), nullable=False),
        sa.Column(
            "investigation_id", sa.String(40), sa.ForeignKey("investigations.id"), nullable=False
        ),
        sa.Column("run_id", sa.String(40)),
        sa.Column("alert_id", sa.String(40)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(16)),
        sa.Column("confidence", sa.Float),
        sa.Column("created_at", _ts, nullable=False),
    )
    op.create_index("ix_task_evidence_task", "task_evidence", ["task_id"])
    op.create_table(
        "register_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", _ts, nullable=False),
        sa.Column("authority", sa.Text, nullable=False),
        sa.Column("notes", sa.Text),
        sa.Column("audit_seq", sa.Integer, nullable=False),
    )
    op.create_table(
        "incident_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "investigation_id", sa.String(40), sa.ForeignKey("investigations.id"), nullable=False
        ),
        sa.Column("root_cause", sa.Text, nullable=False),
        sa.Column("notes", sa.Text),
        sa.Column("worked", sa.Text),
        sa.Column("did_not_work", sa.Text),
        sa.Column("false_positives", sa.JSON, nullable=False),
        sa.Column("data_gaps", sa.JSON, nullable=False),
        sa.Column("reviewer", sa.Text),
        sa.Column("created_at", _ts, nullable=False),
    )


def _json(value: Any) -> dict[str, Any]:
    loaded = json.loads(value) if isinstance(value, str) else value
    return loaded if isinstance(loaded, dict) else {}


def _backfill() -> None:
    from rca_kit.register import audit

    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT t.id, t.title, t.score, t.investigation_id, t.run_id, t.confidence, "
            "t.created_at, i.alert_id, a.service, a.severity, a.labels, r.verdict "
            "FROM tasks t JOIN investigations i ON i.id = t.investigation_id "
            "JOIN alerts a ON a.id = i.alert_id LEFT JOIN runs r ON r.id = t.run_id "
            "ORDER BY t.created_at, t.id"
        )
    ).mappings()
    for row in list(rows):
        team = _json(row["labels"]).get("team")
        bind.execute(
            sa.text(
                "UPDATE tasks SET spec_task = :title, service = :service, severity = :severity, "
                "team = :team, computed_score = score WHERE id = :id"
            ),
            {
                "title": row["title"],
                "service": row["service"] or "",
                "severity": row["severity"],
                "team": team if isinstance(team, str) else None,
                "id": row["id"],
            },
        )
        bind.execute(
            sa.text(
                "INSERT INTO task_evidence (task_id, investigation_id, run_id, alert_id, kind, "
                "verdict, confidence, created_at) VALUES (:task, :inv, :run, :alert, 'origin', "
                ":verdict, :confidence, :at)"
            ),
            {
                "task": row["id"],
                "inv": row["investigation_id"],
                "run": row["run_id"],
                "alert": row["alert_id"],
                "verdict": row["verdict"],
                "confidence": row["confidence"],
                "at": row["created_at"],
            },
        )
    # 0.1.0 recorded no row hashes: vouch for every row as it stands after the upgrade
    for entity, table in (
        ("alert", "alerts"),
        ("investigation", "investigations"),
        ("run", "runs"),
        ("task", "tasks"),
    ):
        ids = bind.execute(sa.text(f"SELECT id FROM {table} ORDER BY id")).scalars()  # noqa: S608 - fixed table names
        for entity_id in list(ids):
            # the row as this revision has it: columns added by later revisions do not exist yet
            digest = audit.row_seal(bind, entity, entity_id, later=False)
            audit.append(
                bind,
                action=f"{entity}.migrated",
                entity=entity,
                entity_id=entity_id,
                details={"schema": revision, "row_sha256": digest},
            )


def upgrade() -> None:
    _columns()
    _tables()
    _backfill()
