"""Normalization shared by alert adapters: times, label maps, fingerprints, services."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..exceptions import AlertFormatError

MAX_LABELS = 200
MAX_VALUE_CHARS = 4096
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def parse_time(value: Any, field: str) -> datetime:
    """ISO 8601 (nanosecond fractions and 'Z' accepted) or epoch seconds -> aware UTC datetime."""
    if isinstance(value, bool) or value is None:
        raise AlertFormatError(f"{field} must be an ISO 8601 time, got {value!r}")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise AlertFormatError(f"{field}: {value!r} is not a valid epoch time") from None
    if not isinstance(value, str):
        raise AlertFormatError(f"{field} must be an ISO 8601 time, got {type(value).__name__}")
    text = _FRACTION.sub(lambda m: m.group(1), value.strip()[:64]).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise AlertFormatError(
            f"{field}: {value[:64]!r} is not an ISO 8601 time (e.g. 2026-11-20T13:20:00Z)"
        ) from None
    if parsed.tzinfo is None:
        raise AlertFormatError(f"{field}: {value[:64]!r} has no time zone (append Z for UTC)")
    return parsed.astimezone(UTC)


def parse_end(value: Any, field: str) -> datetime | None:
    """An end time; None, empty or year 1 (Alertmanager's 'still firing') -> None."""
    if value in (None, ""):
        return None
    parsed = parse_time(value, field)
    return None if parsed.year <= 1 else parsed


def string_map(value: Any, field: str) -> dict[str, str]:
    """A JSON object of strings, bounded in size; anything else is a clear error."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AlertFormatError(f"{field} must be an object of strings, got {type(value).__name__}")
    if len(value) > MAX_LABELS:
        raise AlertFormatError(f"{field} has {len(value)} entries; the limit is {MAX_LABELS}")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool):
            raise AlertFormatError(f"{field}.{key[:64]} must be a string")
        text = item if isinstance(item, str) else json.dumps(item)
        out[str(key)[:256]] = text[:MAX_VALUE_CHARS]
    return out


def fingerprint(name: str, labels: Mapping[str, str]) -> str:
    """A stable id of the alert's identity: its name and sorted labels."""
    canonical = json.dumps({"alertname": name, **labels}, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def pick_service(labels: Mapping[str, str], service_labels: Sequence[str]) -> str | None:
    """The first configured label present names the affected service."""
    for key in service_labels:
        if labels.get(key):
            return labels[key]
    return None


def require(payload: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in payload or payload[key] in (None, ""):
        raise AlertFormatError(f"{where}{key} is required")
    return payload[key]
