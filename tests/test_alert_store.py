"""Storing alerts: repeats are one alert, a resolved notice closes its firing alert, links
are kept; the queries behind `rca alert list/show/dead-letters`.

Every test runs on SQLite and on PostgreSQL (the `register` fixture in conftest.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from rca_kit.exceptions import AuditChainError, NotFoundError
from rca_kit.intake import parse_alerts
from rca_kit.models import Alert
from rca_kit.register import Register
from rca_kit.register.schema import alerts

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alerts"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def alert_of(payload: Any) -> Alert:
    [alert] = parse_alerts(json.dumps(payload), service_labels=("service", "app"))
    return alert


def resolved(payload: Any, ends_at: str = "2026-11-20T14:18:00Z") -> Any:
    """The Alertmanager fixture's resolved notice."""
    payload["status"] = payload["alerts"][0]["status"] = "resolved"
    payload["alerts"][0]["endsAt"] = ends_at
    return payload


def test_a_resolved_notice_closes_the_firing_alert(register: Register) -> None:
    """Same (fingerprint, startsAt): the firing row becomes resolved; nothing new is created."""
    firing = register.receive_alert(alert_of(fixture("alertmanager")))
    assert (firing.created, firing.resolved) == (True, False)
    again = register.receive_alert(alert_of(fixture("alertmanager")))
    assert (again.id, again.created, again.resolved) == (firing.id, False, False)
    closed = register.receive_alert(alert_of(resolved(fixture("alertmanager"))))
    assert (closed.id, closed.created, closed.resolved) == (firing.id, False, True)
    repeat = register.receive_alert(alert_of(resolved(fixture("alertmanager"))))
    assert (repeat.id, repeat.created, repeat.resolved) == (firing.id, False, False)
    late_firing = register.store_alert(alert_of(fixture("alertmanager")))
    assert late_firing == (firing.id, False)  # out of order: still the same occurrence
    row = register.alert_row(firing.id)
    assert row["status"] == "resolved"
    assert row["ends_at"].startswith("2026-11-20T14:18:00")
    assert row["resolved_at"]
    assert row["time_to_resolve_s"] == pytest.approx(3720 - 0.123456)
    assert len(register.alerts()) == 1
    count, _ = register.verify_audit()  # the resolution was sealed
    assert count == 2
    with register.engine.connect() as conn:
        action, details = conn.execute(
            sa.text("SELECT action, details FROM audit_events ORDER BY seq DESC LIMIT 1")
        ).one()
    assert action == "alert.resolved"
    assert json.loads(details)["time_to_resolve_s"] == pytest.approx(3719.876544)


def test_a_resolved_notice_alone_is_stored(register: Register) -> None:
    receipt = register.receive_alert(alert_of(resolved(fixture("alertmanager"))))
    assert (receipt.created, receipt.resolved) == (True, False)
    row = register.alert_row(receipt.id)
    assert (row["status"], row["resolved_at"]) == ("resolved", None)


def test_pagerduty_and_opsgenie_resolutions_close_their_alerts(register: Register) -> None:
    """Their identity is the incident or alert id, so the resolution finds the firing row."""
    incident = register.receive_alert(alert_of(fixture("pagerduty")))
    payload = fixture("pagerduty")
    payload["event"].update(event_type="incident.resolved", occurred_at="2026-11-20T13:46:40Z")
    assert register.receive_alert(alert_of(payload)).resolved
    assert register.alert_row(incident.id)["time_to_resolve_s"] == 1800
    created = register.receive_alert(alert_of(fixture("opsgenie")))
    payload = fixture("opsgenie")
    payload["action"] = "Close"
    assert register.receive_alert(alert_of(payload))[:3] == (created.id, False, True)


def test_rows_stored_under_a_claimed_fingerprint_are_found_by_content(
    register: Register,
) -> None:
    """Earlier releases stored rows under the payload's fingerprint (PagerDuty's under a
    16-digit hash of its incident id): a repeat or resolved notice received since finds such a
    row when its content is the alert's; a forged alert claiming that fingerprint does not."""
    receipt = register.receive_alert(alert_of(fixture("alertmanager")))
    incident = register.receive_alert(alert_of(fixture("pagerduty")))
    incident_id = fixture("pagerduty")["event"]["data"]["id"]
    old = {"alertname": "pagerduty-incident", "id": incident_id}
    with register.engine.begin() as conn:  # as those releases stored them
        claimed = fixture("alertmanager")["alerts"][0]["fingerprint"]
        conn.execute(alerts.update().where(alerts.c.id == receipt.id).values(fingerprint=claimed))
        legacy = hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:16]
        conn.execute(alerts.update().where(alerts.c.id == incident.id).values(fingerprint=legacy))
    forged = resolved(fixture("alertmanager"))
    forged["alerts"][0]["labels"]["instance"] = "attacker"
    assert register.receive_alert(alert_of(forged)).created
    assert register.receive_alert(alert_of(fixture("alertmanager")))[:2] == (receipt.id, False)
    closed = register.receive_alert(alert_of(resolved(fixture("alertmanager"))))
    assert closed[:3] == (receipt.id, False, True)
    payload = fixture("pagerduty")
    payload["event"].update(event_type="incident.resolved", occurred_at="2026-11-20T13:46:40Z")
    assert register.receive_alert(alert_of(payload))[:3] == (incident.id, False, True)


def test_links_are_stored_and_shown(register: Register) -> None:
    alert_id, _ = register.store_alert(alert_of(fixture("grafana")))
    links = register.alert(alert_id).links
    assert set(links) == {"runbook", "generator", "dashboard", "panel", "silence"}
    assert register.alert_row(alert_id)["links"] == links
    with register.engine.begin() as conn:  # a row written behind rca-kit's back
        evil = {"runbook": "javascript:alert(1)", "ok": "https://ok.example"}
        conn.execute(alerts.update().values(links=evil))
    assert register.alert(alert_id).links == {"ok": "https://ok.example"}
    with pytest.raises(AuditChainError):
        register.verify_audit()


def test_listing_filters_and_counts_investigations(register: Register, tmp_path: Path) -> None:
    first, _ = register.store_alert(alert_of(fixture("alertmanager")))
    second, _ = register.store_alert(alert_of(fixture("grafana")))
    register.store_alert(alert_of(resolved(fixture("alertmanager"))))
    register.create_investigation(second, tmp_path)
    rows = {row["id"]: row for row in register.alerts()}
    assert rows[first]["status"] == "resolved"
    assert rows[second]["investigations"] == 1
    assert [r["id"] for r in register.alerts(status="firing")] == [second]
    assert [r["id"] for r in register.alerts(service="orders-consumer")] == [first]
    assert len(register.alerts(limit=1)) == 1
    [investigation] = register.alert_row(second)["investigations"]
    assert investigation["kind"] == "incident"
    assert "raw" not in register.alert_row(second)
    with pytest.raises(NotFoundError, match="rca alert list"):
        register.alert_row("al-nope")


def test_dead_letter_rows_and_payload(register: Register) -> None:
    payload = b"\xff\x00 not json"
    letter = register.dead_letter(payload, source="file:x.json", error="not valid JSON")
    [row] = register.dead_letter_rows()
    assert row == {
        "id": letter,
        "received_at": row["received_at"],
        "source": "file:x.json",
        "error": "not valid JSON",
        "size": len(payload),
    }
    assert register.dead_letter_payload(letter) == payload
    with pytest.raises(NotFoundError):
        register.dead_letter_payload(letter + 1)


def test_report_links_only_http_and_never_javascript(tmp_path: Path) -> None:
    """The report's link block: http(s) links with rel=noopener; a javascript: link given
    as a link never reaches the HTML, and as an annotation it is escaped text, not a link."""
    from rca_kit.report import render_investigation

    payload = fixture("generic")
    payload["links"] = {"evil": "javascript:alert(document.domain)", "data": "data:text/html,x"}
    payload["annotations"]["runbook_url"] = "javascript:alert(1)//<b>"
    reg = Register(f"sqlite:///{tmp_path}/rca.db")
    alert_id, _ = reg.store_alert(alert_of(payload))
    inv, _ = reg.create_investigation(alert_id, tmp_path)
    html = render_investigation(reg, inv, tmp_path / "reports", {}).read_text()
    assert "alert-links" not in html  # no link survived
    reg2 = Register(f"sqlite:///{tmp_path}/rca2.db")
    alert_id, _ = reg2.store_alert(alert_of(fixture("grafana")))
    inv2, _ = reg2.create_investigation(alert_id, tmp_path)
    good = render_investigation(reg2, inv2, tmp_path / "reports", {}).read_text()
    reg.close()
    reg2.close()
    assert "javascript:alert(document.domain)" not in html
    assert "data:text/html" not in html
    assert 'href="javascript' not in html.lower()
    assert "javascript:alert(1)//&lt;b&gt;" in html  # the annotation, as text
    assert (
        '<a href="https://runbooks.example.com/orders-api/memory" '
        'rel="noopener noreferrer" target="_blank">runbook</a>'
    ) in good
    assert "&amp;viewPanel=4" in good  # the URL is attribute-escaped
