"""Alerts from payload files (`rca alert ingest`, `rca investigate FILE`): bounded reads,
and every payload that cannot be stored kept as a dead letter with the reason."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from . import intake
from .config import Workspace
from .exceptions import InputError, RcaKitError
from .models import Alert
from .register import Register

__all__ = ["ingest_file", "shared"]


def ingest_file(
    workspace: Workspace, register: Register, path: Path, fmt: str | None = None
) -> list[str]:
    """Store every alert in a payload file; a payload that fails to parse is dead-lettered
    (one over the size limit: its head, size and sha256, never the whole file)."""
    try:
        raw, size, digest = _read_bounded(path, intake.MAX_PAYLOAD_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read alert file: {exc.strerror}", where=str(path)) from None
    if size > intake.MAX_PAYLOAD_BYTES:
        message = f"payload is {size} bytes; the limit is {intake.MAX_PAYLOAD_BYTES}"
        register.dead_letter(
            raw,
            source=f"file:{path}",
            error=f"{message}; first {len(raw)} bytes kept, sha256 {digest}",
        )
        raise InputError(message, where=str(path))
    try:
        cfg = workspace.settings.alerts
        alerts = intake.parse_alerts(
            raw, fmt=fmt, service_labels=cfg.service_labels, max_alerts=cfg.max_per_payload
        )
    except Exception as exc:  # whatever a parser raised, the payload is kept and named
        reason = exc.message if isinstance(exc, RcaKitError) else f"{type(exc).__name__}: {exc}"
        register.dead_letter(raw, source=f"file:{path}", error=reason[:2000])
        if isinstance(exc, RcaKitError):
            exc.where = str(path)
            raise
        raise InputError(reason.splitlines()[0][:300], where=str(path)) from None
    return [register.store_alert(alert)[0] for alert in alerts]


def _read_bounded(path: Path, limit: int) -> tuple[bytes, int, str]:
    """A payload file's bytes (only its head when it is over `limit`), size and sha256: a
    file over the limit is hashed as it streams by, never held whole."""
    digest = hashlib.sha256()
    head = bytearray()
    size = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
            if len(head) <= limit:
                head += block[: limit + 1 - len(head)]
    kept = bytes(head) if size <= limit else bytes(head[:DEAD_LETTER_HEAD])
    return kept, size, digest.hexdigest()


DEAD_LETTER_HEAD = 64 * 1024  # of a payload over the limit, this much is kept


def shared(register: Register, alert_ids: list[str], within: timedelta) -> dict[str, str]:
    """Of the alerts of one payload, those that repeat an earlier one of it (same name and
    service, starting within `within`): alert id -> the alert whose investigation it shares."""
    kept: list[Alert] = []
    found: dict[str, str] = {}
    for alert in (register.alert(alert_id) for alert_id in alert_ids):
        twin = next(
            (
                k
                for k in kept
                if (k.name, k.service) == (alert.name, alert.service)
                and abs(k.starts_at - alert.starts_at) <= within
            ),
            None,
        )
        if twin is None or alert.status != "firing":
            kept.append(alert)
        else:
            found[str(alert.id)] = str(twin.id)
    return found
