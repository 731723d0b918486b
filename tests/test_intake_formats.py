"""Alert formats from real monitoring: Grafana, the Alertmanager API, PagerDuty, Opsgenie.

Each fixture in tests/fixtures/alerts/ is a realistic payload of its format.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rca_kit.exceptions import AlertFormatError
from rca_kit.intake import NotAnAlert, formats, parse_alerts
from rca_kit.intake.common import fingerprint
from rca_kit.intake.identity import alertmanager_fingerprint
from rca_kit.models import Alert

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alerts"
SERVICE_LABELS = ("service", "app")


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def parse(
    payload: Any, fmt: str | None = None, labels: tuple[str, ...] = SERVICE_LABELS
) -> list[Alert]:
    return parse_alerts(json.dumps(payload), fmt=fmt, service_labels=labels)


def error(payload: Any, fmt: str | None = None) -> str:
    with pytest.raises(AlertFormatError) as info:
        parse(payload, fmt)
    message = str(info.value)
    assert "\n" not in message
    assert info.value.exit_code == 2
    return message


@pytest.mark.parametrize("name", formats.names())
def test_every_format_has_a_fixture_that_is_detected(name: str) -> None:
    """Each registered format parses its real payload, auto-detected and forced alike."""
    detected = parse(fixture(name))
    assert detected == parse(fixture(name), fmt=name)
    assert {a.source_format for a in detected} == {name}
    for alert in detected:
        assert alert.starts_at.tzinfo is UTC
        assert all(url.startswith(("http://", "https://")) for url in alert.links.values())


def test_grafana_webhook() -> None:
    """Grafana: labels as Alertmanager's; dashboard, panel, silence and runbook links."""
    [alert] = parse(fixture("grafana"))
    assert alert.name == "High memory usage"
    assert alert.service == "orders-api"  # from `app`
    assert alert.fingerprint == fingerprint(alert.name, alert.labels)  # never the payload's
    assert alert.raw["fingerprint"] == "c6eadffa33fcdf37"  # kept, not checkable: Grafana
    assert alert.warnings == ()  # hashes private labels it does not send
    assert alert.starts_at == datetime(2026, 11, 20, 13, 51, 3, 157076, tzinfo=UTC)
    assert set(alert.links) == {"runbook", "generator", "dashboard", "panel", "silence"}
    assert alert.annotations["valueString"].startswith("[ var='B'")


def test_grafana_and_alertmanager_versions_are_told_apart() -> None:
    """Forcing the wrong one says which it looks like; a missing version is 'required'."""
    assert "a Grafana webhook?" in error(fixture("grafana"), "alertmanager")
    assert "an Alertmanager webhook?" in error(fixture("alertmanager"), "grafana")
    payload = fixture("alertmanager")
    del payload["version"]
    assert error(payload, "alertmanager") == "version is required"
    assert error(payload, "grafana") == "version is required"


def test_alertmanager_links_and_common_annotations() -> None:
    [alert] = parse(fixture("alertmanager"))
    assert alert.links == {
        "runbook": "https://runbooks.example.com/kafka/consumer-lag",
        "generator": fixture("alertmanager")["alerts"][0]["generatorURL"],
        "alertmanager": "http://alertmanager-0.monitoring:9093",
    }
    assert alert.service == "orders-consumer"


def test_alertmanager_api_array() -> None:
    """The v2 API array: every alert firing (endsAt is a projection), job is no service."""
    first, second = parse(fixture("alertmanager-api"))
    assert (first.name, first.status, first.ends_at) == ("RowCountDrop", "firing", None)
    assert first.service == "orders-warehouse"
    assert first.fingerprint == fingerprint(first.name, first.labels)  # never the payload's
    assert first.raw["fingerprint"] == "0e5a3f1c2b7d9a41"
    assert first.warnings == (
        "[0].fingerprint '0e5a3f1c2b7d9a41' is not the one Alertmanager computes from the "
        f"labels ({alertmanager_fingerprint(first.labels)}); rca-kit identifies the alert by "
        "its labels",
    )
    assert second.status == "firing"  # suppressed by a silence, still firing
    assert second.service is None  # only job/instance: not services by default
    assert parse(fixture("alertmanager-api"), labels=("service", "job"))[1].service == "node"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p[0].pop("startsAt"), "[0].startsAt is required"),
        (lambda p: p[1].pop("status"), "[1].status is required"),
        (lambda p: p[0]["status"].update(state="gone"), "[0].status.state must be one of"),
        (lambda p: p.__setitem__(0, "x"), "[0] must be an object, got string"),
        (lambda p: p[0]["labels"].pop("alertname"), "[0].labels.alertname is required"),
    ],
)
def test_alertmanager_api_errors_name_the_field(mutate: Any, message: str) -> None:
    payload = fixture("alertmanager-api")
    mutate(payload)
    assert message in error(payload)


def test_empty_array_and_object_for_the_api_format() -> None:
    assert "contains no alerts" in error([])
    assert "JSON array of alerts, got object" in error({"a": 1}, "alertmanager-api")


def test_pagerduty_triggered_and_resolved() -> None:
    """triggered → firing; resolved → resolved from created_at to occurred_at, same identity."""
    [firing] = parse(fixture("pagerduty"))
    assert firing.status == "firing"
    assert firing.name == "ConsumerLagHigh: orders-warehouse-loader is 412s behind"
    assert firing.service == "orders-consumer"  # the PagerDuty service, whatever the labels
    assert firing.severity == "high"
    assert firing.labels["team"] == "data-platform"
    assert firing.labels["priority"] == "P1"
    assert firing.links == {
        "incident": "https://acme.pagerduty.com/incidents/Q2Y3ZNZ4EV7SE1",
        "service": "https://acme.pagerduty.com/service-directory/PIJ90N7",
    }
    payload = fixture("pagerduty")
    payload["event"].update(event_type="incident.resolved", occurred_at="2026-11-20T14:01:40Z")
    payload["event"]["data"]["status"] = "resolved"
    [resolved] = parse(payload)
    assert resolved.status == "resolved"
    assert (resolved.fingerprint, resolved.starts_at) == (firing.fingerprint, firing.starts_at)
    assert resolved.ends_at == datetime(2026, 11, 20, 14, 1, 40, tzinfo=UTC)


@pytest.mark.parametrize(
    "event_type", ["incident.acknowledged", "incident.annotated", "service.updated"]
)
def test_pagerduty_events_that_are_not_alerts(event_type: str) -> None:
    payload = fixture("pagerduty")
    payload["event"]["event_type"] = event_type
    with pytest.raises(NotAnAlert, match="is not an alert"):
        parse(payload)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e["data"].pop("created_at"), "event.data.created_at is required"),
        (lambda e: e["data"]["service"].pop("summary"), "event.data.service.summary is required"),
        (lambda e: e.update(data=[]), "event.data must be an object, got array"),
        (lambda e: e.pop("event_type"), "event.event_type is required"),
        (
            lambda e: e.update(event_type="incident.resolved", occurred_at="2026-11-20T13:00:00Z"),
            "event.occurred_at is before event.data.created_at",
        ),
    ],
)
def test_pagerduty_errors_name_the_field(mutate: Any, message: str) -> None:
    payload = fixture("pagerduty")
    mutate(payload["event"])
    assert message in error(payload)


def test_opsgenie_create_and_close() -> None:
    """Create → firing; Close → resolved at updatedAt (nanoseconds); service from a tag."""
    [created] = parse(fixture("opsgenie"))
    assert created.status == "firing"
    assert created.name == "ConsumerLagHigh"  # the alertname detail, not the message
    assert created.service == "orders-consumer"  # tag service:orders-consumer
    assert created.labels["team"] == "data-platform"  # tag team=data-platform
    assert created.labels["tags"] == "kafka,OverwriteQuietHours"
    assert created.severity == "page"  # the severity detail wins over the priority
    assert created.starts_at == datetime(2026, 11, 20, 13, 16, 40, 514000, tzinfo=UTC)
    assert created.links == {"runbook": "https://runbooks.example.com/kafka/consumer-lag"}
    payload = fixture("opsgenie")
    payload["action"] = "Close"
    payload["alert"]["updatedAt"] = 1795184200000000000  # 14:16:40Z, in nanoseconds
    [closed] = parse(payload)
    assert closed.status == "resolved"
    assert (closed.fingerprint, closed.starts_at) == (created.fingerprint, created.starts_at)
    assert closed.ends_at == datetime(2026, 11, 20, 14, 16, 40, tzinfo=UTC)


def test_opsgenie_service_from_details_or_entity() -> None:
    """Details win over tags; the entity names the service only when configured."""
    payload = fixture("opsgenie")
    payload["alert"]["tags"] = []
    payload["alert"]["details"] = {"priority_note": "x"}
    [alert] = parse(payload)
    assert alert.service is None
    assert alert.severity == "high"  # P2
    assert parse(payload, labels=("service", "entity"))[0].service == "kafka-exporter-0"
    payload["alert"]["details"] = {"service": "from-details"}
    payload["alert"]["tags"] = ["service:from-tag"]
    assert parse(payload)[0].service == "from-details"


@pytest.mark.parametrize("action", ["Acknowledge", "AddNote", "Delete", "TakeOwnership"])
def test_opsgenie_actions_that_are_not_alerts(action: str) -> None:
    payload = fixture("opsgenie")
    payload["action"] = action
    with pytest.raises(NotAnAlert, match=f"action '{action}' is not an alert"):
        parse(payload)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda a: a.pop("createdAt"), "alert.createdAt is required"),
        (lambda a: a.update(tags="a,b"), "alert.tags must be an array of strings, got string"),
        (lambda a: a.update(tags=["ok", 3]), "alert.tags[1] must be a string, got number"),
        (lambda a: a.update(details={"k": {"x": 1}}), "alert.details.k must be a string"),
        (lambda a: a.pop("alertId"), "alert.alertId is required"),
    ],
)
def test_opsgenie_errors_name_the_field(mutate: Any, message: str) -> None:
    payload = fixture("opsgenie")
    mutate(payload["alert"])
    assert message in error(payload)


def test_generic_links_and_runbook() -> None:
    [alert] = parse(fixture("generic"))
    assert alert.links == {
        "runbook": "https://runbooks.example.com/warehouse/row-count",
        "dashboard": "https://grafana.example.com/d/warehouse-rows",
    }
    payload = fixture("generic")
    del payload["starts_at"]
    assert error(payload, "generic") == "starts_at is required"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "//evil.example/x",
        "/relative/path",
        "https://",
        "https://ok.example/a b",
        "https://ok.example/\u0000",
        "https://" + "a" * 3000 + ".example",
    ],
)
def test_only_http_links_are_kept(url: str) -> None:
    """Any other scheme, a relative or oversized URL is dropped; the alert is still stored."""
    payload = fixture("grafana")
    item = payload["alerts"][0]
    item["dashboardURL"] = item["panelURL"] = item["generatorURL"] = url
    item["annotations"]["runbook_url"] = url
    payload["commonAnnotations"] = {}
    [alert] = parse(payload)
    assert alert.links == {"silence": item["silenceURL"]}


def test_hostile_values_stay_data() -> None:
    """Template syntax, shell, markup and paths in labels are kept verbatim as strings."""
    hostile = ["{snapshot_path}", '"; rm -rf / #', "</script><script>x()</script>", "../../etc"]
    payload = fixture("alertmanager")
    payload["commonLabels"] = {}
    item = payload["alerts"][0]
    item["labels"] = {"alertname": hostile[0], "service": hostile[3], "x": hostile[1]}
    item["annotations"] = {"summary": hostile[2]}
    [alert] = parse(payload)
    assert (alert.name, alert.service, alert.labels["x"]) == (hostile[0], hostile[3], hostile[1])
    assert alert.annotations["summary"] == hostile[2]


def test_errors_are_one_line_and_bounded() -> None:
    """A value or key with line breaks or megabytes is shown escaped and cut short."""
    payload = fixture("alertmanager")
    payload["alerts"][0]["status"] = "x\n" * 100_000
    message = error(payload)
    assert message.startswith("alerts[0].status must be 'firing' or 'resolved'")
    assert len(message) < 200
    payload = fixture("alertmanager")
    payload["alerts"][0]["labels"] = {"bad\nkey": ["list"]}
    assert "alerts[0].labels.'bad\\nkey' must be a string" in error(payload)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[" * 10_000 + b"]" * 10_000, "nested deeper"),
        (b'{"name": "x", "starts_at": NaN}', "NaN is not a JSON number"),
        (b'{"name": "x", "starts_at": 1e999}', "out of range"),
        (b'{"name": "\\ud800", "starts_at": "2026-11-20T10:00:00Z"}', "surrogate"),
        (b'{"n": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b'"just a string"', "expected a JSON object or array, got string"),
    ],
)
def test_hostile_json_is_a_format_error(raw: bytes, message: str) -> None:
    with pytest.raises(AlertFormatError, match=message):
        parse_alerts(raw)


def test_paired_surrogates_are_text() -> None:
    """An emoji written as a surrogate pair is ordinary text."""
    payload = copy.deepcopy(fixture("generic"))
    payload["name"] = "lag \U0001f525"
    raw = json.dumps(payload).encode()  # ensure_ascii: "\\ud83d\\udd25"
    assert b"\\ud83d" in raw
    assert parse_alerts(raw)[0].name == "lag \U0001f525"
