"""Durability of the register under killed and concurrent writers, on SQLite and PostgreSQL.

Writers are real processes (tests/durability_writer.py) that print one line per write *after*
the call returned: a printed line is an acknowledged write, which must survive anything that
happens to the writer next. The PostgreSQL server runs with fsync=off (tests/pgserver.py):
only client processes are killed here, never the server, so server fsync is not under test.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from rca_kit.register import Register

pytestmark = pytest.mark.slow

WRITER = Path(__file__).resolve().with_name("durability_writer.py")
SEED = 20261120
CYCLES = 50
KILL_AFTER = (0.05, 0.5)  # seconds after the first acknowledgement
PROCESSES = 8
ITERATIONS = 40
ROUNDS = 5  # optimistic-locking races
ENTITIES = {"alert": "alerts", "investigation": "investigations", "run": "runs", "task": "tasks"}


# writer processes ---------------------------------------------------------------------------
class Writer:
    """One durability_writer.py process and the complete lines it has printed so far."""

    def __init__(self, url: str, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), url, *args],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        self.fd = self.proc.stdout.fileno()
        self.lines: list[str] = []
        self._partial = b""
        self.eof = False

    def feed(self) -> None:
        """Read what is available (the caller saw the fd readable); keep complete lines only."""
        chunk = os.read(self.fd, 65536)
        if not chunk:
            self.eof = True
            return
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        self.lines.extend(line.decode() for line in complete)

    def wait_for(self, predicate: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            left = deadline - time.monotonic()
            if self.eof or left <= 0:
                self.fail(f"gave up waiting after {timeout} s")
            if select.select([self.fd], [], [], left)[0]:
                self.feed()

    def read_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not self.eof:
            if select.select([self.fd], [], [], left)[0]:
                self.feed()

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        """SIGKILL (if still running), then collect every complete line it printed before."""
        if self.proc.poll() is not None:
            self.fail("exited before it was killed")
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.drain()
        stderr = self.stderr()
        assert stderr == "", f"the killed writer reported an error before the kill:\n{stderr}"

    def drain(self) -> None:
        while not self.eof:
            self.feed()

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def fail(self, why: str) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        pytest.fail(
            f"writer {self.proc.pid} {why} (exit {self.proc.returncode}); "
            f"last lines {self.lines[-3:]}; stderr:\n{self.stderr()}"
        )


def has_ack(writer: Writer) -> bool:
    return any(line.startswith("ok ") for line in writer.lines)


def has_ready(writer: Writer) -> bool:
    return "ready" in writer.lines


def has_version(writer: Writer) -> bool:
    return any(line.startswith("version ") for line in writer.lines)


@dataclass
class Acks:
    """Everything the writers acknowledged, by kind."""

    ids: dict[str, set[str]] = field(default_factory=lambda: {kind: set() for kind in ENTITIES})
    owners: dict[str, str] = field(default_factory=dict)
    in_progress: set[str] = field(default_factory=set)
    writes: int = 0
    kinds: Counter[str] = field(default_factory=Counter)

    def add(self, lines: Iterable[str]) -> None:
        for line in lines:
            if not line.startswith("ok "):
                continue
            _, kind, entity_id, *rest = line.split()
            self.writes += 1
            self.kinds[kind] += 1
            if kind == "assign":
                self.owners[entity_id] = rest[0]
            elif kind == "status":
                assert rest == ["in_progress"], line
                self.in_progress.add(entity_id)
            else:
                self.ids[kind].add(entity_id)


# checks -------------------------------------------------------------------------------------
def check_integrity(url: str) -> None:
    """The database's own consistency check finds nothing."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        with sqlite3.connect(str(parsed.database)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        conn.close()
        return
    import psycopg

    with psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database
    ) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        indexes = conn.execute(
            "SELECT c.relname, bt_index_check(c.oid, true)::text FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_am am ON am.oid = c.relam"
            " WHERE n.nspname = 'public' AND am.amname = 'btree'"
        ).fetchall()
        assert len(indexes) >= len(ENTITIES)  # at least the primary keys were checked
        corrupt = conn.execute(
            "SELECT c.relname, v.* FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace,"
            " LATERAL verify_heapam(c.oid) v"
            " WHERE n.nspname = 'public' AND c.relkind = 'r'"
        ).fetchall()
        assert corrupt == []


def check_register(url: str, acks: Acks, *, unacknowledged: int) -> int:
    """Every acknowledged write is present, each row has its audit event, the chain verifies.

    `unacknowledged` bounds the writes committed but never acknowledged (one per kill at most:
    the write in flight). Returns the number of audit events.
    """
    register = Register(url)
    try:
        events, _head = register.verify_audit()
        with register.engine.connect() as conn:
            for entity, table in ENTITIES.items():
                rows = set(conn.execute(sa.text(f"SELECT id FROM {table}")).scalars())  # noqa: S608
                audited = set(
                    conn.execute(
                        sa.text("SELECT DISTINCT entity_id FROM audit_events WHERE entity = :e"),
                        {"e": entity},
                    ).scalars()
                )
                lost = acks.ids[entity] - rows
                assert not lost, f"{len(lost)} acknowledged {entity} writes lost: {sorted(lost)}"
                assert rows == audited, (
                    f"{entity}: rows without audit event {sorted(rows - audited)}, "
                    f"audit events without row {sorted(audited - rows)}"
                )
            tasks = {
                row.id: row
                for row in conn.execute(sa.text("SELECT id, owner, status FROM tasks")).all()
            }
    finally:
        register.close()
    for task_id, owner in acks.owners.items():
        assert tasks[task_id].owner == owner, f"acknowledged assignment of {task_id} lost"
    for task_id in acks.in_progress:
        assert tasks[task_id].status == "in_progress", f"acknowledged move of {task_id} lost"
    assert acks.writes <= events <= acks.writes + unacknowledged, (
        f"{events} audit events for {acks.writes} acknowledged writes"
    )
    check_integrity(url)
    return events


def report(record_property: Any, name: str, **figures: Any) -> None:
    for key, value in figures.items():
        record_property(key, value)
    print(f"\n{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


# tests --------------------------------------------------------------------------------------
def test_killed_writers_never_lose_acknowledged_writes(
    database_url: str, tmp_path: Path, record_property: Any
) -> None:
    """A writer killed with SIGKILL at a random moment loses no acknowledged write and leaves
    the audit chain and the database consistent, 50 times over on one growing database."""
    rng = random.Random(SEED)  # noqa: S311 -- reproducible kill times, not secrets
    acks = Acks()
    started = time.monotonic()
    events = 0
    for cycle in range(CYCLES):
        writer = Writer(database_url, "--prefix", f"c{cycle}", "--folder", "inv", cwd=tmp_path)
        try:
            writer.wait_for(has_ack, timeout=60)
            writer.read_for(rng.uniform(*KILL_AFTER))
            writer.kill()
        finally:
            writer.close()
        acks.add(writer.lines)
        events = check_register(database_url, acks, unacknowledged=cycle + 1)
    elapsed = time.monotonic() - started
    report(
        record_property,
        f"crash safety [{sa.engine.make_url(database_url).get_backend_name()}]",
        cycles=CYCLES,
        acknowledged_writes=acks.writes,
        audit_events=events,
        elapsed_s=round(elapsed, 1),
        by_kind=json.dumps(dict(acks.kinds), sort_keys=True),
    )
    assert acks.kinds["task"] >= CYCLES // 2  # the kills did land after real work, mostly


def test_concurrent_writers_all_succeed_and_nothing_is_lost(
    database_url: str, tmp_path: Path, record_property: Any
) -> None:
    """Eight processes writing at once to one fresh database all finish without an error, and
    every write they acknowledged is there exactly once, each with its audit event."""
    writers = [
        Writer(
            database_url,
            *("--prefix", f"p{n}", "--iterations", str(ITERATIONS), "--folder", "inv"),
            "--wait-go",
            cwd=tmp_path,
        )
        for n in range(PROCESSES)
    ]
    try:
        for writer in writers:
            writer.wait_for(has_ready, timeout=120)
        started = time.monotonic()
        for writer in writers:
            writer.send("go")
        running = {writer.fd: writer for writer in writers}
        deadline = started + 600
        while running:
            assert time.monotonic() < deadline, "writers still running after 600 s"
            for fd in select.select(list(running), [], [], 5)[0]:
                running[fd].feed()
                if running[fd].eof:
                    del running[fd]
        elapsed = time.monotonic() - started
        for writer in writers:
            writer.proc.wait(timeout=60)
            errors = writer.stderr()
            assert writer.proc.returncode == 0, errors
            assert errors == "", errors
    finally:
        for writer in writers:
            writer.close()
    acks = Acks()
    for writer in writers:
        acks.add(writer.lines)
    for entity in ENTITIES:
        assert len(acks.ids[entity]) == PROCESSES * ITERATIONS
    events = check_register(database_url, acks, unacknowledged=0)
    register = Register(database_url)
    try:
        with register.engine.connect() as conn:
            for entity, table in ENTITIES.items():
                count = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()  # noqa: S608
                assert count == len(acks.ids[entity]), entity
    finally:
        register.close()
    assert events == acks.writes
    report(
        record_property,
        f"concurrency [{sa.engine.make_url(database_url).get_backend_name()}]",
        processes=PROCESSES,
        iterations=ITERATIONS,
        writes=acks.writes,
        elapsed_s=round(elapsed, 2),
        writes_per_s=round(acks.writes / elapsed, 1),
    )


def test_two_processes_updating_one_version_one_wins_the_other_conflicts(
    database_url: str, tmp_path: Path
) -> None:
    """Of two processes that read the same task version and both assign the task expecting
    it, exactly one writes; the other gets a ConflictError naming the task and its version."""
    setup = Writer(database_url, "--prefix", "setup", "--iterations", "1", cwd=tmp_path)
    try:
        setup.wait_for(lambda w: w.eof, timeout=60)
        assert setup.proc.wait(timeout=60) == 0, setup.stderr()
    finally:
        setup.close()
    [task_id] = {line.split()[2] for line in setup.lines if line.startswith("ok task ")}
    for round_ in range(ROUNDS):
        racers = [
            Writer(database_url, "--conflict", task_id, "--prefix", f"o{round_}{n}", cwd=tmp_path)
            for n in range(2)
        ]
        try:
            for racer in racers:
                racer.wait_for(has_version, timeout=60)
            [read] = {racer.lines[-1] for racer in racers}  # both read the same version
            for racer in racers:
                racer.send("go")
            for racer in racers:
                racer.wait_for(lambda w: w.eof, timeout=60)
                errors = racer.stderr()
                assert racer.proc.wait(timeout=60) == 0, errors
                assert errors == "", errors
        finally:
            for racer in racers:
                racer.close()
        outcomes = sorted(racer.lines[-1] for racer in racers)
        assert outcomes[0].startswith("conflict "), outcomes
        assert outcomes[1].startswith("ok assign "), outcomes
        winner = outcomes[1].split()[3]
        conflict = json.loads(outcomes[0].removeprefix("conflict "))
        register = Register(database_url)
        try:
            task = register.task(task_id)
            register.verify_audit()
        finally:
            register.close()
        version = int(read.split()[1]) + 1
        assert task["version"] == version
        assert task["owner"] == winner
        assert conflict["task_id"] == task_id
        assert conflict["version"] == version
        assert task_id in conflict["message"]
        assert f"version {version}" in conflict["message"]
