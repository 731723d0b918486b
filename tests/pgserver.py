"""A throwaway PostgreSQL 15 server for the tests: one temp dir, one free port, trust auth.

Root cannot run PostgreSQL, so as root every server binary runs as the `postgres` user
(`runuser -u postgres --`); as any other user the binaries run directly. The server runs with
fsync=off for speed: the tests kill *client* processes, never the server, so a server without
fsync loses nothing they could observe (a committed transaction is in the server's memory and
WAL buffers the moment COMMIT returns).
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

PG_BIN = Path(os.environ.get("RCA_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
MISSING = "PostgreSQL 15 is not installed: apt-get install postgresql (bash .ci/run does it)"
USER = "rca"  # the superuser initdb creates; trust auth on 127.0.0.1 only


class PostgresUnavailable(RuntimeError):
    """The server cannot be started here; the message is one line that says how to fix it."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """Start with `start()`; `create_database()` hands out fresh databases; `stop()` removes all."""

    def __init__(self, bin_dir: Path = PG_BIN) -> None:
        self.bin_dir = bin_dir
        self.port = 0
        self.root: Path | None = None
        self._counter = itertools.count(1)
        self._as_postgres = os.geteuid() == 0

    # set-up ----------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "server not started"
        return self.root / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            log = self.root / "server.log" if self.root else None
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            msg = (
                f"{args[0]} failed (exit {result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}\n{tail}"
            )
            raise PostgresUnavailable(msg)
        return result

    def start(self) -> PostgresServer:
        if not (self.bin_dir / "pg_ctl").exists() or not (self.bin_dir / "initdb").exists():
            raise PostgresUnavailable(MISSING)
        if self._as_postgres:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(MISSING) from None
        # mkdtemp makes a 0700 dir: open it up so the postgres user can reach the data dir
        self.root = Path(tempfile.mkdtemp(prefix="rca-pg-"))
        self.root.chmod(0o755)
        if self._as_postgres:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        atexit.register(self.stop)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-A",
            "trust",
            "-U",
            USER,
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        for attempt in range(3):  # the free port can be taken between probe and bind
            self.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data_dir} -c fsync=off"
            )
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.root / "server.log"),
                    "-w",
                    "-o",
                    options,
                    "start",
                )
                break
            except PostgresUnavailable:
                if attempt == 2:
                    raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory; safe to call twice."""
        if self.root is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    # databases -------------------------------------------------------------------------------
    def url(self, dbname: str = "postgres") -> str:
        """The SQLAlchemy URL of one database on this server."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{dbname}"

    def _admin(self) -> Any:  # a psycopg connection (psycopg is imported only when used)
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=USER, dbname="postgres", autocommit=True
        )

    def create_database(self) -> str:
        """A fresh, empty, uniquely named database; returns its URL."""
        name = f"rca_{next(self._counter)}_{secrets.token_hex(3)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by create_database, closing any connection left to it."""
        name = url.rsplit("/", 1)[1]
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
