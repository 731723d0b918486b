"""The register: alerts, investigations, runs, tasks, reviews and the audit chain, in SQL."""

from .audit import verify_chain
from .facade import Register

__all__ = ["Register", "verify_chain"]
