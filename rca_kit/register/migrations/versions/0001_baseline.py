"""The register as release 0.1.0 wrote it: alerts, dead letters, investigations, runs, tasks,
audit events.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ts = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "alerts",
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
        sa.UniqueConstraint("fingerprint", "starts_at", "status", name="uq_alert_occurrence"),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("received_at", _ts, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "investigations",
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
    )
    op.create_table(
        "runs",
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
    )
    op.create_table(
        "tasks",
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
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", _ts, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("entity", sa.Text, nullable=False),
        sa.Column("entity_id", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("rationale", sa.Text),
        sa.Column("authority", sa.Text),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
