"""Who an alert is: an identity rca-kit computes from the alert's content, never one a
payload claims.

- An alert's identity hashes its name and its sorted labels (`alert_identity`); PagerDuty's
  incidents and Opsgenie's alerts are their id, hashed with the source's name
  (`source_identity`). The encodings cannot meet: a label called `alertname` is a label like
  any other, and no label set hashes like an incident id.
- A payload's own `fingerprint` (Alertmanager, Grafana, the Alertmanager API) stays in the
  raw payload. Alertmanager's is `model.LabelSet.Fingerprint()`, FNV-1a 64 over the sorted
  label names and values each followed by the byte 0xff (`alertmanager_fingerprint`): one
  that is not what the labels give is reported (a forged or altered alert), never used.
  Grafana hashes labels it does not send (`__alert_rule_uid__`), so its own cannot be checked.
- Rows stored by releases that took the payload's fingerprint (or a 16-digit hash of name
  and labels) are found again by `earlier_keys`, and a row found that way is the same alert
  only when its content is this alert's (`notices.store` checks).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = 2**64 - 1
_SEPARATOR = 0xFF
IDENTITY_DIGITS = 32  # 128 bits of SHA-256
BY_ID = ("pagerduty", "opsgenie")  # formats whose identity is the sender's id


def _digest(value: Any, digits: int = IDENTITY_DIGITS) -> str:
    canonical = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:digits]


def alert_identity(name: str, labels: Mapping[str, str]) -> str:
    """The identity of an alert: its name and sorted labels (equal exactly when both are)."""
    return _digest(["alert", name, sorted(labels.items())])


def source_identity(source: str, key: str) -> str:
    """The identity of a sender's own object (a PagerDuty incident, an Opsgenie alert)."""
    return _digest([source, key])


def alertmanager_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set, as its webhook and API write it."""
    value = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8", "surrogatepass"):
                value = ((value ^ byte) * _FNV_PRIME) & _MASK
            value = ((value ^ _SEPARATOR) * _FNV_PRIME) & _MASK
    return f"{value:016x}"


def claimed(raw: Mapping[str, Any]) -> str | None:
    """The fingerprint an Alertmanager-shaped alert says it has (None: none given)."""
    value = raw.get("fingerprint")
    return value if isinstance(value, str) and value else None


def _legacy(name: str, labels: Mapping[str, str]) -> str:
    """The identity earlier releases gave an alert without a usable payload fingerprint."""
    canonical = json.dumps({"alertname": name, **labels}, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def earlier_keys(
    source_format: str, name: str, labels: Mapping[str, str], raw: Mapping[str, Any]
) -> set[str]:
    """Fingerprints earlier releases may have stored this alert under (lookup keys only)."""
    if source_format == "pagerduty":
        incident = labels.get("incident_id")
        return {_legacy("pagerduty-incident", {"id": incident})} if incident else set()
    if source_format == "opsgenie":
        alert = raw.get("alert")
        key = alert.get("alertId") if isinstance(alert, dict) else None
        return {_legacy("opsgenie-alert", {"id": key[:200]})} if isinstance(key, str) else set()
    keys = {alertmanager_fingerprint(labels)}
    if labels.get("alertname", name) == name:
        keys.add(_legacy(name, labels))
    given = claimed(raw)
    if given is not None and len(given) <= 64:
        keys.add(given)
    return keys
