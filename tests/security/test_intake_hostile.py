"""Hostile alert intake: claimed identities, amplification, times out of this world.

An authenticated sender may still be wrong or compromised. What it sends must not take over
another alert's identity (rca-kit computes identities from content, never from a payload's
`fingerprint`), must not start one investigation per copy of an alert (a payload is bounded
by `[alerts] max_per_payload`, and the same alert of a service within the evidence window
shares one investigation), and must not reach the evidence window with a time that
overflows or spans centuries (times are bounded, each refusal naming its field).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serveproc import ServeProcess

from rca_kit.config import Workspace
from rca_kit.evidence.window import evidence_window, window_capped
from rca_kit.exceptions import AlertFormatError, InputError
from rca_kit.intake import parse_alerts
from rca_kit.intake.identity import alert_identity, alertmanager_fingerprint, source_identity
from rca_kit.register import Register
from rca_kit.register import queue as work
from rca_kit.testing import one_line_error

Rca = Callable[..., subprocess.CompletedProcess[str]]
START = "2026-11-20T09:00:00Z"
SERVICE = {"alertname": "ConsumerLagHigh", "service": "orders-consumer"}


def am_alert(labels: dict[str, str], starts: str = START, **fields: Any) -> dict[str, Any]:
    alert = {"status": "firing", "labels": labels, "startsAt": starts}
    alert["endsAt"] = "0001-01-01T00:00:00Z"
    return {**alert, **fields}


def webhook(*alerts: dict[str, Any]) -> str:
    status = "resolved" if all(a["status"] == "resolved" for a in alerts) else "firing"
    return json.dumps({"version": "4", "status": status, "alerts": list(alerts)})


def items(reply: httpx.Response, status: int = 202) -> list[dict[str, Any]]:
    assert reply.status_code == status, reply.text
    found: list[dict[str, Any]] = reply.json()["alerts"]
    return found


@pytest.fixture
def server(workspace_dir: Path) -> Iterator[ServeProcess]:
    with ServeProcess(workspace_dir) as proc:
        yield proc


# 1. identity ----------------------------------------------------------------------------------


def test_a_claimed_fingerprint_never_takes_over_an_alert(server: ServeProcess) -> None:
    """A forged alert carrying the genuine one's fingerprint is an alert of its own: the
    genuine alert keeps its row and labels, and a forged resolution does not close it."""
    genuine = {**SERVICE, "instance": "kafka-0"}
    claimed = alertmanager_fingerprint(genuine)
    forged = am_alert({**SERVICE, "instance": "attacker"}, fingerprint=claimed)
    [first] = items(server.post(webhook(forged)))
    assert first["created"]
    assert "is not the one Alertmanager computes" in first["warnings"][0]
    [real] = items(server.post(webhook(am_alert(genuine, fingerprint=claimed))))
    assert real["created"]
    assert real["id"] != first["id"]
    assert "warnings" not in real  # Alertmanager's own fingerprint of these labels
    close = am_alert({**SERVICE, "instance": "other"}, fingerprint=claimed, status="resolved")
    close["endsAt"] = "2026-11-20T09:30:00Z"
    [closing] = items(server.post(webhook(close)))
    assert closing["id"] not in (first["id"], real["id"])
    shown = server.get(f"/api/v1/alerts/{real['id']}").json()
    assert (shown["status"], shown["labels"]) == ("firing", genuine)


def test_alertmanager_fingerprint_is_alertmanagers() -> None:
    """FNV-1a 64 over sorted names and values, 0xff after each (prometheus/common's vectors)."""
    assert alertmanager_fingerprint({}) == f"{14695981039346656037:016x}"
    vector = {"name": "garland, briggs", "fear": "love is not enough"}
    assert alertmanager_fingerprint(vector) == f"{5799056148416392346:016x}"


@pytest.mark.slow
def test_alertmanager_fingerprint_matches_a_real_alertmanager(tmp_path: Path) -> None:
    """The fingerprints a real Alertmanager gives label sets (Unicode, empty values, many
    labels) are ours, so its genuine alerts carry no warning."""
    from monitoring import WebhookSink, start_alertmanager

    sets = [
        {"alertname": "A", "service": "orders"},
        {"alertname": "Ünïcødé ✓", "service": "s", "zeta": "", "a": "x=y,z"},
        {"alertname": "Many", **{f"l{i:02d}": str(i) * i for i in range(30)}},
    ]
    with WebhookSink() as sink, start_alertmanager(tmp_path, sink.url) as alertmanager:
        posted = [{"labels": labels, "startsAt": START} for labels in sets]
        httpx.post(alertmanager.url + "/api/v2/alerts", json=posted, timeout=10).raise_for_status()
        listed = httpx.get(alertmanager.url + "/api/v2/alerts", timeout=10).json()
    assert len(listed) == len(sets)
    for alert in listed:
        assert alert["fingerprint"] == alertmanager_fingerprint(alert["labels"])
    assert all(a.warnings == () for a in parse_alerts(json.dumps(listed), max_alerts=10))


names = st.text(max_size=6) | st.sampled_from(["alertname", "A", "B"])
label_sets = st.dictionaries(st.sampled_from(["alertname", "service", "a", "b"]) | names, names)


@settings(max_examples=500, deadline=None)
@given(names, label_sets, names, label_sets)
def test_identities_meet_only_for_equal_alerts(
    name: str, labels: dict[str, str], other_name: str, other_labels: dict[str, str]
) -> None:
    """Equal identities exactly when name and labels are equal (a label called alertname is
    no name); no label set has the identity of a PagerDuty incident or an Opsgenie alert."""
    same = (name, labels) == (other_name, other_labels)
    assert (alert_identity(name, labels) == alert_identity(other_name, other_labels)) == same
    assert alert_identity(name, labels) not in {
        source_identity("pagerduty", other_name),
        source_identity("opsgenie", other_name),
    }


@settings(max_examples=150, deadline=None)
@given(label_sets, label_sets)
def test_parsed_alerts_share_an_identity_only_with_equal_labels(
    labels: dict[str, str], other: dict[str, str]
) -> None:
    """Through the parser, whatever fingerprint each payload claims (here: the same one)."""
    first, second = (
        parse_alerts(webhook(am_alert({**found, "alertname": "X"}, fingerprint="00000000000000aa")))
        for found in (labels, other)
    )
    assert len(first) == len(second) == 1
    same_labels = first[0].labels == second[0].labels
    assert (first[0].fingerprint == second[0].fingerprint) == same_labels


# 2. amplification -----------------------------------------------------------------------------


def many(count: int, labels: dict[str, str] = SERVICE) -> str:
    """A webhook of `count` copies of one alert told apart by a label, compact (10,000 of
    them with short labels fit in the default [serve] max_body_kb)."""
    copies = [{"labels": {**labels, "i": str(i)}, "startsAt": START} for i in range(count)]
    body = {"version": "4", "status": "firing", "alerts": copies}
    return json.dumps(body, separators=(",", ":"))


def test_a_payload_over_max_per_payload_is_refused_whole(server: ServeProcess) -> None:
    for count in (101, 10_000):
        reply = server.post(many(count, {"alertname": "A", "service": "s"}))
        assert reply.status_code == 400, reply.status_code
        assert reply.json()["error"] == (
            f"payload carries {count} alerts; the limit is 100 ([alerts] max_per_payload)"
        )
        assert reply.json()["dead_letter"]
    assert server.get("/api/v1/alerts").json()["alerts"] == []


def test_copies_of_an_alert_share_one_investigation(server: ServeProcess) -> None:
    """100 copies in one body, one more 30 minutes later: one investigation. Two hours later,
    or on another service, the alert is investigated again."""
    replies = items(server.post(many(100)))
    first = replies[0]["id"]
    assert replies[0]["queued"]
    assert all((r["queued"], r["shared_with"]) == (False, first) for r in replies[1:])
    assert len({r["id"] for r in replies}) == 100
    [later] = items(server.post(webhook(am_alert({**SERVICE, "i": "x"}, "2026-11-20T09:30:00Z"))))
    assert (later["queued"], later["shared_with"]) == (False, first)
    [again] = items(server.post(webhook(am_alert(SERVICE, "2026-11-20T11:00:00Z"))))
    [other] = items(server.post(webhook(am_alert({**SERVICE, "service": "payments"}))))
    assert again["queued"]
    assert other["queued"]
    assert "shared_with" not in again
    [entry] = server.get(f"/api/v1/alerts/{later['id']}").json()["queue"]
    assert (entry["state"], entry["shared_with"]) == ("merged", first)
    counts = server.get("/healthz").json()["queue"]
    assert (counts["pending"], counts["merged"]) == (3, 100)


def test_a_shared_investigation_is_linked_once_known(register: Register, tmp_path: Path) -> None:
    """Alerts merged into a queued one learn its investigation when it finishes; one arriving
    after it ran shares it at once; a failed investigation is shared by nobody."""
    [first, merged] = (
        parse_alerts(webhook(am_alert({**SERVICE, "i": i}, starts)))[0]
        for i, starts in (("1", START), ("2", "2026-11-20T09:10:00Z"))
    )
    a, queued = register.receive_and_queue(first)
    b, _ = register.receive_and_queue(merged)
    assert queued
    assert b.shared_with == a.id
    entry = work.claim(register, "w1")
    assert entry is not None
    assert entry.alert_id == a.id
    investigation, _ = register.create_investigation(a.id, tmp_path)
    register.update_investigation(investigation, action="investigation.harvested", status="done")
    assert work.finish(register, entry, investigation_id=investigation) == "done"
    [row] = work.entries(register, alert_id=b.id)
    assert (row["state"], row["investigation_id"]) == ("merged", investigation)
    late = parse_alerts(webhook(am_alert({**SERVICE, "i": "3"}, "2026-11-20T08:15:00Z")))[0]
    c, queued = register.receive_and_queue(late)
    assert (queued, c.shared_with) == (False, a.id)
    assert work.entries(register, alert_id=c.id)[0]["investigation_id"] == investigation
    register.update_investigation(investigation, action="investigation.failed", status="failed")
    fresh = parse_alerts(webhook(am_alert({**SERVICE, "i": "4"}, "2026-11-20T09:20:00Z")))[0]
    assert register.receive_and_queue(fresh)[1]


def test_the_cli_refuses_a_payload_over_the_limit(rca: Rca, workspace_dir: Path) -> None:
    body = workspace_dir / "many.json"
    body.write_text(many(101))
    line = one_line_error(rca("alert", "ingest", str(body)))
    assert "payload carries 101 alerts; the limit is 100 ([alerts] max_per_payload)" in line
    assert len(json.loads(rca("alert", "dead-letters", "--json", check=True).stdout)) == 1
    config = workspace_dir / "rca.toml"
    first_key = 'service_labels = ["service", "app"]'
    assert first_key in config.read_text()  # the [alerts] section of the scaffold
    config.write_text(config.read_text().replace(first_key, first_key + "\nmax_per_payload = 101"))
    assert len(rca("alert", "ingest", str(body), check=True).stdout.split()) == 101
    config.write_text(config.read_text().replace("max_per_payload = 101", "max_per_payload = 0"))
    assert "alerts.max_per_payload" in one_line_error(rca("alert", "ingest", str(body)))


# 3. times -------------------------------------------------------------------------------------

FAR = "9999-12-31T23:59:59Z"
REFUSED = [
    (am_alert(SERVICE, "0001-01-01T00:00:00Z"), "alerts[0].startsAt: 0001-01-01T00:00:00+00:00"),
    (am_alert(SERVICE, "1653-02-10T06:13:20Z"), "alerts[0].startsAt: 1653-02-10"),
    (am_alert(SERVICE, FAR), "alerts[0].startsAt: 9999-12-31T23:59:59+00:00 is more than a day"),
    (am_alert(SERVICE, status="resolved", endsAt=FAR), "alerts[0].endsAt: 9999-12-31"),
]


@pytest.mark.parametrize(("alert", "message"), REFUSED)
def test_times_out_of_range_are_refused_naming_the_field(alert: Any, message: str) -> None:
    with pytest.raises(AlertFormatError) as caught:
        parse_alerts(webhook(alert))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_epoch_times_far_in_the_past_are_refused() -> None:
    generic = {"name": "X", "service": "s", "starts_at": -10_000_000_000}  # 1653
    with pytest.raises(AlertFormatError, match=r"^starts_at: 1653-02-10T\S+ is before 2000-01-01"):
        parse_alerts(json.dumps(generic))
    opsgenie = {"action": "Create", "alert": {"alertId": "x", "message": "m", "createdAt": 0}}
    with pytest.raises(AlertFormatError, match=r"^alert\.createdAt: 1970-01-01"):
        parse_alerts(json.dumps(opsgenie))


def test_a_firing_alert_ending_in_the_future_is_still_firing() -> None:
    soon = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    for ends in (FAR, soon):
        [alert] = parse_alerts(webhook(am_alert(SERVICE, endsAt=ends)))
        assert (alert.status, alert.ends_at) == ("firing", None)
    [resolved] = parse_alerts(webhook(am_alert(SERVICE, status="resolved", endsAt=soon)))
    assert resolved.ends_at is not None  # a clock a little ahead of ours


def test_the_server_refuses_times_out_of_range(server: ServeProcess) -> None:
    for alert, message in REFUSED:
        reply = server.post(webhook(alert))
        assert reply.status_code == 400
        assert reply.json()["error"].startswith(message)
        assert reply.json()["dead_letter"]
    [item] = items(server.post(webhook(am_alert(SERVICE, endsAt=FAR))))
    assert server.get(f"/api/v1/alerts/{item['id']}").json()["ends_at"] is None


def test_a_stored_alert_from_year_1_is_refused_not_a_traceback(
    rca: Rca, workspace_dir: Path
) -> None:
    """A row written before times were bounded (or behind rca-kit's back) cannot overflow the
    evidence window: `rca investigate` says why in one line."""
    body = workspace_dir / "alert.json"
    body.write_text(webhook(am_alert(SERVICE)))
    [alert_id] = rca("alert", "ingest", str(body), check=True).stdout.split()
    with sqlite3.connect(workspace_dir / "rca.db") as db:
        db.execute("UPDATE alerts SET starts_at = '0001-01-01T00:00:00+00:00'")
    line = one_line_error(rca("investigate", alert_id))
    assert "starts at 0001-01-01T00:00:00+00:00, before 2000-01-01" in line


def test_the_evidence_window_never_overflows(workspace: Workspace) -> None:
    [alert] = parse_alerts(webhook(am_alert(SERVICE, status="resolved", endsAt=START)))
    now = datetime.now(UTC)
    for ends in (datetime.max.replace(tzinfo=UTC), None):
        firing = _with(alert, ends_at=ends)
        window = evidence_window(workspace, firing, now)
        assert window.start == alert.starts_at - timedelta(hours=1)
        assert window.end == min(now, window.start + timedelta(hours=6))  # [evidence] max_window
        assert window_capped(workspace, firing, window, now) == (window.end < now)
    ancient = _with(alert, starts_at=datetime.min.replace(tzinfo=UTC))
    with pytest.raises(InputError, match="before 2000-01-01"):
        evidence_window(workspace, ancient, now)


def _with(alert: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(alert, **changes)
