"""Bring any register database to the current schema with Alembic, in place.

A new database gets the current tables and is stamped; one written by release 0.1.0 (no
`alembic_version` table) is stamped at the baseline and upgraded; concurrent processes opening
one database serialize on a lock, so exactly one of them migrates.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ..exceptions import RcaKitError
from .revision import BASELINE, HEAD
from .schema import metadata, writing

if TYPE_CHECKING:  # alembic is imported only when a migration is due
    from alembic.config import Config

_SCRIPTS = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x7263616B  # "rcak": the advisory lock that serializes migrations on PostgreSQL


def current_revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def alembic_config(conn: sa.Connection) -> Config:
    """Alembic's configuration for our scripts, run on the given connection."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = conn
    return config


def _known(config: Config, revision: str) -> None:
    """Nothing if our scripts know `revision`; else it is a newer rca-kit's: one-line error."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        ScriptDirectory.from_config(config).get_revision(revision)
    except CommandError:
        raise RcaKitError(
            f"the register database is at schema revision {revision!r}, which this rca-kit "
            f"does not know (its newest is {HEAD!r}): a newer rca-kit wrote it",
            hint="upgrade rca-kit, or point [workspace] database at another register",
        ) from None


def migrate(engine: sa.Engine) -> str | None:
    """Upgrade the database to HEAD; return the revision it had (None: it was empty)."""
    with engine.connect() as conn:
        if current_revision(conn) == HEAD:  # the common case: nothing to do, nothing to lock
            return HEAD
    from alembic import command

    with writing(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        found = current_revision(conn)
        config = alembic_config(conn)
        if found == HEAD:
            return found
        if found is None and not sa.inspect(conn).has_table("alerts"):
            metadata.create_all(conn)
            command.stamp(config, HEAD)
            return None
        if found is None:
            command.stamp(config, BASELINE)
        else:
            _known(config, found)
        command.upgrade(config, HEAD)
        return found or "0.1.0"
