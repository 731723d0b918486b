"""The `rca` command line: a thin layer that parses input, calls the flows and presents.

Each command imports only what it uses, so listing the register never loads pandas,
papermill or jupyter.
"""

from __future__ import annotations

from . import alerts, backlog, commands, lab, loop, serve, tickets, triage
from .base import cli

__all__ = [
    "alerts",
    "backlog",
    "cli",
    "commands",
    "lab",
    "loop",
    "main",
    "serve",
    "tickets",
    "triage",
]


def main() -> None:
    cli(obj={})
