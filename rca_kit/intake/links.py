"""The http(s) links an alert carries (runbook, generator, dashboard, incident page …).

Links come from untrusted payloads and end up as `href`s in reports: only absolute http and
https URLs with a host are kept, without whitespace or control characters, bounded in length
and number; anything else (`javascript:`, `data:`, relative paths) is dropped silently, since
a bad link is no reason to lose the alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

MAX_URL_CHARS = 2048
MAX_LINKS = 20
# annotation (or Opsgenie detail) keys that hold a runbook, in order of preference
RUNBOOK_KEYS = ("runbook_url", "runbook")


def safe_url(value: Any) -> str | None:
    """The URL if it is an absolute http(s) URL with a host, else None."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > MAX_URL_CHARS or any(c.isspace() or not c.isprintable() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 host
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def collect(candidates: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """{name: url} of the candidates that are safe URLs; the first URL of a name wins."""
    links: dict[str, str] = {}
    for name, value in candidates:
        url = safe_url(value)
        if url and name not in links and len(links) < MAX_LINKS:
            links[name[:64]] = url
    return links


def runbook(annotations: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The runbook candidate of an annotation (or detail) map."""
    return [("runbook", annotations.get(key)) for key in RUNBOOK_KEYS]
