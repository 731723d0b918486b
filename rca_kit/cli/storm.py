"""How `rca investigate --batch` presents a batch (the work is rca_kit.batch)."""

from __future__ import annotations

import json

import click

from ..config import Workspace
from ..exceptions import RcaKitError
from .base import echo


def investigate_batch(ws: Workspace, pattern: str, fmt: str | None, as_json: bool) -> None:
    """Run the batch with its one progress display on stderr, then print one line per
    investigation (or one JSON object); exit 1 unless every investigation is done."""
    from ..batch import run_batch
    from ..batch_progress import Display
    from ..children import terminate_gracefully

    terminate_gracefully()  # SIGTERM ends the batch as Ctrl-C does (exit 143, no traceback)
    result = run_batch(ws, pattern, fmt, display=Display())
    for path, error in result.file_errors:
        echo(f"{path}: {error}", err=True)
    for warning in dict.fromkeys(w for item in result.items for w in item.warnings):
        echo(f"warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(result.to_json()))
    else:
        for item in result.items:
            shared = f" (also for {', '.join(item.copies)})" if item.copies else ""
            if item.status == "failed":
                what = f"failed: {item.error}"
            else:
                what = f"{item.status}, leading hypothesis {item.leading or 'none supported'}"
            echo(f"{item.investigation_id or item.alert_id}: {what}{shared}")
    if not result.ok:
        failed = len(result.items) - result.count("done")
        files = f" and {len(result.file_errors)} files" if result.file_errors else ""
        raise RcaKitError(
            f"{failed} of {len(result.items)} investigations{files} not done",
            hint="fix what the lines above say, then run the same command again",
        )
