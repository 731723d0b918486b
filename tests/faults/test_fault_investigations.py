"""Faults leave true records: investigations killed at random points are found abandoned by
the next command and can be resumed; a full or read-only disk never ends in `done`; a
receiver killed at random points loses no acknowledged alert."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from serveproc import ServeProcess

from rca_kit.register import Register

pytestmark = pytest.mark.slow
RCA = str(Path(sys.executable).parent / "rca")
ALERT = "examples/alerts/consumer-lag.json"
Rca = Callable[..., subprocess.CompletedProcess[str]]
CYCLES = 30


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("RCA_WORKSPACE", "RCA_DATABASE_URL")}


def _small_library(
    workspace: Path, keep: tuple[str, ...] = ("backpressure", "error-log-spike")
) -> None:
    """Two hypotheses instead of nine: each cycle is short, the faults are the same."""
    for spec in (workspace / "library").glob("*.yaml"):
        if spec.stem not in keep:
            spec.unlink()


def _register(workspace: Path) -> Register:
    return Register(f"sqlite:///{workspace / 'rca.db'}")


def _statuses(workspace: Path) -> dict[str, str]:
    register = _register(workspace)
    try:
        with register.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT id, status FROM investigations").all()
    finally:
        register.close()
    return {str(i): str(s) for i, s in rows}


def test_killed_investigations_are_found_abandoned_and_resume(
    workspace_dir: Path, rca: Rca
) -> None:
    """30 cycles of `rca investigate` killed (SIGKILL or SIGTERM) at a random moment; every
    later command sweeps: nothing stays `running`, and an abandoned one resumes to `done`."""
    _small_library(workspace_dir)
    rng = random.Random(20261126)  # noqa: S311 - kill times, not secrets
    span = _investigation_span(workspace_dir)  # kill moments fall within one, however fast
    killed = 0
    for cycle in range(CYCLES):
        cycle_folders = _folders(workspace_dir / "investigations")
        child = _investigate(workspace_dir)
        # a random moment of the investigation itself (its notebook workers start first,
        # while the alert is read); now and then one before it began
        if cycle % 5:
            _wait_for_folder(workspace_dir / "investigations", before=cycle_folders, child=child)
        time.sleep(rng.uniform(0.0, 0.9 * span))
        sig = signal.SIGKILL if cycle % 2 else signal.SIGTERM
        if child.poll() is None:
            child.send_signal(sig)
            killed += 1
        _, err = child.communicate(timeout=60)
        assert "Traceback" not in err, err
    assert killed >= CYCLES * 0.8  # most cycles were interrupted mid-way
    # any investigate command sweeps first (this one then fails: no such investigation)
    sweep = rca("investigate", "--resume", "inv-none")
    assert sweep.returncode == 2
    statuses = _statuses(workspace_dir)
    assert len(statuses) >= CYCLES / 2  # the others were killed before they began one
    assert "running" not in statuses.values(), statuses
    assert set(statuses.values()) <= {"abandoned", "failed", "done"}
    assert "abandoned" in statuses.values()  # the SIGKILLed ones
    abandoned = next(i for i, s in statuses.items() if s == "abandoned")
    resumed = rca("investigate", "--resume", abandoned, "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["investigation_id"] == abandoned
    assert result["status"] == "done"
    assert _statuses(workspace_dir)[abandoned] == "done"


def _investigate(workspace: Path) -> subprocess.Popen[str]:
    """`rca investigate` of the bundled alert, in the background (stderr kept)."""
    return subprocess.Popen(
        [RCA, "investigate", ALERT, "--json"],
        cwd=workspace,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _investigation_span(workspace: Path) -> float:
    """Seconds from an investigation's folder appearing to its command's exit, run whole."""
    before = _folders(workspace / "investigations")
    child = _investigate(workspace)
    _wait_for_folder(workspace / "investigations", before=before, child=child)
    began = time.monotonic()
    _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    return time.monotonic() - began


def _folders(path: Path) -> set[str]:
    return {p.name for p in path.iterdir()} if path.is_dir() else set()


def _wait_for_folder(path: Path, *, before: set[str], child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while _folders(path) == before and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        print(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}): skipped")
        pytest.skip("mounting a tmpfs needs CAP_SYS_ADMIN, which this machine does not give")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _investigations_on(workspace: Path, folder: Path) -> None:
    config = (workspace / "rca.toml").read_text()
    config = config.replace('investigations = "investigations"', f'investigations = "{folder}"')
    (workspace / "rca.toml").write_text(config)


@pytest.mark.parametrize(
    ("fault", "size"),
    [
        ("full during the snapshot", "64k"),
        ("full during the notebooks", "160k"),
        ("read-only", "1m"),
    ],
)
def test_a_disk_that_fails_never_ends_in_done(
    workspace_dir: Path, tmp_path: Path, rca: Rca, fault: str, size: str
) -> None:
    """Investigations written to a tiny tmpfs (full) or a read-only one: one line, exit 1,
    the investigation `failed` or `partial` (never `done`); resumed once there is room."""
    _small_library(workspace_dir)
    with _tmpfs(tmp_path / "disk", size) as disk:
        _investigations_on(workspace_dir, disk)
        if fault == "read-only":
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        done = rca("investigate", ALERT, "--json")
        assert done.returncode == 1, (done.stdout, done.stderr)
        [line] = done.stderr.strip().splitlines()[-1:]
        assert "Traceback" not in done.stderr
        assert line.startswith("rca: error: ")
        assert any(
            cause in line
            for cause in ("No space left on device", "Read-only file system", "is partial")
        ), line
        [status] = _statuses(workspace_dir).values()
        assert status in ("failed", "partial")
    if fault == "full during the snapshot":  # room again (the tmpfs is gone): resume it
        [investigation] = _statuses(workspace_dir)
        resumed = rca("investigate", "--resume", investigation, "--json")
        assert resumed.returncode == 0, resumed.stderr
        assert _statuses(workspace_dir)[investigation] == "done"


def test_a_receiver_killed_at_random_loses_no_acknowledged_alert(workspace_dir: Path) -> None:
    """30 cycles: alerts POSTed while `rca serve` is killed (SIGKILL or SIGTERM) at a random
    moment; every alert that got its 202 is in the register afterwards, exactly once."""
    rng = random.Random(7)  # noqa: S311 - kill times, not secrets
    acknowledged: list[str] = []
    for cycle in range(CYCLES):
        server = ServeProcess(workspace_dir).start()
        stop = threading.Event()

        def post(first: int, server: ServeProcess = server, stop: threading.Event = stop) -> None:
            number = first
            with httpx.Client(headers=server.headers, timeout=5) as client:
                while not stop.is_set():
                    body = {
                        "name": f"Kill{number}",
                        "service": "svc",
                        "starts_at": "2026-11-20T09:00:00Z",
                    }
                    number += 1
                    try:
                        reply = client.post(server.url + "/api/v1/alerts", json=body)
                    except httpx.HTTPError:
                        return
                    if reply.status_code == 202:
                        acknowledged.append(reply.json()["alerts"][0]["id"])

        sender = threading.Thread(target=post, args=(cycle * 100_000,))
        sender.start()
        time.sleep(rng.uniform(0.05, 0.6))
        assert server.proc is not None
        server.proc.send_signal(signal.SIGKILL if cycle % 2 else signal.SIGTERM)
        server.proc.wait(30)
        stop.set()
        sender.join(30)
    register = _register(workspace_dir)
    try:
        stored = {row["id"] for row in register.alerts(limit=None)}
    finally:
        register.close()
    assert len(acknowledged) > CYCLES  # alerts were in flight when the receivers died
    assert set(acknowledged) <= stored
    assert len(acknowledged) == len(set(acknowledged))
