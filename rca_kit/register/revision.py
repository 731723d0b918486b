"""The register's schema revision, kept apart from Alembic and SQLAlchemy: a command that
only reads compares it with the database's `alembic_version` in one query (listing.py)."""

from __future__ import annotations

HEAD = "0005"  # the newest script in migrations/versions (a test checks)
BASELINE = "0001"  # what a database written by release 0.1.0 (no alembic_version) is
