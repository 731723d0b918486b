"""`rca alert …`: ingest alert payloads, list and show stored alerts, read dead letters.

Listing and showing read the register only: no pandas, papermill or jupyter is imported.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .backlog import _echo_json, _listing, _register
from .base import _workspace, cli, echo, handled

if TYPE_CHECKING:  # without importing SQLAlchemy when the CLI starts
    pass

# kept in step with rca_kit.intake.formats (a test checks), so --help imports no adapter
FORMATS = "grafana, alertmanager, alertmanager-api, pagerduty, opsgenie, generic"
FORMAT_HELP = f"Force the alert format ({FORMATS}); default: detected."


def duration(seconds: float | None) -> str:
    """1h 02m, 3m 05s, 42s; a dash when unknown."""
    if seconds is None:
        return "–"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


@cli.group()
def alert() -> None:
    """Alerts: ingest payloads, list and show stored alerts, dead letters."""


@alert.command("ingest")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", help=FORMAT_HELP)
@click.pass_context
@handled
def alert_ingest(ctx: click.Context, file: Path, fmt: str | None) -> None:
    """Store the alert(s) in FILE; print one id per alert. A payload that cannot be parsed
    exits 2 and is kept as a dead letter."""
    from ..ingest import ingest_file
    from ..pipeline import open_register

    ws = _workspace(ctx)
    register = open_register(ws)
    try:
        alert_ids = ingest_file(ws, register, file, fmt)
        unnamed = [a for a in dict.fromkeys(alert_ids) if not register.alert(a).service]
    finally:
        register.close()
    for alert_id in alert_ids:
        echo(alert_id)
    if unnamed:
        shown = ", ".join(unnamed[:3]) + (
            f" and {len(unnamed) - 3} more" if len(unnamed) > 3 else ""
        )
        tried = ", ".join(ws.settings.alerts.service_labels) or "none"
        echo(
            f"rca: warning: {shown} name{'s' if len(unnamed) == 1 else ''} no service "
            f"(labels tried: {tried}): stored, but `rca investigate` needs one; "
            "set [alerts] service_labels or add a service label",
            err=True,
        )


@alert.command("list")
@click.option("--status", type=click.Choice(["firing", "resolved"]), help="Only this status.")
@click.option("--service", help="Only alerts of this service.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list.")
@click.pass_context
@handled
def alert_list(
    ctx: click.Context, status: str | None, service: str | None, limit: int, as_json: bool
) -> None:
    """Stored alerts, most recently received first."""
    rows = _listing(ctx, lambda reg: reg.alerts(status=status, service=service, limit=limit))
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        echo("no alerts")
        return
    for row in rows:
        resolved = f"resolved in {duration(row['time_to_resolve_s'])}"
        state = resolved if row["status"] == "resolved" else "firing"
        count = row["investigations"]
        investigated = f"{count} investigation{'s' if count != 1 else ''}"
        echo(
            f"{row['id']}  {state:<20} {row['starts_at'][:19]}  "
            f"{(row['service'] or '(no service)')[:30]:<30} {investigated:<16} {row['name'][:80]}"
        )


@alert.command("show")
@click.argument("alert_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
@handled
def alert_show(ctx: click.Context, alert_id: str, as_json: bool) -> None:
    """One alert: labels, annotations, links, window, time to resolve, investigations."""
    with _register(ctx) as reg:
        row = reg.alert_row(alert_id)
    if as_json:
        _echo_json(row)
        return
    echo(f"{row['id']}  {row['name']}")
    status = row["status"]
    if status == "resolved":
        status += f" · time to resolve {duration(row['time_to_resolve_s'])}"
        if row["resolved_at"]:
            status += f" (resolved notice received {row['resolved_at']})"
    echo(f"  status       {status}")
    echo(f"  service      {row['service'] or '(none)'} · severity {row['severity'] or '(none)'}")
    echo(f"  window       {row['starts_at']} → {row['ends_at'] or 'still firing'}")
    echo(
        f"  received     {row['received_at']} · format {row['source_format']} · "
        f"fingerprint {row['fingerprint']}"
    )
    for title, values in (("labels", row["labels"]), ("annotations", row["annotations"])):
        echo(f"  {title}")
        for key, value in sorted(values.items()):
            echo(f"    {key[:40]:<20} {value[:300]}")
    if row["links"]:
        echo("  links")
        for key, url in row["links"].items():
            echo(f"    {key[:40]:<20} {url}")
    echo("  investigations" + ("" if row["investigations"] else "  none"))
    for inv in row["investigations"]:
        lead = inv["root_cause"] or inv["leading_hypothesis"] or "no leading hypothesis"
        echo(f"    {inv['id']}  {inv['kind']:<12} {inv['status']:<8} {inv['created_at']}  {lead}")
        if inv["report"]:
            echo(f"      report {inv['report']}")


@alert.command("dead-letters")
@click.option("--show", "show_id", type=int, help="Write this dead letter's raw bytes to stdout.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list.")
@click.pass_context
@handled
def alert_dead_letters(ctx: click.Context, show_id: int | None, as_json: bool) -> None:
    """Payloads that failed to parse: id, when, source, why, size (--show ID: the bytes)."""
    with _register(ctx) as reg:
        if show_id is not None:
            payload = reg.dead_letter_payload(show_id)
            sys.stdout.buffer.write(payload)
            sys.stdout.buffer.flush()
            return
        rows = reg.dead_letter_rows()
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        echo("no dead letters")
        return
    for row in rows:
        echo(
            f"{row['id']:>5}  {row['received_at']}  {row['size']:>8} B  "
            f"{row['source'][:60]}  {row['error'][:200]}"
        )
