"""The Alertmanager v2 API's alert array (`GET /api/v2/alerts`, `amtool --output json`).

A top-level JSON array of alerts: labels, annotations, startsAt, endsAt, updatedAt,
generatorURL, fingerprint, receivers and `status: {state, silencedBy, inhibitedBy}`. The API
lists alerts that are still firing: active, suppressed (silenced or inhibited) and
unprocessed are all stored as firing, and endsAt, the expiry Alertmanager projects while
an alert keeps firing, is not an end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..exceptions import AlertFormatError
from ..models import Alert
from .alertmanager import parse_item
from .common import alert_list, kind, obj, require, show

STATES = ("active", "suppressed", "unprocessed")


def detect(payload: Any) -> bool:
    return isinstance(payload, list)


def parse(payload: Any, service_labels: Sequence[str]) -> list[Alert]:
    if not isinstance(payload, list):
        raise AlertFormatError(
            f"the Alertmanager API format is a JSON array of alerts, got {kind(payload)}"
        )
    alerts = []
    for index, item in enumerate(alert_list(payload, "the alert array")):
        where = f"[{index}]."
        status = obj(require(obj(item, f"[{index}]"), "status", where), where + "status")
        state = require(status, "state", where + "status.")
        if state not in STATES:
            raise AlertFormatError(
                f"{where}status.state must be one of {', '.join(STATES)}, got {show(state)}"
            )
        alerts.append(
            parse_item(
                item, where, service_labels, "alertmanager-api", status="firing", open_ended=True
            )
        )
    return alerts
