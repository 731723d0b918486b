"""The `rca` command line: a thin layer that parses input, calls the flows and presents.

Each command imports only what it uses, so listing the register never loads pandas,
papermill or jupyter: its module is imported when the command runs (base.COMMAND_MODULES).
"""

from __future__ import annotations

from ..lean import skip_unused_imports
from .base import cli

__all__ = ["cli", "main"]


def main() -> None:
    skip_unused_imports()
    cli(obj={})
