"""The register: alerts, investigations, runs, tasks, reviews and the audit chain, in SQL.

`Register` and `verify_chain` are imported on first use, so a module of this package that
needs no SQLAlchemy (listing.py, revision.py) can be imported without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Register", "verify_chain"]

if TYPE_CHECKING:
    from .audit import verify_chain
    from .facade import Register


def __getattr__(name: str) -> Any:
    if name == "Register":
        from .facade import Register

        return Register
    if name == "verify_chain":
        from .audit import verify_chain

        return verify_chain
    msg = f"module 'rca_kit.register' has no attribute {name!r}"
    raise AttributeError(msg)
