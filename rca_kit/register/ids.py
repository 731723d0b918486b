"""Generated identifiers and timestamps of the register."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_id(prefix: str) -> str:
    """Generated ids only: time-ordered and random, never derived from alert content."""
    return f"{prefix}-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
