"""A plain JSON alert: {name, service, starts_at, ends_at, status, severity, labels,
annotations, links}; only `name` and `starts_at` are required."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..exceptions import AlertFormatError
from ..models import Alert
from . import links
from .common import (
    MAX_NAME_CHARS,
    fingerprint,
    make_alert,
    obj,
    parse_end,
    parse_time,
    require,
    show,
    string_map,
)

_KNOWN = {
    "name",
    "service",
    "starts_at",
    "ends_at",
    "labels",
    "annotations",
    "severity",
    "status",
    "links",
}


def detect(payload: Any) -> bool:
    return isinstance(payload, dict) and "name" in payload and "starts_at" in payload


def parse(payload: Any, service_labels: Sequence[str]) -> list[Alert]:
    body = obj(payload, "a generic alert")
    unknown = sorted(str(key) for key in set(body) - _KNOWN)
    if unknown:
        raise AlertFormatError(
            f"unknown field {show(unknown[0][:64])} in generic alert "
            f"(expected: {', '.join(sorted(_KNOWN))})"
        )
    name = require(body, "name", "")
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS:
        raise AlertFormatError(f"name must be a string of at most {MAX_NAME_CHARS} characters")
    labels = string_map(body.get("labels"), "labels")
    service = body.get("service")
    if service is not None and not isinstance(service, str):
        raise AlertFormatError("service must be a string")
    if service:
        labels.setdefault("service", service[:MAX_NAME_CHARS])
    severity = body.get("severity")
    if severity is not None and not isinstance(severity, str):
        raise AlertFormatError("severity must be a string")
    starts = parse_time(require(body, "starts_at", ""), "starts_at")
    ends = parse_end(body.get("ends_at"), "ends_at")
    status = body.get("status") or ("resolved" if ends is not None else "firing")
    if status not in ("firing", "resolved"):
        raise AlertFormatError(f"status must be 'firing' or 'resolved', got {show(status)}")
    annotations = string_map(body.get("annotations"), "annotations")
    given = string_map(body.get("links"), "links")
    return [
        make_alert(
            where="",
            name=name,
            status=status,
            fingerprint=fingerprint(name, labels),
            starts_at=starts,
            ends_at=ends,
            labels=labels,
            annotations=annotations,
            service_labels=service_labels,
            source_format="generic",
            raw=body,
            links=links.collect([*links.runbook(annotations), *given.items()]),
            service=service or None,
            severity=severity or None,
            start_field="starts_at",
            end_field="ends_at",
        )
    ]
