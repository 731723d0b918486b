"""`rca verify` and `rca review`: close the loop on fixes and incidents."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

import click

from ..exceptions import InputError
from .base import _workspace, actor, cli, echo, handled

_WHEN = click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"])


def _line(result: Any) -> str:
    text = f"{result.task_id}: {result.result} — {result.reason}"
    if result.investigation_id:
        text += f" [{result.investigation_id}]"
    return text


@cli.command()
@click.argument("task_id", required=False)
@click.option("--due", "all_due", is_flag=True, help="Verify every done task that is due.")
@click.option("--window-start", type=_WHEN, help="Start of the post-fix window (default: done).")
@click.option("--window-end", type=_WHEN, help="End of the post-fix window (default: now).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per task.")
@click.option("--now", type=_WHEN, hidden=True, help="Pretend the current time is this.")
@click.pass_context
@handled
def verify(
    ctx: click.Context,
    task_id: str | None,
    all_due: bool,
    window_start: datetime | None,
    window_end: datetime | None,
    as_json: bool,
    now: datetime | None,
) -> None:
    """Re-run the test that found TASK_ID's problem on a post-fix window: verified, reopened
    or pending."""
    from ..loop import verify_due, verify_task

    if bool(task_id) == all_due:
        raise InputError("give a TASK_ID or --due (not both)")
    if all_due and (window_start or window_end):
        raise InputError("--window-start/--window-end go with one TASK_ID, not --due")
    ws = _workspace(ctx)
    if all_due:
        results = verify_due(ws, now=now, actor=actor())
        if not results and not as_json:
            echo("no done task is due for verification")
    else:
        assert task_id is not None
        results = [
            verify_task(
                ws,
                task_id,
                window_start=window_start,
                window_end=window_end,
                now=now,
                actor=actor(),
            )
        ]
    for result in results:
        if as_json:
            click.echo(json.dumps(result.to_json(), default=str))
        else:
            echo(_line(result))
    if any(r.result == "errored" for r in results):
        sys.exit(1)


@cli.command()
@click.argument("investigation_id")
@click.option("--root-cause", required=True, help="The confirmed cause: a hypothesis id, or other.")
@click.option("--notes", help="What happened, in a few lines.")
@click.option("--worked", help="What worked in the response.")
@click.option("--did-not-work", help="What did not.")
@click.option("--reviewer", help="Who reviewed (default: RCA_ACTOR or the login name).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handled
def review(
    ctx: click.Context,
    investigation_id: str,
    root_cause: str,
    notes: str | None,
    worked: str | None,
    did_not_work: str | None,
    reviewer: str | None,
    as_json: bool,
) -> None:
    """Record an incident's confirmed root cause and lessons; re-render its review."""
    from ..loop import review_incident

    row, report = review_incident(
        _workspace(ctx),
        investigation_id,
        root_cause=root_cause,
        notes=notes,
        worked=worked,
        did_not_work=did_not_work,
        reviewer=reviewer,
        actor=actor(),
    )
    if as_json:
        click.echo(json.dumps({**row, "report": str(report)}, default=str))
        return
    fps = ", ".join(row["false_positives"]) or "none"
    gaps = ", ".join(g["hypothesis_id"] for g in row["data_gaps"]) or "none"
    echo(f"{investigation_id}: root cause {row['root_cause']}")
    echo(f"false positives: {fps}; data gaps: {gaps}")
    echo(f"report: {report}")
