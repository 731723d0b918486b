"""The register: alerts, investigations, runs, tasks and the audit chain, in SQL."""

from .audit import verify_chain
from .store import Register

__all__ = ["Register", "verify_chain"]
