"""Grafana unified alerting webhooks: Alertmanager's shape with `"version": "1"`, plus orgId,
state, title and message; each alert adds values, valueString and dashboard, panel and
silence URLs (kept as links) and its valueString (kept as an annotation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..exceptions import AlertFormatError
from ..models import Alert
from .alertmanager import parse_group
from .common import obj, require, show


def detect(payload: Any) -> bool:
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("alerts"), list)
        and (str(payload.get("version")) == "1" or "orgId" in payload)
    )


def parse(payload: Any, service_labels: Sequence[str]) -> list[Alert]:
    body = obj(payload, "the Grafana webhook payload")
    version = str(require(body, "version", ""))
    if version != "1":
        hint = " (an Alertmanager webhook? use the alertmanager format)" if version == "4" else ""
        raise AlertFormatError(
            f"version is {show(version)}; a Grafana alerting webhook has version 1{hint}"
        )
    return parse_group(
        body,
        service_labels,
        "grafana",
        extra_links=("dashboardURL", "panelURL", "silenceURL"),
        extra_annotations=("valueString",),
    )
