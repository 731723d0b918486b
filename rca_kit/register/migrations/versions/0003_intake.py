"""Alerts from real monitoring: a resolved notice closes its firing alert (`resolved_at`),
alerts keep the http(s) links they carry, and `rca serve` keeps its investigation queue in
the database.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ts = sa.String(40)


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("resolved_at", _ts))
        batch.add_column(sa.Column("links", sa.JSON))
    op.create_table(
        "queue",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(40), sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("enqueued_at", _ts, nullable=False),
        sa.Column("started_at", _ts),
        sa.Column("finished_at", _ts),
        sa.Column("worker", sa.Text),
        sa.Column("investigation_id", sa.String(40)),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("alert_id", name="uq_queue_alert"),
    )
    op.create_index("ix_queue_state", "queue", ["state", "id"])


def downgrade() -> None:
    op.drop_index("ix_queue_state", "queue")
    op.drop_table("queue")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("links")
        batch.drop_column("resolved_at")
