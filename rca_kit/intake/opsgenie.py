"""Opsgenie webhook integration payloads: `Create` is a firing alert, `Close` its resolution.

Both carry the Opsgenie alert's id as their identity (so the Close closes the stored firing
alert) and its createdAt (epoch milliseconds) as startsAt; a Close ends at the alert's
updatedAt (Opsgenie sends nanoseconds there). Every other action (Acknowledge, AddNote …) is
a NotAnAlert error: nothing to store.

Labels come from the alert's tags written `key:value` or `key=value` (plain tags are joined
under `tags`), then its details (which win), then `entity`, `priority`, `alias`, `source`
and `tinyId` where those keys are free. The service is the first of `[alerts]
service_labels` among them: a tag `service:orders`, a detail `service`, or, with "entity"
in service_labels, the alert's entity. The name is a detail or tag `alertname` (as the
Prometheus integration sends), else the message; the severity a `severity` detail or tag,
else the priority's: P1 critical, P2 high, P3 medium, P4 low, P5 info.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..exceptions import AlertFormatError
from ..models import Alert
from . import links
from .common import (
    MAX_KEY_CHARS,
    MAX_LABELS,
    MAX_VALUE_CHARS,
    NotAnAlert,
    kind,
    make_alert,
    obj,
    optional_text,
    parse_epoch,
    require,
    show,
    string_map,
    text,
)
from .identity import source_identity

ACTIONS = {"Create": "firing", "Close": "resolved"}
SEVERITIES = {"P1": "critical", "P2": "high", "P3": "medium", "P4": "low", "P5": "info"}


def detect(payload: Any) -> bool:
    return (
        isinstance(payload, dict) and "action" in payload and isinstance(payload.get("alert"), dict)
    )


def parse(payload: Any, service_labels: Sequence[str]) -> list[Alert]:
    body = obj(payload, "the Opsgenie webhook payload")
    action = require(body, "action", "")
    if not isinstance(action, str) or action not in ACTIONS:
        raise NotAnAlert(
            f"action {show(action)} is not an alert: only {' and '.join(ACTIONS)} are stored"
        )
    alert = obj(require(body, "alert", ""), "alert")
    alert_id = text(require(alert, "alertId", "alert."), "alert.alertId", 200)
    message = text(require(alert, "message", "alert."), "alert.message", 1024)
    created = parse_epoch(require(alert, "createdAt", "alert."), "alert.createdAt")
    status = ACTIONS[action]
    ends = None
    if status == "resolved":
        ends = parse_epoch(require(alert, "updatedAt", "alert."), "alert.updatedAt")
    details = string_map(alert.get("details"), "alert.details")
    labels = {**_tags(alert.get("tags")), **details}
    for key in ("entity", "priority", "alias", "source", "tinyId"):
        value = optional_text(alert.get(key), f"alert.{key}", MAX_VALUE_CHARS)
        if value:
            labels.setdefault(key, value)
    annotations = {"summary": message}
    description = optional_text(alert.get("description"), "alert.description")
    if description:
        annotations["description"] = description
    return [
        make_alert(
            where="alert.",
            name=labels.get("alertname") or message,
            status=status,
            fingerprint=source_identity("opsgenie", alert_id),
            starts_at=created,
            ends_at=ends,
            labels=labels,
            annotations=annotations,
            service_labels=service_labels,
            source_format="opsgenie",
            raw=body,
            links=links.collect(links.runbook(details)),
            severity=labels.get("severity") or SEVERITIES.get(labels.get("priority", "")),
            start_field="createdAt",
            end_field="updatedAt",
        )
    ]


def _tags(value: Any) -> dict[str, str]:
    """Tags `key:value` / `key=value` as labels; plain tags joined under `tags`."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise AlertFormatError(f"alert.tags must be an array of strings, got {kind(value)}")
    if len(value) > MAX_LABELS:
        raise AlertFormatError(f"alert.tags has {len(value)} entries; the limit is {MAX_LABELS}")
    labels: dict[str, str] = {}
    plain: list[str] = []
    for index, tag in enumerate(value):
        if not isinstance(tag, str):
            raise AlertFormatError(f"alert.tags[{index}] must be a string, got {kind(tag)}")
        cut = min((i for i in (tag.find(":"), tag.find("=")) if i > 0), default=-1)
        key = tag[:cut].strip() if cut > 0 else ""
        if key:
            labels.setdefault(key[:MAX_KEY_CHARS], tag[cut + 1 :].strip()[:MAX_VALUE_CHARS])
        else:
            plain.append(tag)
    if plain:
        labels["tags"] = ",".join(plain)[:MAX_VALUE_CHARS]
    return labels
