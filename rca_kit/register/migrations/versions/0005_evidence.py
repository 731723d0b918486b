"""Evidence notebooks are vouched for: each run keeps the sha256 of its notebook as written
and its provenance (template, spec, library, versions, snapshot); an analyst's rerun with
edited parameters names the run it repeats (`rerun_of`); a verdict overridden by a person
keeps the override (verdict, rationale, who, when) beside the recorded one.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("notebook_sha256", sa.String(64)))
        batch.add_column(sa.Column("provenance", sa.JSON))
        batch.add_column(sa.Column("rerun_of", sa.String(40)))
        batch.add_column(sa.Column("override", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for name in ("override", "rerun_of", "provenance", "notebook_sha256"):
            batch.drop_column(name)
