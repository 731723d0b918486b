"""`rca register link` and `rca register export`: the register and the team's tracker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..exceptions import InputError
from ..lifecycle import ACTIVE
from .backlog import _EXPECT, _filters, _register, register
from .base import _workspace, echo, handled

if TYPE_CHECKING:  # without importing SQLAlchemy when the CLI starts
    from ..register import Register


@register.command("link")
@click.argument("task_id")
@click.option("--external", "key", required=True, help="The tracker's key: OPS-7, #42 …")
@click.option("--system", type=click.Choice(["github", "jira"]), help="Default: from the key.")
@_EXPECT
@click.pass_context
@handled
def register_link(
    ctx: click.Context, task_id: str, key: str, system: str | None, expect_version: int | None
) -> None:
    """Store a tracker's key for a task: later exports update that ticket."""
    from ..register.tickets import tracker_key

    system, key = tracker_key(key, system)
    with _register(ctx) as reg:
        row = reg.link(task_id, system, key, expected_version=expect_version)
    echo(f"{row['id']}: linked to {system} {row['external'][system]}")


@register.command("export")
@click.option(
    "--format", "fmt", required=True, type=click.Choice(["csv", "json", "github", "jira"])
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
@click.option("--post", is_flag=True, help="Send to the tracker ([tickets] in rca.toml).")
@_filters
@click.pass_context
@handled
def register_export(
    ctx: click.Context,
    /,
    fmt: str,
    output: Path | None,
    post: bool,
    investigation: str | None,
    **filters: Any,
) -> None:
    """Export tasks as CSV, JSON, or GitHub/Jira issue payloads (linked tasks as updates).

    Without --status: open work, plus closed tasks already linked to a ticket (so their
    tickets get the final status)."""
    from ..fsutil import atomic_write
    from ..register import tickets

    settings = _workspace(ctx).settings.tickets
    if post and fmt not in ("github", "jira"):
        raise InputError("--post works with --format github or jira")
    with _register(ctx) as reg:
        rows = [
            _for_tracker(reg.story(row["id"], audit=fmt == "json") | row, fmt)
            for row in reg.tasks(investigation_id=investigation, **filters)
            if filters.get("statuses") or row["status"] in ACTIVE or _linked(row, fmt)
        ]
        text = (
            tickets.to_csv(rows)
            if fmt == "csv"
            else json.dumps(tickets.export_items(rows, fmt, settings), default=str, indent=2)
        )
        if output:
            atomic_write(output, text)
            echo(f"{len(rows)} tasks written to {output}", err=True)
        elif not post:
            click.echo(text, nl=not text.endswith("\n"))
        if post:
            _post(reg, tickets.export_items(rows, fmt, settings), fmt, settings)


def _linked(row: dict[str, Any], fmt: str) -> bool:
    """Whether the task has a ticket this export would update (any ticket, for files)."""
    links = row["external"] or {}
    return bool(links.get(fmt) if fmt in ("github", "jira") else links)


def _for_tracker(row: dict[str, Any], fmt: str) -> dict[str, Any]:
    """The row as the exporter sees it: the ticket of this tracker (all of them for files)."""
    links = row["external"] or {}
    if fmt in ("github", "jira"):
        key = links.get(fmt)
        return {**row, "external_system": fmt if key else None, "external_key": key}
    return {
        **row,
        "external_system": ",".join(sorted(links)) or None,
        "external_key": ",".join(links[k] for k in sorted(links)) or None,
    }


def _post(reg: Register, items: list[dict[str, Any]], fmt: str, settings: Any) -> None:
    from ..register import tickets

    try:
        results = tickets.post(items, fmt, settings)
    except tickets.TicketPostError as exc:
        _record_links(reg, exc.posted, fmt)
        raise
    _record_links(reg, results, fmt)
    created = sum(r["action"] == "create" for r in results)
    updated = len(results) - created
    echo(f"posted {len(results)} tickets to {fmt}: {created} created, {updated} updated")


def _record_links(reg: Register, results: list[dict[str, Any]], fmt: str) -> None:
    """Link every ticket the tracker created, so a later export updates it."""
    for result in results:
        if result["action"] == "create" and result.get("external_key"):
            reg.link(result["task_id"], fmt, str(result["external_key"]))
