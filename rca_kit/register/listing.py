"""The register's two listings (ranked tasks, recent alerts) over plain rows, and a reader that
serves them straight from a SQLite file without SQLAlchemy.

`rca register list` and `rca alert list` should answer at once, and importing SQLAlchemy alone
takes longer than that; so on a SQLite register already at the current schema they read it
with the standard library (SELECTs only: nothing is migrated or written). Anything else (a
PostgreSQL URL, a SQLite URL with options, a missing, older or newer database, any SQLite
error) goes through `Register`, which migrates, refuses or reports it as always. Both ways
rank, filter and annotate rows with the functions below, so they print the same.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from ..exceptions import InputError
from ..lifecycle import ACTIVE, STATUSES
from ..scoring import rank_key
from .revision import HEAD

T = TypeVar("T")

# the columns `rca alert list` shows (notices.listing), the columns of `tasks` and those of
# them that hold JSON (schema.py; a test checks they stay in step)
ALERT_COLUMNS = (
    "id",
    "name",
    "status",
    "service",
    "severity",
    "starts_at",
    "ends_at",
    "received_at",
    "resolved_at",
    "source_format",
    "fingerprint",
)
TASK_COLUMNS = (  # in the table's order, as `Register` returns them
    "id",
    "investigation_id",
    "run_id",
    "hypothesis_id",
    "title",
    "description",
    "owner",
    "status",
    "due_date",
    "impact",
    "effort",
    "risk",
    "confidence",
    "score",
    "breakdown",
    "explanation",
    "created_at",
    "updated_at",
    "spec_task",
    "service",
    "team",
    "severity",
    "version",
    "computed_score",
    "override",
    "occurrences",
    "status_reason",
    "external",
    "done_at",
    "verify_after",
    "verified_at",
)
TASK_JSON = ("breakdown", "override", "external")
_PREFIX = "sqlite:///"
_ALERTS = (  # each alert with how many investigations it has
    f"SELECT {', '.join(ALERT_COLUMNS)}, (SELECT count(*) FROM investigations"  # noqa: S608
    " WHERE investigations.alert_id = alerts.id) AS investigations FROM alerts"
)


def check_statuses(statuses: Iterable[str]) -> tuple[str, ...]:
    wanted = tuple(statuses)
    for status in wanted:
        if status not in STATUSES:
            raise InputError(f"unknown status {status!r} (one of: {', '.join(STATUSES)})")
    return wanted


def _sort_key(row: dict[str, Any]) -> tuple[Any, ...]:
    closed = row["status"] not in ACTIVE
    key = rank_key(
        row["score"], row["impact"], row["effort"], row["risk"], row["hypothesis_id"], row["title"]
    )
    return (closed, *key, row["id"])


def ranked_rows(
    rows: Iterable[dict[str, Any]],
    *,
    owner: str | None = None,
    team: str | None = None,
    statuses: Iterable[str] = (),
    service: str | None = None,
    overdue: bool = False,
    today: str | None = None,
) -> list[dict[str, Any]]:
    """Task rows in rank order (open work first, then by scoring.rank_key), numbered from 1
    among all the rows given; the filters only choose which ranked rows to return."""
    wanted = check_statuses(statuses)
    ordered = sorted(rows, key=_sort_key)
    day = today or datetime.now(UTC).date().isoformat()
    for rank, row in enumerate(ordered, start=1):
        row["rank"] = rank
        row["overdue"] = bool(row["status"] in ACTIVE and row["due_date"] and row["due_date"] < day)
    return [
        row
        for row in ordered
        if (owner is None or row["owner"] == owner)
        and (team is None or row["team"] == team)
        and (not wanted or row["status"] in wanted)
        and (service is None or row["service"] == service)
        and (not overdue or row["overdue"])
    ]


def with_time_to_resolve(row: dict[str, Any]) -> dict[str, Any]:
    row["time_to_resolve_s"] = None
    if row["status"] == "resolved":
        from ..learning import duration_s

        row["time_to_resolve_s"] = duration_s(row["starts_at"], row["ends_at"])
    return row


class SqliteReader:
    """The listings of `Register` (same signatures, same rows) from one read-only connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.row_factory = sqlite3.Row

    def tasks(self, *, investigation_id: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        check_statuses(filters.get("statuses", ()))
        query = f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks"  # noqa: S608 (fixed names)
        args: tuple[str, ...] = ()
        if investigation_id:
            query += " WHERE id IN (SELECT task_id FROM task_evidence WHERE investigation_id = ?)"
            args = (investigation_id,)
        rows = []
        for found in self.conn.execute(query, args):
            row = dict(found)
            for name in TASK_JSON:
                if row[name] is not None:
                    row[name] = json.loads(row[name])
            rows.append(row)
        return ranked_rows(rows, **filters)

    def alerts(
        self, *, status: str | None = None, service: str | None = None, limit: int | None = 50
    ) -> list[dict[str, Any]]:
        query = _ALERTS
        where = [
            (name, value) for name, value in (("status", status), ("service", service)) if value
        ]
        if where:
            query += " WHERE " + " AND ".join(f"{name} = ?" for name, _ in where)
        query += " ORDER BY received_at DESC, id DESC"
        args: list[Any] = [value for _, value in where]
        if limit:
            query += " LIMIT ?"
            args.append(limit)
        return [with_time_to_resolve(dict(row)) for row in self.conn.execute(query, args)]


def _sqlite_file(url: str) -> Path | None:
    """The file of a plain `sqlite:///PATH` URL (no driver, no options), if it exists."""
    if not url.startswith(_PREFIX) or any(c in url for c in "?%#"):
        return None
    path = Path(url[len(_PREFIX) :])
    return path if path.is_absolute() and path.is_file() else None


def read_quickly(url: str, read: Callable[[SqliteReader], T], *, timeout_s: float = 30) -> T | None:
    """`read(reader)` on the SQLite register at `url` if it is at the current schema; None
    when it is not such a register or SQLite fails (then `Register` answers, or reports why)."""
    path = _sqlite_file(url)
    if path is None:
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=timeout_s)
    except sqlite3.Error:
        return None
    try:
        if conn.execute("SELECT version_num FROM alembic_version").fetchall() != [(HEAD,)]:
            return None
        return read(SqliteReader(conn))
    except sqlite3.Error:
        return None
    finally:
        conn.close()
