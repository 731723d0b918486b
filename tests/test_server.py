"""`rca serve` as a real process on loopback: auth, limits, durability, the queue."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serveproc import ServeProcess

from rca_kit.register import Register
from rca_kit.register import queue as work

DEMO_ALERT = Path("examples/alerts/consumer-lag.json")


def _generic(name: str, service: str | None = "orders-consumer", minute: int = 0) -> str:
    body: dict[str, Any] = {"name": name, "starts_at": f"2026-11-20T09:{minute:02d}:00Z"}
    if service:
        body["service"] = service
    return json.dumps(body)


def _db(workspace_dir: Path) -> Path:
    return workspace_dir / "rca.db"


def _register(workspace_dir: Path) -> Register:
    return Register(f"sqlite:///{_db(workspace_dir)}")


def _configure(workspace_dir: Path, text: str) -> None:
    with (workspace_dir / "rca.toml").open("a") as handle:
        handle.write("\n" + text + "\n")


@pytest.fixture
def server(workspace_dir: Path) -> Iterator[ServeProcess]:
    with ServeProcess(workspace_dir) as proc:
        yield proc


def test_requests_need_the_token(server: ServeProcess) -> None:
    body = _generic("DiskFull")
    assert httpx.post(server.url + "/api/v1/alerts", content=body).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert httpx.post(server.url + "/api/v1/alerts", content=body, headers=wrong).status_code == 401
    assert httpx.get(server.url + "/api/v1/alerts").status_code == 401
    basic = httpx.post(server.url + "/api/v1/alerts", content=body, auth=("am", "test-token"))
    assert basic.status_code == 202
    assert server.post(body).status_code == 202  # bearer
    assert httpx.get(server.url + "/healthz").json()["status"] == "ok"  # probes need no token
    assert "test-token" not in server.output()


def test_serve_refuses_to_start_without_a_token(
    rca: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = rca("serve", "--port", "0")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "RCA_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_invalid_body_is_400_and_kept(server: ServeProcess, workspace_dir: Path) -> None:
    garbage = b'{"alerts": [{"status": "firing", "labels": {"alertname": "X"}}], "version": "4"}'
    reply = server.post(garbage)
    assert reply.status_code == 400
    assert "alerts[0].startsAt is required" in reply.json()["error"]
    assert server.post(b"\xff\xfe not json").status_code == 400
    forced = server.post(_generic("X"), path="/api/v1/alerts/alertmanager")
    assert forced.status_code == 400
    register = _register(workspace_dir)
    try:
        payloads = [letter["payload"] for letter in register.dead_letters()]
    finally:
        register.close()
    assert payloads == [garbage, b"\xff\xfe not json", _generic("X").encode()]


def test_a_body_over_the_limit_is_413(workspace_dir: Path) -> None:
    _configure(workspace_dir, "[serve]\nmax_body_kb = 1")
    with ServeProcess(workspace_dir) as server:
        big = json.dumps({"name": "Big", "starts_at": "2026-11-20T09:00:00Z", "x": "y" * 4000})
        reply = server.post(big)
        assert reply.status_code == 413
        assert "max_body_kb" in reply.json()["error"]
        assert server.post(_generic("Small")).status_code == 202


def test_repeats_and_ha_peers_start_one_investigation(
    server: ServeProcess, workspace_dir: Path
) -> None:
    body = (workspace_dir / DEMO_ALERT).read_text()
    replies: list[httpx.Response] = []

    def peer() -> None:
        replies.extend(server.post(body) for _ in range(3))

    peers = [threading.Thread(target=peer) for _ in range(2)]
    for thread in peers:
        thread.start()
    for thread in peers:
        thread.join()
    assert [r.status_code for r in replies] == [202] * 6
    created = [item["created"] for r in replies for item in r.json()["alerts"]]
    assert created.count(True) == 1
    register = _register(workspace_dir)
    try:
        entries = work.entries(register)
        alerts = register.alerts(limit=100)
    finally:
        register.close()
    assert len(alerts) == 1
    assert len(entries) == 1
    assert entries[0]["alert_id"] == alerts[0]["id"]


def test_an_alert_without_service_is_stored_not_queued(server: ServeProcess) -> None:
    reply = server.post(_generic("NoService", service=None))
    assert reply.status_code == 202
    (item,) = reply.json()["alerts"]
    assert "no service" in item["warning"]
    assert server.get("/api/v1/alerts/" + item["id"]).json()["queue"] == []


def test_a_locked_database_answers_503_and_a_retry_lands(workspace_dir: Path) -> None:
    _configure(workspace_dir, "[serve]\nbusy_timeout_s = 0.5")
    with ServeProcess(workspace_dir) as server:
        holder = sqlite3.connect(_db(workspace_dir), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock for a long time
        try:
            reply = server.post(_generic("Locked"))
            assert reply.status_code == 503
            assert reply.headers["Retry-After"] == "5"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert server.post(_generic("Locked")).status_code == 202  # Alertmanager's retry
        stored = server.get("/api/v1/alerts").json()["alerts"]
        assert [a["name"] for a in stored] == ["Locked"]


def test_api_reads_alerts_and_rejects_bad_queries(server: ServeProcess) -> None:
    first = server.post(_generic("A", minute=1)).json()["alerts"][0]["id"]
    server.post(_generic("B", minute=2))
    listed = server.get("/api/v1/alerts", params={"status": "firing"}).json()["alerts"]
    assert {a["name"] for a in listed} == {"A", "B"}
    assert server.get("/api/v1/alerts", params={"status": "maybe"}).status_code == 400
    assert server.get("/api/v1/alerts", params={"limit": "-1"}).status_code == 400
    shown = server.get(f"/api/v1/alerts/{first}").json()
    assert shown["name"] == "A"
    assert shown["queue"][0]["state"] == "pending"
    assert server.get("/api/v1/alerts/al-nope").status_code == 404
    assert server.get("/api/v1/investigations/inv-nope").status_code == 404


def _queue_of(server: ServeProcess, alert_id: str) -> dict[str, Any]:
    entries = server.get(f"/api/v1/alerts/{alert_id}").json()["queue"]
    return entries[0] if entries else {}


@pytest.mark.slow
def test_pending_work_survives_a_restart(workspace_dir: Path) -> None:
    body = (workspace_dir / DEMO_ALERT).read_text()
    with ServeProcess(workspace_dir, investigations=0) as receiver:
        alert_id = receiver.post(body).json()["alerts"][0]["id"]
        assert _queue_of(receiver, alert_id)["state"] == "pending"
    with ServeProcess(workspace_dir, investigations=1) as server:
        entry = server.wait_for(
            f"/api/v1/alerts/{alert_id}",
            lambda a: a["queue"] and a["queue"][0]["state"] in ("done", "failed"),
        )["queue"][0]
        assert entry["state"] == "done", entry
        assert entry["attempts"] == 1
        found = server.get(f"/api/v1/investigations/{entry['investigation_id']}").json()
        progress = server.get("/healthz").json()["progress"]
    assert progress["notebooks"] == len(found["hypotheses"]) == 9
    assert progress["last_15_min"]["investigations"] == 1
    assert progress["last_15_min"]["notebooks_per_min"] == pytest.approx(9 / 15)
    assert found["status"] == "done"
    assert found["leading_hypothesis"] == "backpressure"
    assert {h["id"]: h["verdict"] for h in found["hypotheses"]}["backpressure"] == "supported"
    assert found["tasks"]
    assert Path(found["report"]).is_file()


def _children_of(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.mark.slow
def test_an_investigation_killed_with_its_receiver_is_retried_once(workspace_dir: Path) -> None:
    body = (workspace_dir / DEMO_ALERT).read_text()
    server = ServeProcess(workspace_dir, investigations=1).start()
    try:
        alert_id = server.post(body).json()["alerts"][0]["id"]
        server.wait_for(
            f"/api/v1/alerts/{alert_id}",
            lambda a: a["investigations"] and a["queue"][0]["state"] == "running",
            timeout_s=60,
        )
        assert server.proc is not None
        children = _children_of(server.proc.pid)
        assert children, "the investigation runs in a child process"
        os.kill(server.proc.pid, signal.SIGKILL)  # the receiver crashes mid-investigation
        server.proc.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in children), "no orphan finishes the investigation"
    finally:
        server.kill()
    with ServeProcess(workspace_dir, investigations=1) as again:
        shown = again.wait_for(
            f"/api/v1/alerts/{alert_id}",
            lambda a: a["queue"][0]["state"] in ("done", "failed"),
        )
    entry = shown["queue"][0]
    assert entry["state"] == "done", entry
    assert entry["attempts"] == 2
    first, second = shown["investigations"]
    assert first["status"] == "abandoned"
    assert "stopped" in first["error"]
    assert second["status"] == "done"
    assert second["id"] == entry["investigation_id"]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_a_burst_loses_nothing_and_duplicates_nothing(server: ServeProcess) -> None:
    async def send(bodies: list[str], concurrency: int) -> list[int]:
        limit = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(headers=server.headers, timeout=60) as client:

            async def one(body: str) -> int:
                async with limit:
                    reply = await client.post(server.url + "/api/v1/alerts", content=body)
                    return reply.status_code

            return await asyncio.gather(*(one(b) for b in bodies))

    concurrent = [_generic(f"Concurrent{i}") for i in range(50)]
    burst = [_generic(f"Burst{i % 500}", minute=i // 500) for i in range(1000)]
    codes = asyncio.run(send(concurrent, 50)) + asyncio.run(send(burst + burst[:100], 100))
    assert set(codes) == {202}
    register = _register(server.workspace)
    try:
        stored = register.alerts(limit=10_000)
        entries = work.entries(register)
    finally:
        register.close()
    assert len({(a["name"], a["starts_at"]) for a in stored}) == len(stored) == 1050
    assert len(entries) == 1050  # one queue entry each; the 100 repeats added none
    counts = server.get("/healthz").json()["queue"]
    # each Burst alert fired twice a minute apart: one investigation, the other shares it
    assert (counts["pending"], counts["merged"]) == (550, 500)


FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alerts"


@pytest.mark.parametrize(
    "name", ["alertmanager", "alertmanager-api", "grafana", "pagerduty", "opsgenie", "generic"]
)
def test_every_format_is_received_and_a_resolved_notice_closes_its_alert(
    server: ServeProcess, name: str
) -> None:
    """Each real payload is stored and queued; the same alert resolved is closed, not new."""
    body = json.loads((FIXTURES / f"{name}.json").read_text())
    reply = server.post(json.dumps(body))
    assert reply.status_code == 202, reply.text
    firing = [a for a in reply.json()["alerts"] if a["status"] == "firing"]
    assert all(a["created"] for a in firing)
    assert all(a.get("queued") or "no service" in a["warning"] for a in firing)
    firing = [a for a in firing if a.get("queued")]
    assert firing
    resolved = _resolved(name, body)
    closing = server.post(json.dumps(resolved), path=f"/api/v1/alerts/{name}")
    assert closing.status_code == 202, closing.text
    first = firing[0]["id"]
    closed = [a for a in closing.json()["alerts"] if a["id"] == first]
    shown = server.get(f"/api/v1/alerts/{first}").json()
    assert len(shown["queue"]) == 1  # the second notice queued nothing new
    if name == "alertmanager-api":  # the API lists alerts; the same list again is a repeat
        assert closed == [{**firing[0], "created": False, "queued": False}]
        return
    assert closed == [{"id": first, "status": "resolved", "created": False, "resolved": True}]
    assert shown["status"] == "resolved"
    assert shown["resolved_at"]


def _resolved(name: str, body: Any) -> Any:
    """The resolved notice each sender would send for the fixture's first alert."""
    end = "2026-11-25T10:40:00Z"
    if name in ("alertmanager", "grafana"):
        body["status"] = "resolved"
        for alert in body["alerts"]:
            alert["status"], alert["endsAt"] = "resolved", end
    elif name == "alertmanager-api":
        return body
    elif name == "pagerduty":
        body["event"]["event_type"] = "incident.resolved"
        body["event"]["occurred_at"] = end
        body["event"]["data"]["status"] = "resolved"
    elif name == "opsgenie":
        body["action"] = "Close"
    else:
        body["ends_at"], body["status"] = end, "resolved"
    return body


def test_a_notification_that_is_no_alert_is_acknowledged_and_ignored(
    server: ServeProcess,
) -> None:
    body = json.loads((FIXTURES / "pagerduty.json").read_text())
    body["event"]["event_type"] = "incident.acknowledged"
    reply = server.post(json.dumps(body))
    assert reply.status_code == 202
    assert reply.json()["alerts"] == []
    assert "not an alert" in reply.json()["ignored"]


def test_a_chunked_body_over_the_limit_is_413_and_its_head_is_kept(workspace_dir: Path) -> None:
    _configure(workspace_dir, "[serve]\nmax_body_kb = 1")
    head = b'{"name": "Chunked", "starts_at": "2026-11-20T09:00:00Z", "x": "'

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is found while reading
        yield head
        yield from (b"y" * 512 for _ in range(8))

    with ServeProcess(workspace_dir) as server:
        reply = httpx.post(
            server.url + "/api/v1/alerts", content=chunks(), headers=server.headers, timeout=30
        )
        assert reply.status_code == 413
    register = _register(workspace_dir)
    try:
        [letter] = register.dead_letters()
    finally:
        register.close()
    assert letter["payload"].startswith(head)
    assert 1024 < len(letter["payload"]) <= 64 * 1024
    assert "max_body_kb" in letter["error"]


def test_any_parser_failure_is_400_and_kept(server: ServeProcess) -> None:
    """Numbers and nesting beyond what Python parses comfortably are input errors, not 500s."""
    huge_epoch = '{"action": "Create", "alert": {"alertId": "x", "message": "m", "createdAt": 1%s}}'
    bodies = [
        (huge_epoch % ("0" * 400)).encode(),
        b"[" * 5000 + b"]" * 5000,
        b'{"name": "\\ud800", "starts_at": "2026-11-20T09:00:00Z"}',
    ]
    for body in bodies:
        reply = server.post(body)
        assert reply.status_code == 400, (body[:60], reply.text)
        assert "\n" not in reply.json()["error"]
        assert reply.json()["dead_letter"]


def test_a_nul_in_a_label_is_stored_on_every_database(register: Register) -> None:
    """PostgreSQL refuses NUL in text: it must not become a 503 the sender retries forever."""
    from rca_kit import intake

    body = {"name": "Nul\u0000Name", "service": "svc\u0000x", "starts_at": "2026-11-20T09:00:00Z"}
    [alert] = intake.parse_alerts(json.dumps(body))
    receipt, queued = register.receive_and_queue(alert)
    assert receipt.created
    assert queued
    assert register.alert(receipt.id).name == "Nul\ufffdName"


@pytest.mark.slow
def test_a_second_receiver_takes_nothing_from_a_live_one(workspace_dir: Path) -> None:
    """Two `rca serve` on one register: the one starting later must not 'recover' the entry
    the other is running (its worker is alive), so the alert is investigated once."""
    body = (workspace_dir / DEMO_ALERT).read_text()
    with ServeProcess(workspace_dir, investigations=1) as first:
        alert_id = first.post(body).json()["alerts"][0]["id"]
        first.wait_for(
            f"/api/v1/alerts/{alert_id}",
            lambda a: a["queue"][0]["state"] == "running",
            timeout_s=60,
        )
        with ServeProcess(workspace_dir, investigations=1) as second:
            shown = second.wait_for(
                f"/api/v1/alerts/{alert_id}",
                lambda a: a["queue"][0]["state"] in ("done", "failed"),
            )
    entry = shown["queue"][0]
    assert entry["state"] == "done", entry
    assert entry["attempts"] == 1
    assert [i["status"] for i in shown["investigations"]] == ["done"]


def _runner_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "rca_kit.runner"], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def _investigations(workspace_dir: Path) -> list[Any]:
    register = _register(workspace_dir)
    try:
        return [i for a in register.alerts(limit=10) for i in register.investigations_of(a["id"])]
    finally:
        register.close()


@pytest.mark.slow
def test_sigterm_leaves_a_true_record_and_no_workers(workspace_dir: Path) -> None:
    """`rca investigate` stopped with SIGTERM (as `rca serve` stops one, or a supervisor):
    the investigation is failed with the reason, the exit code says so, no worker lingers."""
    before = _runner_pids()
    env = {k: v for k, v in os.environ.items() if k != "RCA_WORKSPACE"}
    child = subprocess.Popen(
        [str(Path(sys.executable).parent / "rca"), "investigate", str(DEMO_ALERT)],
        cwd=workspace_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (_runner_pids() - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _runner_pids() - before, "the notebook workers started"
    while not _investigations(workspace_dir) and time.monotonic() < deadline:
        time.sleep(0.2)  # the workers start first, while the alert is read
    assert _investigations(workspace_dir), "the investigation started"
    time.sleep(1)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signal.SIGTERM
    assert "Traceback" not in err
    deadline = time.monotonic() + 15
    while (_runner_pids() - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not (_runner_pids() - before), "no notebook worker outlives its investigation"
    register = _register(workspace_dir)
    try:
        [alert] = register.alerts(limit=10)
        [investigation] = register.investigations_of(alert["id"])
    finally:
        register.close()
    assert investigation["status"] == "failed"
    assert investigation["error"] == "terminated by SIGTERM"
