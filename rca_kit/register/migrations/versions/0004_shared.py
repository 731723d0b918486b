"""Identical alerts share an investigation: a queue entry `merged` names the alert whose
investigation it shares (`shared_with`), and alerts are found by name, service and start.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queue") as batch:
        batch.add_column(sa.Column("shared_with", sa.String(40)))
    op.create_index("ix_alerts_name_service_start", "alerts", ["name", "service", "starts_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_name_service_start", "alerts")
    with op.batch_alter_table("queue") as batch:
        batch.drop_column("shared_with")
