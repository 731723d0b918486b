"""Alert intake: Alertmanager v4 and generic JSON, normalization and clear errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from rca_kit.exceptions import AlertFormatError
from rca_kit.intake import parse_alerts
from rca_kit.testing import alertmanager_payload

SERVICE_LABELS = ("service", "app", "job")


def parse(payload: object, **kwargs: object) -> list:  # type: ignore[type-arg]
    return parse_alerts(json.dumps(payload), service_labels=SERVICE_LABELS, **kwargs)  # type: ignore[arg-type]


def test_alertmanager_firing_alert_is_normalized() -> None:
    """A firing Alertmanager alert keeps labels and raw payload and has an open window."""
    payload = alertmanager_payload(
        "ConsumerLagHigh", service="orders-consumer", starts_at="2026-11-20T13:16:00.123456789Z"
    )
    [alert] = parse(payload)
    assert alert.name == "ConsumerLagHigh"
    assert alert.status == "firing"
    assert alert.service == "orders-consumer"
    assert alert.starts_at == datetime(2026, 11, 20, 13, 16, 0, 123456, tzinfo=UTC)
    assert alert.ends_at is None  # 0001-01-01 means still firing
    assert alert.raw == payload["alerts"][0]
    assert alert.source_format == "alertmanager"


def test_service_comes_from_the_first_configured_label() -> None:
    """service_labels are tried in order; the first present one names the service."""
    payload = alertmanager_payload("X", service="")
    payload["alerts"][0]["labels"] = {"alertname": "X", "job": "the-job", "app": "the-app"}
    payload["commonLabels"] = {}
    [alert] = parse(payload)
    assert alert.service == "the-app"


def test_fingerprint_is_stable_and_label_sensitive() -> None:
    """Without Alertmanager's fingerprint the same labels give the same fingerprint."""
    a = parse(alertmanager_payload("X", service="s1"))[0]
    b = parse(alertmanager_payload("X", service="s1"))[0]
    c = parse(alertmanager_payload("X", service="s2"))[0]
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_generic_alert() -> None:
    """The plain JSON format is parsed; ends_at in the past makes it resolved."""
    [alert] = parse(
        {
            "name": "RowCountDrop",
            "service": "warehouse",
            "starts_at": "2026-11-20T10:00:00Z",
            "ends_at": "2026-11-20T11:00:00+00:00",
            "labels": {"dataset": "orders"},
            "annotations": {"summary": "rows fell"},
            "severity": "warning",
        }
    )
    assert alert.source_format == "generic"
    assert alert.status == "resolved"
    assert alert.service == "warehouse"
    assert alert.labels["dataset"] == "orders"
    assert alert.ends_at == datetime(2026, 11, 20, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda p: p["alerts"][0].pop("startsAt"), "alerts[0].startsAt is required"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda p: p["alerts"][0].update(startsAt="2026-11-20T10:00:00"), "no time zone"),
        (lambda p: p["alerts"][0].update(status="burning"), "alerts[0].status"),
        (lambda p: p["alerts"][0].update(labels=["a"]), "alerts[0].labels must be an object"),
        (lambda p: p.update(version="3"), "version"),
        (
            lambda p: p["alerts"][0].update(endsAt="2026-01-01T00:00:00Z"),
            "endsAt is before startsAt",
        ),
    ],
)
def test_malformed_alertmanager_payload_names_the_field(mutate, fragment) -> None:  # type: ignore[no-untyped-def]
    """Each malformed field is reported by its path in the payload."""
    payload = alertmanager_payload("X")
    payload["commonLabels"] = {}
    mutate(payload)
    with pytest.raises(AlertFormatError) as info:
        parse(payload)
    assert fragment in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"\xff\xfe", b'{"hello": 1}'])
def test_unparseable_payloads_are_format_errors(raw: bytes) -> None:
    """Non-JSON, non-objects and unknown shapes are AlertFormatError, not crashes."""
    with pytest.raises(AlertFormatError):
        parse_alerts(raw)


def test_generic_unknown_field_and_forced_format() -> None:
    """An unknown generic field is named; forcing a format that does not fit is an error."""
    with pytest.raises(AlertFormatError, match="'colour'"):
        parse({"name": "x", "starts_at": "2026-11-20T10:00:00Z", "colour": "red"})
    with pytest.raises(AlertFormatError):
        parse({"name": "x", "starts_at": "2026-11-20T10:00:00Z"}, fmt="alertmanager")
    with pytest.raises(AlertFormatError, match="unknown alert format"):
        parse({"name": "x", "starts_at": "2026-11-20T10:00:00Z"}, fmt="nagios")


def test_hostile_labels_stay_bounded_data() -> None:
    """Huge or odd label values are truncated strings; nothing is interpreted."""
    payload = alertmanager_payload("X", service="<script>alert(1)</script>")
    payload["alerts"][0]["labels"]["__class__"] = "{0.__globals__}" + "A" * 10_000
    [alert] = parse(payload)
    assert alert.service == "<script>alert(1)</script>"
    assert len(alert.labels["__class__"]) == 4096
    too_many = alertmanager_payload("X")
    too_many["alerts"][0]["labels"] = {f"l{i}": "v" for i in range(500)} | {"alertname": "X"}
    with pytest.raises(AlertFormatError, match="limit"):
        parse(too_many)
