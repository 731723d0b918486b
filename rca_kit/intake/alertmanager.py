"""Prometheus Alertmanager webhook payloads (version 4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, cast

from ..exceptions import AlertFormatError
from ..models import Alert
from .common import fingerprint, parse_end, parse_time, pick_service, require, string_map


def detect(payload: dict[str, Any]) -> bool:
    return isinstance(payload.get("alerts"), list) and "version" in payload


def parse(payload: dict[str, Any], service_labels: Sequence[str]) -> list[Alert]:
    version = str(payload.get("version"))
    if version != "4":
        raise AlertFormatError(
            f"version is {version!r}; only Alertmanager webhook version 4 is supported"
        )
    common = string_map(payload.get("commonLabels"), "commonLabels")
    alerts: list[Alert] = []
    for index, item in enumerate(payload["alerts"]):
        where = f"alerts[{index}]."
        if not isinstance(item, dict):
            raise AlertFormatError(f"alerts[{index}] must be an object")
        labels = {**common, **string_map(item.get("labels"), where + "labels")}
        name = labels.get("alertname")
        if not name:
            raise AlertFormatError(f"{where}labels.alertname is required")
        status = item.get("status", payload.get("status"))
        if status not in ("firing", "resolved"):
            raise AlertFormatError(f"{where}status must be 'firing' or 'resolved', got {status!r}")
        starts = parse_time(require(item, "startsAt", where), where + "startsAt")
        ends = parse_end(item.get("endsAt"), where + "endsAt")
        if status == "resolved" and ends is None:
            raise AlertFormatError(f"{where}endsAt is required when status is 'resolved'")
        if ends is not None and ends < starts:
            raise AlertFormatError(f"{where}endsAt is before startsAt")
        fp = item.get("fingerprint")
        alerts.append(
            Alert(
                name=name,
                status=cast(Literal["firing", "resolved"], status),
                fingerprint=fp
                if isinstance(fp, str) and 0 < len(fp) <= 64
                else fingerprint(name, labels),
                starts_at=starts,
                ends_at=ends,
                service=pick_service(labels, service_labels),
                severity=labels.get("severity"),
                labels=labels,
                annotations=string_map(item.get("annotations"), where + "annotations"),
                source_format="alertmanager",
                raw=item,
            )
        )
    return alerts
