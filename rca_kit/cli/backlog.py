"""`rca register …`: the remediation register as the team's working backlog."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..exceptions import InputError
from ..lifecycle import STATUSES
from .base import _workspace, actor, cli, echo, handled

if TYPE_CHECKING:  # without importing SQLAlchemy or pydantic when the CLI starts
    from ..config import Workspace
    from ..register import Register

T = TypeVar("T")

_EXPECT = click.option(
    "--expect-version",
    type=int,
    help="Refuse the change if the task is no longer at this version (see `show`).",
)


@contextmanager
def _register(ctx: click.Context, ws: Workspace | None = None) -> Iterator[Register]:
    from ..register import Register

    ws = ws or _workspace(ctx)
    reg = Register(ws.database_url, ws.settings, actor=actor())
    try:
        yield reg
    finally:
        reg.close()


def _listing(ctx: click.Context, read: Callable[[Any], T]) -> T:
    """`read(register)`: straight from SQLite when it can answer as the register would (no
    SQLAlchemy, so a listing is instant: register/listing.py), else through `Register`."""
    from ..register.listing import read_quickly

    ws = _workspace(ctx)
    found = read_quickly(ws.database_url, read)
    if found is not None:
        return found
    with _register(ctx, ws) as reg:
        return read(reg)


def _filters(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--overdue", is_flag=True, help="Only open work past its due date."),
        click.option("--owner", help="Only tasks of this owner."),
        click.option("--team", help="Only tasks of this team."),
        click.option(
            "--status",
            "statuses",
            multiple=True,
            type=click.Choice(STATUSES),
            help="Only tasks in this status (repeatable).",
        ),
        click.option("--service", help="Only tasks for this service."),
        click.option("--investigation", help="Only tasks of this investigation."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _score(row: dict[str, Any]) -> str:
    """The effective score, with the computed one beside it when an authority overrode it."""
    if not row.get("override"):
        return f"{row['score']:5.1f}"
    who = row["override"]["authority"]
    return f"{row['score']:5.1f} (override by {who}; computed {row['computed_score']:.1f})"


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, default=str))


@cli.group()
def register() -> None:
    """The remediation register: tasks, owners, lifecycle, governance, tickets."""


@register.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print tasks as a JSON array.")
@_filters
@click.pass_context
@handled
def register_list(
    ctx: click.Context, /, as_json: bool, investigation: str | None, **filters: Any
) -> None:
    """Tasks in rank order (open work first), with score, status, owner and due date."""
    rows = _listing(ctx, lambda reg: reg.tasks(investigation_id=investigation, **filters))
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        echo("no tasks")
    for row in rows:
        owner = row["owner"] or "unassigned"
        due = f"{row['due_date']}{' OVERDUE' if row['overdue'] else ''}"
        echo(
            f"{row['rank']:>3}  {_score(row)}  {row['id']}  {row['status']:<11} "
            f"{owner:<12} {due:<18} {row['title']}"
        )


@register.command("show")
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="Print the task as one JSON object.")
@click.pass_context
@handled
def register_show(ctx: click.Context, task_id: str, as_json: bool) -> None:
    """One task: score breakdown, why this rank, its evidence and its audit trail."""
    with _register(ctx) as reg:
        task = reg.task(task_id)
    if as_json:
        _echo_json(task)
        return
    lines = [
        f"{task['id']}  {task['title']}",
        f"  status      {task['status']}"
        + (f" ({task['status_reason']})" if task["status_reason"] else "")
        + f" · version {task['version']}",
        f"  owner       {task['owner'] or 'unassigned'} · team {task['team'] or '-'}",
        f"  due         {task['due_date']}{' (OVERDUE)' if task['overdue'] else ''}"
        f" · severity {task['severity'] or '-'}",
        f"  service     {task['service'] or '-'} · hypothesis {task['hypothesis_id']}",
        f"  score       {_score(task).strip()}",
        f"  breakdown   {', '.join(f'{k} {v:.1f}' for k, v in task['breakdown'].items())}",
        f"  why         {task['why']}",
    ]
    for system, key in sorted((task["external"] or {}).items()):
        lines.append(f"  ticket      {system} {key}")
    if task["done_at"]:
        lines.append(f"  done        {task['done_at']}")
    if task["verify_after"] and task["status"] == "done":
        lines.append(f"  verify      from {task['verify_after']} (`rca verify {task['id']}`)")
    if task["verified_at"]:
        lines.append(f"  verified    {task['verified_at']}")
    lines.append("  evidence")
    for ev in task["evidence"]:
        lines.append(
            f"    {ev['kind']:<12} {ev['investigation_id']}  {ev['hypothesis_id'] or '-'} "
            f"{ev['verdict'] or '-'} {ev['confidence'] if ev['confidence'] is not None else '-'}"
            f"  snapshot {ev['snapshot_sha256'] or '-'}"
        )
        if ev["notebook"]:
            lines.append(f"                 notebook {ev['notebook']}")
    lines.append("  audit trail")
    for event in task["audit"]:
        who = event["authority"] or event["actor"]
        note = f" — {event['rationale']}" if event["rationale"] else ""
        changes = event["details"].get("changes", {})
        moved = ", ".join(
            f"{k}: {v[0]} → {v[1]}"
            for k, v in changes.items()
            if k not in ("breakdown", "explanation", "override", "updated_at")
        )
        lines.append(f"    #{event['seq']} {event['at']} {event['action']} by {who}{note}")
        if moved:
            lines.append(f"         {moved}")
    for line in lines:
        echo(line)


@register.command("assign")
@click.argument("task_id")
@click.option("--owner", required=True, help="Who does the work.")
@click.option("--team", help="The team that owns it.")
@click.option("--authority", help="Who decides a move to another team ([governance]).")
@_EXPECT
@click.pass_context
@handled
def register_assign(
    ctx: click.Context,
    task_id: str,
    owner: str,
    team: str | None,
    authority: str | None,
    expect_version: int | None,
) -> None:
    """Give a task an owner (and a team; moving it from its team needs --authority)."""
    with _register(ctx) as reg:
        row = reg.assign(task_id, owner, team, expected_version=expect_version, authority=authority)
    echo(f"{row['id']}: owner {row['owner']}, team {row['team'] or '-'} (version {row['version']})")


@register.command("status")
@click.argument("task_id")
@click.argument("status", type=click.Choice(STATUSES))
@click.option("--reason", help="Why (required for wont_do and reopened).")
@_EXPECT
@click.pass_context
@handled
def register_status(
    ctx: click.Context, task_id: str, status: str, reason: str | None, expect_version: int | None
) -> None:
    """Move a task: open → in_progress → done; wont_do and reopened need --reason."""
    after = None
    with _register(ctx) as reg:
        if status == "done":
            from datetime import UTC, datetime

            from ..loop import verify_after

            hypothesis = reg.task_row(task_id)["hypothesis_id"]
            after = verify_after(_workspace(ctx), hypothesis, datetime.now(UTC))
        row = reg.set_status(
            task_id, status, reason=reason, expected_version=expect_version, verify_after=after
        )
    extra = f"; verification due after {row['verify_after']}" if row.get("verify_after") else ""
    echo(f"{row['id']}: {row['status']} (version {row['version']}){extra}")


@register.command("reprioritize")
@click.argument("task_id")
@click.option("--score", "new_score", type=click.FloatRange(0, 100), help="Set the score itself.")
@click.option("--impact", type=click.IntRange(1, 5), help="Set impact (1..5); score recomputed.")
@click.option("--effort", type=click.IntRange(1, 5), help="Set effort (1..5); score recomputed.")
@click.option("--risk", type=click.IntRange(1, 5), help="Set risk (1..5); score recomputed.")
@click.option("--clear", is_flag=True, help="Remove the override: back to the computed score.")
@click.option(
    "--rationale", required=True, help="Why the priority changes (kept in the audit log)."
)
@click.option("--authority", required=True, help="Who decides ([governance] in rca.toml).")
@_EXPECT
@click.pass_context
@handled
def register_reprioritize(
    ctx: click.Context,
    task_id: str,
    new_score: float | None,
    impact: int | None,
    effort: int | None,
    risk: int | None,
    clear: bool,
    rationale: str,
    authority: str,
    expect_version: int | None,
) -> None:
    """Override a task's priority (score, or impact/effort/risk) with a rationale."""
    if new_score is not None and not math.isfinite(new_score):
        raise InputError(f"--score must be a number from 0 to 100, got {new_score}")
    factors = {k: v for k, v in (("impact", impact), ("effort", effort), ("risk", risk)) if v}
    chosen = sum([new_score is not None, bool(factors), clear])
    if chosen != 1:
        raise InputError("give exactly one of --score N, --impact/--effort/--risk, or --clear")
    override = None if clear else ({"score": new_score} if new_score is not None else factors)
    with _register(ctx) as reg:
        row = reg.reprioritize(
            task_id,
            override=override,
            rationale=rationale,
            authority=authority,
            expected_version=expect_version,
        )
    echo(f"{row['id']}: score {_score(row)} (version {row['version']})")


@register.command("agenda")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handled
def register_agenda(ctx: click.Context, as_json: bool) -> None:
    """What needs a decision since the last review: new, overdue, reopened, score moved."""
    with _register(ctx) as reg:
        agenda = reg.agenda()
    if as_json:
        _echo_json(agenda)
        return
    since = agenda["since"]
    echo(
        f"since the review of {since['at']} by {since['authority']}"
        if since
        else "since the start (no review yet)"
    )
    if not agenda["items"]:
        echo("nothing needs a decision")
    for item in agenda["items"]:
        echo(
            f"{item['rank']:>3}  {item['score']:5.1f}  {item['id']}  {item['status']:<11} "
            f"{item['title']}"
        )
        echo(f"       {'; '.join(item['reasons'])}")


@register.command("reviewed")
@click.option(
    "--authority", required=True, help="Who chaired the review ([governance] authorities)."
)
@click.option("--notes", help="What was decided.")
@click.pass_context
@handled
def register_reviewed(ctx: click.Context, authority: str, notes: str | None) -> None:
    """Record that the register was reviewed; the next agenda starts after it."""
    with _register(ctx) as reg:
        review = reg.reviewed(authority, notes)
    echo(f"review recorded at {review['at']} by {review['authority']} ({review['items']} items)")
