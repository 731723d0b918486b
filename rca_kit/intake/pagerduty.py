"""PagerDuty v3 webhooks: incident events become alerts.

`incident.triggered` is a firing alert and `incident.resolved` its resolution (startsAt: the
incident's created_at, endsAt: when it was resolved); both carry the incident id as their
identity, so the resolution closes the stored firing alert. Every other event
(acknowledged, annotated, a service update …) is a NotAnAlert error: nothing to store. The
service is the PagerDuty service's name (`data.service.summary`), the severity the incident's
urgency.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..models import Alert
from . import links
from .common import (
    NotAnAlert,
    make_alert,
    obj,
    optional_text,
    parse_time,
    require,
    show,
    text,
)
from .identity import source_identity

EVENTS = {"incident.triggered": "firing", "incident.resolved": "resolved"}


def detect(payload: Any) -> bool:
    return isinstance(payload, dict) and isinstance(payload.get("event"), dict)


def parse(payload: Any, service_labels: Sequence[str]) -> list[Alert]:
    body = obj(payload, "the PagerDuty webhook payload")
    event = obj(require(body, "event", ""), "event")
    event_type = text(require(event, "event_type", "event."), "event.event_type", 200)
    if event_type not in EVENTS:
        raise NotAnAlert(
            f"event.event_type {show(event_type)} is not an alert: only "
            f"{' and '.join(EVENTS)} are stored"
        )
    resource = event.get("resource_type", "incident")
    if resource != "incident":
        raise NotAnAlert(f"event.resource_type {show(resource)} is not an incident")
    data = obj(require(event, "data", "event."), "event.data")
    incident = text(require(data, "id", "event.data."), "event.data.id", 200)
    title = text(
        data.get("title") or require(data, "summary", "event.data."), "event.data.title", 1024
    )
    created = parse_time(require(data, "created_at", "event.data."), "event.data.created_at")
    service = obj(require(data, "service", "event.data."), "event.data.service")
    service_name = text(
        require(service, "summary", "event.data.service."), "event.data.service.summary", 256
    )
    status = EVENTS[event_type]
    ends = None
    if status == "resolved":
        ends = parse_time(require(event, "occurred_at", "event."), "event.occurred_at")
    labels = {
        "service": service_name,
        **_optional(
            {
                "service_id": service.get("id"),
                "incident_id": incident,
                "incident_number": data.get("number"),
                "incident_key": data.get("incident_key"),
                "urgency": data.get("urgency"),
                "priority": _summary(data.get("priority")),
                "escalation_policy": _summary(data.get("escalation_policy")),
                "team": _summary(_first(data.get("teams"))),
            }
        ),
    }
    return [
        make_alert(
            where="",
            name=title,
            status=status,
            fingerprint=source_identity("pagerduty", incident),
            starts_at=created,
            ends_at=ends,
            labels=labels,
            annotations={"summary": title},
            service_labels=service_labels,
            source_format="pagerduty",
            raw=body,
            links=links.collect(
                [("incident", data.get("html_url")), ("service", service.get("html_url"))]
            ),
            service=service_name,
            severity=labels.get("urgency"),
            start_field="event.data.created_at",
            end_field="event.occurred_at",
        )
    ]


def _summary(reference: Any) -> Any:
    """A PagerDuty reference object's summary (None when it is not one)."""
    return reference.get("summary") if isinstance(reference, dict) else None


def _first(items: Any) -> Any:
    return items[0] if isinstance(items, list) and items else None


def _optional(fields: dict[str, Any]) -> dict[str, str]:
    """The fields given as strings or numbers, as label strings; others are left out."""
    out = {}
    for key, value in fields.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            found = optional_text(value, f"event.data.{key}", 1024)
            if found:
                out[key] = found
    return out
