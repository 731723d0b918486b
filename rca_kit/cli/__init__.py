"""The `rca` command line: a thin layer that parses input, calls the flows and presents.

Each command imports only what it uses, so listing the register never loads pandas,
papermill or jupyter.
"""

from __future__ import annotations

from . import alerts, backlog, commands, loop, serve, tickets
from .base import cli

__all__ = ["alerts", "backlog", "cli", "commands", "loop", "main", "serve", "tickets"]


def main() -> None:
    cli(obj={})
