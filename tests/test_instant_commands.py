"""`rca --help`, `rca register list` and `rca alert list` stay instant: they import only what
they use (no pandas, papermill, jupyter, plotly…; the listings read a SQLite register without
SQLAlchemy), answer exactly as the register does, and keep their one-line errors.

The commands run as real processes; what they imported is read from `sys.modules` at exit.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import sqlalchemy as sa

import rca_kit.cli
from rca_kit.cli.base import COMMAND_MODULES, cli, load_commands
from rca_kit.config import find_workspace
from rca_kit.register import Register, schema
from rca_kit.register.listing import ALERT_COLUMNS, TASK_COLUMNS, TASK_JSON, read_quickly
from rca_kit.register.migrate import HEAD, alembic_config
from rca_kit.testing import one_line_error, record_investigation

FIXTURES = Path(__file__).resolve().parent / "fixtures"
HEAVY = (
    "pandas",
    "numpy",
    "papermill",
    "nbformat",
    "nbclient",
    "jupyter_client",
    "jupyter_core",
    "ipykernel",
    "plotly",
    "duckdb",
    "pyarrow",
    "starlette",
    "uvicorn",
    "dask",
)
# what each command must not import beyond HEAVY: --help reads no rca.toml and no database;
# the listings of a SQLite register at the current schema need neither SQLAlchemy nor Alembic
COMMANDS = {
    "--help": ("pydantic", "sqlalchemy", "alembic", "yaml"),
    "register list": ("sqlalchemy", "alembic"),
    "alert list": ("sqlalchemy", "alembic"),
}
# runs `rca ARGS…` as the console script does, then writes the top-level modules it loaded
WRAPPER = """
import json, os, sys
sys.argv = ["rca", *sys.argv[1:]]
try:
    from rca_kit.cli import main
    main()
finally:
    with open(os.environ["MODULES_OUT"], "w") as out:
        json.dump(sorted({name.split(".")[0] for name in sys.modules}), out)
"""


@pytest.fixture(autouse=True)
def _own_database(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("RCA_WORKSPACE", "RCA_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)


def open_register(root: Path) -> Register:
    ws = find_workspace(root)
    return Register(ws.database_url, ws.settings)


def seeded(root: Path) -> list[str]:
    """Two investigations of two alerts (one resolved), four tasks in several states."""
    reg = open_register(root)
    try:
        folder = root / "investigations"
        tasks = (("Scale out {service}", 5, 2, 2), ("Alert on lag of {service}", 3, 2, 1))
        _, _, first = record_investigation(reg, folder=folder, tasks=tasks, severity="critical")
        _, _, second = record_investigation(
            reg,
            folder=folder,
            service="orders-api",
            hypothesis_id="bad_deploy",
            tasks=tasks,
            status="resolved",
            ends_at="2026-11-20T12:55:00Z",
        )
        reg.assign(first[0], "alice", "data-platform")
        reg.set_status(second[1], "in_progress")
        reg.set_status(first[1], "wont_do", reason="covered by the new dashboard")
        return [*first, *second]
    finally:
        reg.close()


def run(
    root: Path, args: list[str], tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCA_")}
    env["MODULES_OUT"] = str(out)
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, set(json.loads(out.read_text()))


@pytest.mark.parametrize("command", COMMANDS)
def test_read_only_commands_import_only_what_they_use(
    workspace_dir: Path, tmp_path: Path, command: str
) -> None:
    tasks = seeded(workspace_dir)
    done, loaded = run(workspace_dir, command.split(), tmp_path)
    assert done.returncode == 0, done.stderr
    if command == "register list":
        assert [line.split()[2] for line in done.stdout.splitlines()] == [
            tasks[0],
            tasks[2],
            tasks[3],
            tasks[1],
        ]
    elif command == "alert list":
        assert len(done.stdout.splitlines()) == 2
    else:
        assert "register     The remediation register" in done.stdout
    assert loaded & {*HEAVY, *COMMANDS[command]} == set()


def agree(reg: Register, read: Any) -> None:
    """`read` gives the same text (keys and their order, values, JSON) both ways."""
    quick = read_quickly(reg.url, read)
    assert quick is not None
    assert json.dumps(quick, default=str) == json.dumps(read(reg), default=str)


def test_listings_read_exactly_what_the_register_reads(workspace_dir: Path) -> None:
    """The SQLite reader and `Register` give the same rows, ranks and fields for every filter."""
    tasks = seeded(workspace_dir)
    reg = open_register(workspace_dir)
    try:
        investigation = reg.task(tasks[2])["evidence"][0]["investigation_id"]
        for filters in (
            {},
            {"investigation_id": investigation},
            {"statuses": ("open", "in_progress")},
            {"owner": "alice"},
            {"team": "data-platform", "service": "orders-consumer"},
            {"overdue": True},
            {"statuses": ("wont_do",), "investigation_id": investigation},
        ):
            agree(reg, lambda r, f=filters: r.tasks(**f))
        for options in (
            {},
            {"status": "resolved"},
            {"status": "firing", "service": "orders-consumer"},
            {"service": "nobody"},
            {"limit": 1},
            {"limit": None},
        ):
            agree(reg, lambda r, o=options: r.alerts(**o))
        resolved = {row["service"]: row["time_to_resolve_s"] for row in reg.alerts()}
        assert resolved == {"orders-consumer": None, "orders-api": 3300.0}
    finally:
        reg.close()


def test_a_migrated_register_is_read_alike(tmp_path: Path) -> None:
    """A register written by release 0.1.0, once migrated, lists the same both ways."""
    shutil.copyfile(FIXTURES / "register" / "rca-0.1.0.db", tmp_path / "old.db")
    reg = Register(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        assert len(reg.tasks()) == 2
        agree(reg, lambda r: r.tasks())
        agree(reg, lambda r: r.alerts())
    finally:
        reg.close()


def test_only_a_current_sqlite_register_is_read_without_the_register(
    workspace_dir: Path, tmp_path: Path
) -> None:
    seeded(workspace_dir)
    url = find_workspace(workspace_dir).database_url
    everything: Any = lambda reader: reader.tasks()  # noqa: E731
    assert read_quickly(url, everything)
    assert read_quickly(url + "?timeout=5", everything) is None
    assert read_quickly("postgresql://rca@127.0.0.1:1/rca", everything) is None
    assert read_quickly(f"sqlite:///{tmp_path / 'none.db'}", everything) is None
    assert not (tmp_path / "none.db").exists()
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    assert read_quickly(f"sqlite:///{tmp_path / 'junk.db'}", everything) is None
    with sqlite3.connect(workspace_dir / "rca.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0004'")
    assert read_quickly(url, everything) is None


def test_a_register_written_by_a_newer_rca_kit_is_one_line(rca: Any, workspace_dir: Path) -> None:
    seeded(workspace_dir)
    with sqlite3.connect(workspace_dir / "rca.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    for command in (("register", "list"), ("alert", "list")):
        done = rca(*command)
        line = one_line_error(done, 1)
        assert "schema revision '9999'" in line
        assert "upgrade rca-kit" in line
        assert done.stdout == ""


def test_the_reader_is_in_step_with_the_schema_and_migrations(tmp_path: Path) -> None:
    """HEAD is the newest migration; the reader's columns and JSON columns are the tables'."""
    from alembic.script import ScriptDirectory

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    with engine.connect() as conn:
        assert ScriptDirectory.from_config(alembic_config(conn)).get_current_head() == HEAD
    engine.dispose()
    assert set(ALERT_COLUMNS) <= set(schema.alerts.c.keys())
    assert tuple(schema.tasks.c.keys()) == TASK_COLUMNS
    json_columns = tuple(c.name for c in schema.tasks.c if isinstance(c.type, sa.JSON))
    assert json_columns == TASK_JSON


def test_each_command_is_loaded_from_the_modules_named_for_it() -> None:
    """Running a command imports only its module(s) (COMMAND_MODULES), so they must be where
    it and all its subcommands are defined; help lists every command there is."""
    load_commands()
    listed = set(cli.commands)
    for module in pkgutil.iter_modules(rca_kit.cli.__path__):
        importlib.import_module(f"rca_kit.cli.{module.name}")
    assert listed == set(cli.commands), "a command of rca_kit.cli is not in COMMAND_MODULES"
    assert set(cli.commands) == set(COMMAND_MODULES)
    for name, command in cli.commands.items():
        modules = [f"rca_kit.cli.{module}" for module in COMMAND_MODULES[name]]
        assert command.callback is not None
        assert command.callback.__module__ == modules[0], name  # the first defines it
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                assert sub.callback is not None
                assert sub.callback.__module__ in modules, (name, sub.name)
