"""Alembic migrations of the register schema (applied automatically when a register opens)."""
