"""Alert intake: one adapter per format, auto-detection, normalization."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from ..exceptions import AlertFormatError
from ..models import Alert
from . import alertmanager, generic

Adapter = Callable[[dict[str, Any], Sequence[str]], list[Alert]]
Detector = Callable[[dict[str, Any]], bool]

MAX_PAYLOAD_BYTES = 5 * 1024 * 1024


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

    def detect(self, payload: dict[str, Any]) -> str:
        for name, (detect, _) in self._formats.items():
            if detect(payload):
                return name
        known = ", ".join(self._formats)
        raise AlertFormatError(f"payload matches no known alert format (known: {known})")


formats = FormatRegistry()
formats.register("alertmanager", alertmanager.detect, alertmanager.parse)
formats.register("generic", generic.detect, generic.parse)


def decode(raw: bytes | str) -> dict[str, Any]:
    """Bytes of a payload -> a JSON object, or AlertFormatError."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise AlertFormatError(f"payload is {len(raw)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AlertFormatError(f"not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise AlertFormatError(f"expected a JSON object, got {type(payload).__name__}")
    return payload


def parse_alerts(
    raw: bytes | str, *, fmt: str | None = None, service_labels: Sequence[str] = ("service",)
) -> list[Alert]:
    """Parse one payload (format auto-detected unless given) into normalized alerts."""
    payload = decode(raw)
    name = fmt or formats.detect(payload)
    _, parse = formats.get(name)
    alerts = parse(payload, service_labels)
    if not alerts:
        raise AlertFormatError(f"{name} payload contains no alerts")
    return alerts
