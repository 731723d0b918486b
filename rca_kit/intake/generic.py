"""A plain JSON alert: {name, service, starts_at, ends_at, labels, annotations, severity}."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, cast

from ..exceptions import AlertFormatError
from ..models import Alert
from .common import fingerprint, parse_end, parse_time, pick_service, require, string_map

_KNOWN = {"name", "service", "starts_at", "ends_at", "labels", "annotations", "severity", "status"}


def detect(payload: dict[str, Any]) -> bool:
    return "name" in payload and "starts_at" in payload


def parse(payload: dict[str, Any], service_labels: Sequence[str]) -> list[Alert]:
    unknown = sorted(set(payload) - _KNOWN)
    if unknown:
        raise AlertFormatError(
            f"unknown field {unknown[0]!r} in generic alert (expected: {', '.join(sorted(_KNOWN))})"
        )
    name = require(payload, "name", "")
    if not isinstance(name, str) or len(name) > 256:
        raise AlertFormatError("name must be a string of at most 256 characters")
    labels = string_map(payload.get("labels"), "labels")
    service = payload.get("service")
    if service is not None and not isinstance(service, str):
        raise AlertFormatError("service must be a string")
    if service:
        labels.setdefault("service", service[:256])
    severity = payload.get("severity")
    if severity is not None and not isinstance(severity, str):
        raise AlertFormatError("severity must be a string")
    starts = parse_time(payload["starts_at"], "starts_at")
    ends = parse_end(payload.get("ends_at"), "ends_at")
    if ends is not None and ends < starts:
        raise AlertFormatError("ends_at is before starts_at")
    status = payload.get("status") or ("resolved" if ends is not None else "firing")
    if status not in ("firing", "resolved"):
        raise AlertFormatError(f"status must be 'firing' or 'resolved', got {status!r}")
    return [
        Alert(
            name=name,
            status=cast(Literal["firing", "resolved"], status),
            fingerprint=fingerprint(name, labels),
            starts_at=starts,
            ends_at=ends,
            service=service[:256] if service else pick_service(labels, service_labels),
            severity=severity,
            labels=labels,
            annotations=string_map(payload.get("annotations"), "annotations"),
            source_format="generic",
            raw=payload,
        )
    ]
