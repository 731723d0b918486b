"""Normalization shared by alert adapters: times, label maps, identities, services, errors.

Every error an adapter raises is one line naming the field's path in the payload
(`alerts[0].startsAt is required`); values from the payload appear only as bounded reprs.
Alert times are bounded (times.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, cast

from ..exceptions import AlertFormatError
from ..inert import shown
from ..models import Alert
from .identity import alert_identity
from .times import bounded_times

MAX_LABELS = 200
MAX_VALUE_CHARS = 4096
MAX_KEY_CHARS = 256
MAX_NAME_CHARS = 256
MAX_ALERTS = 1000  # alerts in one payload, whatever [alerts] max_per_payload says
_FRACTION = re.compile(r"(\.\d{1,6})\d*")
_DIGITS = re.compile(r"^\s*\d{1,20}(\.\d+)?\s*$")


class NotAnAlert(AlertFormatError):
    """A well-formed notification that is not an alert (an acknowledgement, a note): nothing
    to store. A receiver may answer it as handled instead of keeping it as a dead letter."""


def show(value: Any, limit: int = 60) -> str:
    """A bounded, one-line repr of a payload value for an error message."""
    return shown(value, limit)


def key_name(key: Any) -> str:
    """A payload key as part of a field path: printable and bounded, else its repr."""
    text = str(key)[:64]
    return text if text.isprintable() and text else repr(text)


def kind(value: Any) -> str:
    """The JSON name of a value's type, for 'must be …, got …' messages."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number" if isinstance(value, int | float) else "value")


def obj(value: Any, field: str) -> dict[str, Any]:
    """A JSON object, else a clear error."""
    if not isinstance(value, dict):
        raise AlertFormatError(f"{field} must be an object, got {kind(value)}")
    return value


def require(payload: Mapping[str, Any], key: str, where: str) -> Any:
    """payload[key], present and not null or empty; `where` is the path prefix ("alerts[0].")."""
    if key not in payload or payload[key] in (None, ""):
        raise AlertFormatError(f"{where}{key} is required")
    return payload[key]


def text(value: Any, field: str, limit: int = MAX_VALUE_CHARS) -> str:
    """A string (numbers are written as JSON), truncated to `limit` characters."""
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(value)[:limit]
    raise AlertFormatError(f"{field} must be a string, got {kind(value)}")


def clean(value: str) -> str:
    """NUL is no character a database column stores (PostgreSQL refuses it): U+FFFD instead."""
    return value.replace("\x00", "\ufffd")


def optional_text(value: Any, field: str, limit: int = MAX_VALUE_CHARS) -> str | None:
    return None if value in (None, "") else text(value, field, limit)


def parse_time(value: Any, field: str) -> datetime:
    """ISO 8601 (nanosecond fractions and 'Z' accepted) or epoch seconds -> aware UTC datetime."""
    if isinstance(value, bool) or value is None:
        raise AlertFormatError(f"{field} must be an ISO 8601 time, got {show(value)}")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise AlertFormatError(f"{field}: {show(value)} is not a valid epoch time") from None
    if not isinstance(value, str):
        raise AlertFormatError(f"{field} must be an ISO 8601 time, got {kind(value)}")
    stripped = _FRACTION.sub(lambda m: m.group(1), value.strip()[:64]).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        raise AlertFormatError(
            f"{field}: {show(value[:64])} is not an ISO 8601 time (e.g. 2026-11-20T13:20:00Z)"
        ) from None
    if parsed.tzinfo is None:
        raise AlertFormatError(f"{field}: {show(value[:64])} has no time zone (append Z for UTC)")
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise AlertFormatError(f"{field}: {show(value[:64])} is out of range") from None


def parse_epoch(value: Any, field: str) -> datetime:
    """Epoch seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude, as
    Opsgenie mixes them), or an ISO 8601 time -> aware UTC datetime."""
    if isinstance(value, str) and _DIGITS.match(value):
        value = float(value)  # a digit string of any length is a float (perhaps inf)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            raise AlertFormatError(f"{field}: {show(value)} is not a valid epoch time") from None
        for scale in (1e9, 1e6, 1e3):
            if abs(number) >= scale * 1e8:  # later than 1973 in this unit
                number /= scale
                break
        return parse_time(number, field)
    return parse_time(value, field)


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
        raise AlertFormatError(f"{field} must be an object of strings, got {kind(value)}")
    if len(value) > MAX_LABELS:
        raise AlertFormatError(f"{field} has {len(value)} entries; the limit is {MAX_LABELS}")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool):
            raise AlertFormatError(f"{field}.{key_name(key)} must be a string, got {kind(item)}")
        value_text = item if isinstance(item, str) else json.dumps(item)
        out[str(key)[:MAX_KEY_CHARS]] = value_text[:MAX_VALUE_CHARS]
    return out


def fingerprint(name: str, labels: Mapping[str, str]) -> str:
    """The alert's identity, computed from its name and sorted labels as they are stored
    (identity.py)."""
    return alert_identity(clean(name), {clean(k): clean(v) for k, v in labels.items()})


def pick_service(labels: Mapping[str, str], service_labels: Sequence[str]) -> str | None:
    """The first configured label present names the affected service."""
    for key in service_labels:
        if labels.get(key):
            return labels[key]
    return None


def alert_list(value: Any, field: str) -> list[Any]:
    """The list of alerts of a payload: an array, not empty, bounded."""
    if not isinstance(value, list):
        raise AlertFormatError(f"{field} must be an array of alerts, got {kind(value)}")
    if len(value) > MAX_ALERTS:
        raise AlertFormatError(f"{field} has {len(value)} alerts; the limit is {MAX_ALERTS}")
    return value


def make_alert(
    *,
    where: str,
    name: str,
    status: str,
    fingerprint: str,
    starts_at: datetime,
    ends_at: datetime | None,
    labels: dict[str, str],
    annotations: dict[str, str],
    service_labels: Sequence[str],
    source_format: str,
    raw: dict[str, Any],
    links: dict[str, str] | None = None,
    service: str | None = None,
    severity: str | None = None,
    start_field: str = "startsAt",
    end_field: str = "endsAt",
    warnings: tuple[str, ...] = (),
) -> Alert:
    """The normalized alert, after the checks every format shares (`where`: path prefix)."""
    if status not in ("firing", "resolved"):
        raise AlertFormatError(f"{where}status must be 'firing' or 'resolved', got {show(status)}")
    if len(labels) > MAX_LABELS:
        raise AlertFormatError(
            f"{where}labels has {len(labels)} entries; the limit is {MAX_LABELS}"
        )
    if ends_at is not None and ends_at < starts_at:
        raise AlertFormatError(f"{where}{end_field} is before {start_field}")
    ends_at = bounded_times(starts_at, ends_at, status, (where + start_field, where + end_field))
    chosen = service or pick_service(labels, service_labels)
    level = severity or labels.get("severity")
    return Alert(
        name=name[:MAX_NAME_CHARS],
        status=cast(Literal["firing", "resolved"], status),
        fingerprint=fingerprint[:64],
        starts_at=starts_at,
        ends_at=ends_at,
        service=chosen[:MAX_NAME_CHARS] if chosen else None,
        severity=level[:MAX_NAME_CHARS] if level else None,
        labels=labels,
        annotations=annotations,
        source_format=source_format,
        raw=raw,
        links=links or {},
        warnings=warnings,
    )
