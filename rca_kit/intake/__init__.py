"""Alert intake: one adapter per format, auto-detection, normalization.

| format             | payload                                                        |
|--------------------|----------------------------------------------------------------|
| `grafana`          | Grafana unified alerting webhook (`"version": "1"`, `orgId`)   |
| `alertmanager`     | Prometheus Alertmanager webhook, version 4                     |
| `alertmanager-api` | the JSON array of GET /api/v2/alerts (or `amtool -o json`)     |
| `pagerduty`        | PagerDuty v3 webhook, incident.triggered / incident.resolved   |
| `opsgenie`         | Opsgenie webhook integration, Create / Close                   |
| `generic`          | {name, starts_at, service, ends_at, labels, annotations, …}    |

Detection tries them in this order (Grafana's payload is also Alertmanager-shaped).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ..exceptions import AlertFormatError
from ..models import Alert
from . import alertmanager, alertmanager_api, generic, grafana, opsgenie, pagerduty
from .common import NotAnAlert, clean, kind

Adapter = Callable[[Any, Sequence[str]], list[Alert]]
Detector = Callable[[Any], bool]

MAX_PAYLOAD_BYTES = 5 * 1024 * 1024
MAX_PER_PAYLOAD = 100  # the default of [alerts] max_per_payload
MAX_DEPTH = 64  # nesting of arrays and objects in a payload
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_PER_PAYLOAD",
    "FormatRegistry",
    "NotAnAlert",
    "decode",
    "formats",
    "parse_alerts",
]


class FormatRegistry:
    """Named alert formats, tried in registration order when auto-detecting."""

    def __init__(self) -> None:
        self._formats: dict[str, tuple[Detector, Adapter]] = {}

    def register(self, name: str, detect: Detector, parse: Adapter) -> None:
        self._formats[name] = (detect, parse)

    def names(self) -> list[str]:
        return list(self._formats)

    def get(self, name: str) -> tuple[Detector, Adapter]:
        try:
            return self._formats[name]
        except KeyError:
            known = ", ".join(self._formats)
            raise AlertFormatError(f"unknown alert format {name!r} (known: {known})") from None

    def detect(self, payload: Any) -> str:
        for name, (detect, _) in self._formats.items():
            if detect(payload):
                return name
        known = ", ".join(self._formats)
        raise AlertFormatError(f"payload matches no known alert format (known: {known})")


formats = FormatRegistry()
formats.register("grafana", grafana.detect, grafana.parse)
formats.register("alertmanager", alertmanager.detect, alertmanager.parse)
formats.register("alertmanager-api", alertmanager_api.detect, alertmanager_api.parse)
formats.register("pagerduty", pagerduty.detect, pagerduty.parse)
formats.register("opsgenie", opsgenie.detect, opsgenie.parse)
formats.register("generic", generic.detect, generic.parse)


def decode(raw: bytes | str) -> dict[str, Any] | list[Any]:
    """Bytes of a payload -> a JSON object (or, for the Alertmanager API format, an array)."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise AlertFormatError(f"payload is {len(raw)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    try:
        payload = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise AlertFormatError(f"not valid JSON: {str(exc)[:300]}") from None
    except RecursionError:
        raise AlertFormatError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(payload, dict | list):
        raise AlertFormatError(f"expected a JSON object or array, got {kind(payload)}")
    if _depth(payload) > MAX_DEPTH:
        raise AlertFormatError(f"JSON nested deeper than {MAX_DEPTH} levels")
    if _SURROGATE.search(raw):
        try:  # an unpaired surrogate escape decodes to a string no database stores
            json.dumps(payload, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise AlertFormatError("not valid JSON: an unpaired \\u surrogate escape") from None
    return payload


def _no_constant(name: str) -> Any:
    raise AlertFormatError(f"not valid JSON: {name} is not a JSON number")


def _finite(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise AlertFormatError(f"not valid JSON: {literal[:40]} is out of range")
    return number


def _depth(value: Any) -> int:
    """The nesting depth of arrays and objects (iterative: hostile input cannot recurse)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return deepest


def parse_alerts(
    raw: bytes | str,
    *,
    fmt: str | None = None,
    service_labels: Sequence[str] = ("service",),
    max_alerts: int = MAX_PER_PAYLOAD,
) -> list[Alert]:
    """Parse one payload (format auto-detected unless given) into normalized alerts; one
    carrying more than `max_alerts` ([alerts] max_per_payload) is refused whole, before any
    of its alerts is read."""
    if fmt is not None:
        formats.get(fmt)  # an unknown format is named before the payload is read
    payload = decode(raw)
    count = _count(payload)
    if count > max_alerts:
        raise AlertFormatError(
            f"payload carries {count} alerts; the limit is {max_alerts} ([alerts] max_per_payload)"
        )
    name = fmt or formats.detect(payload)
    _, parse = formats.get(name)
    alerts = parse(payload, service_labels)
    if not alerts:
        raise AlertFormatError(f"{name} payload contains no alerts")
    return [_storable(alert) for alert in alerts]


def _count(payload: dict[str, Any] | list[Any]) -> int:
    """How many alerts a payload carries: an array's items, a webhook's `alerts`, else one."""
    if isinstance(payload, list):
        return len(payload)
    items = payload.get("alerts")
    return len(items) if isinstance(items, list) else 1


def _storable(alert: Alert) -> Alert:
    """Every text a database column will hold, without NUL (whatever the adapter)."""
    return replace(
        alert,
        name=clean(alert.name),
        service=clean(alert.service) if alert.service else alert.service,
        severity=clean(alert.severity) if alert.severity else alert.severity,
        fingerprint=clean(alert.fingerprint),
        labels={clean(k): clean(v) for k, v in alert.labels.items()},
        annotations={clean(k): clean(v) for k, v in alert.annotations.items()},
    )
