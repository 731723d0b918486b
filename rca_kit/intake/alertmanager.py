"""Prometheus Alertmanager webhook payloads (version 4); the alert shape Grafana shares."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..exceptions import AlertFormatError
from ..models import Alert
from . import links
from .common import (
    MAX_VALUE_CHARS,
    alert_list,
    fingerprint,
    make_alert,
    obj,
    parse_end,
    parse_time,
    require,
    show,
    string_map,
)
from .identity import alertmanager_fingerprint


def detect(payload: Any) -> bool:
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("alerts"), list)
        and "version" in payload
    )


def parse(payload: Any, service_labels: Sequence[str]) -> list[Alert]:
    body = obj(payload, "the Alertmanager webhook payload")
    version = str(require(body, "version", ""))
    if version != "4":
        hint = " (a Grafana webhook? use the grafana format)" if version == "1" else ""
        raise AlertFormatError(
            f"version is {show(version)}; only Alertmanager webhook version 4 is supported{hint}"
        )
    return parse_group(body, service_labels, "alertmanager")


def parse_group(
    body: dict[str, Any],
    service_labels: Sequence[str],
    source_format: str,
    extra_links: tuple[str, ...] = (),
    extra_annotations: tuple[str, ...] = (),
) -> list[Alert]:
    """The alerts of a webhook group: common labels and annotations under each alert's own.

    `extra_links`: more URL fields of each alert to keep as links (Grafana's dashboardURL …);
    `extra_annotations`: string fields of each alert to keep as annotations (valueString).
    """
    items = alert_list(require(body, "alerts", ""), "alerts")
    common = string_map(body.get("commonLabels"), "commonLabels")
    common_notes = string_map(body.get("commonAnnotations"), "commonAnnotations")
    group_status = body.get("status")
    outer = [("alertmanager", body.get("externalURL"))] if source_format == "alertmanager" else []
    return [
        parse_item(
            item,
            f"alerts[{index}].",
            service_labels,
            source_format,
            common=common,
            common_annotations=common_notes,
            default_status=group_status,
            extra_links=extra_links,
            extra_annotations=extra_annotations,
            outer_links=outer,
        )
        for index, item in enumerate(items)
    ]


def parse_item(
    item: Any,
    where: str,
    service_labels: Sequence[str],
    source_format: str,
    *,
    common: dict[str, str] | None = None,
    common_annotations: dict[str, str] | None = None,
    default_status: Any = None,
    status: str | None = None,
    open_ended: bool = False,
    extra_links: tuple[str, ...] = (),
    extra_annotations: tuple[str, ...] = (),
    outer_links: Iterable[tuple[str, Any]] = (),
) -> Alert:
    """One Alertmanager-shaped alert (labels, annotations, startsAt, endsAt; its identity is
    computed from name and labels, the payload's fingerprint only checked: identity.py).

    `status` overrides the item's own; `open_ended` ignores endsAt (the API's is a projected
    expiry, not an end).
    """
    item = obj(item, where.rstrip("."))
    labels = {**(common or {}), **string_map(item.get("labels"), where + "labels")}
    name = labels.get("alertname")
    if not name:
        raise AlertFormatError(f"{where}labels.alertname is required")
    state = status or item.get("status", default_status)
    if state is None:
        raise AlertFormatError(f"{where}status is required")
    starts = parse_time(require(item, "startsAt", where), where + "startsAt")
    ends = None if open_ended else parse_end(item.get("endsAt"), where + "endsAt")
    if state == "resolved" and ends is None:
        raise AlertFormatError(f"{where}endsAt is required when status is 'resolved'")
    annotations = {
        **{key: item[key][:MAX_VALUE_CHARS] for key in extra_annotations if _is_text(item, key)},
        **(common_annotations or {}),
        **string_map(item.get("annotations"), where + "annotations"),
    }
    return make_alert(
        where=where,
        name=name,
        status=state,
        fingerprint=fingerprint(name, labels),  # the payload's own stays in raw, unused
        starts_at=starts,
        ends_at=ends,
        labels=labels,
        annotations=annotations,
        service_labels=service_labels,
        source_format=source_format,
        raw=item,
        links=links.collect(
            [
                *links.runbook(annotations),
                ("generator", item.get("generatorURL")),
                *((key.removesuffix("URL").lower(), item.get(key)) for key in extra_links),
                *outer_links,
            ]
        ),
        warnings=_fingerprint_check(item, labels, where, source_format),
    )


def _fingerprint_check(
    item: dict[str, Any], labels: dict[str, str], where: str, source_format: str
) -> tuple[str, ...]:
    """A note when the payload's fingerprint is not the one Alertmanager computes from these
    labels (forged, or altered on the way). Grafana's hashes labels it does not send."""
    given = item.get("fingerprint")
    if source_format == "grafana" or given in (None, ""):
        return ()
    expected = alertmanager_fingerprint(labels)
    if given == expected:
        return ()
    return (
        f"{where}fingerprint {show(given, 40)} is not the one Alertmanager computes from the "
        f"labels ({expected}); rca-kit identifies the alert by its labels",
    )


def _is_text(item: dict[str, Any], key: str) -> bool:
    return isinstance(item.get(key), str) and bool(item[key])
