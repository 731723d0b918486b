"""The `rca` command line: a thin layer that parses input, calls the flows and presents."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from .config import Workspace, find_workspace
from .exceptions import InputError, RcaKitError

F = TypeVar("F", bound=Callable[..., Any])


def _fail(exc: RcaKitError) -> None:
    click.echo(f"rca: error: {exc}", err=True)
    sys.exit(exc.exit_code)


def handled(func: F) -> F:
    """Turn RcaKitError into one line on stderr and its exit code (no traceback)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RcaKitError as exc:
            _fail(exc)

    return wrapper  # type: ignore[return-value]


def _workspace(ctx: click.Context) -> Workspace:
    return find_workspace(ctx.obj.get("workspace"))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace folder (else RCA_WORKSPACE, else the nearest rca.toml upward).",
)
@click.version_option(package_name="rca-kit")
@click.pass_context
def cli(ctx: click.Context, workspace: Path | None) -> None:
    """Turn alerts into tested hypotheses, evidence notebooks and a ranked list of fixes."""
    ctx.ensure_object(dict)
    ctx.obj["workspace"] = workspace


def _progress(
    total_label: str,
) -> tuple[Callable[[int], None], Callable[[Any], None], Callable[[], None]]:
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def start(total: int) -> None:
        bar["bar"] = tqdm(
            total=total,
            desc=total_label,
            unit="nb",
            file=sys.stderr,
            disable=None,
            dynamic_ncols=True,
        )

    def step(result: Any) -> None:
        if "bar" in bar:
            bar["bar"].set_postfix_str(
                result.hypothesis_id + (" (errored)" if result.error else "")
            )
            bar["bar"].update(1)

    def close() -> None:
        if "bar" in bar:
            bar["bar"].close()

    return start, step, close


def _investigate(ws: Workspace, alert_id: str, now: datetime | None) -> Any:
    from .pipeline import investigate

    start, step, close = _progress("hypotheses")
    try:
        return investigate(ws, alert_id, now=now, progress=step, on_start=start)
    finally:
        close()


@cli.command()
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--format", "fmt", help="Force the alert format (default: auto-detect).")
@click.option(
    "--now",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z"]),
    hidden=True,
    help="Pretend the current time is this (replays).",
)
@click.pass_context
@handled
def investigate(
    ctx: click.Context, target: str, as_json: bool, fmt: str | None, now: datetime | None
) -> None:
    """Investigate an alert file or a stored ALERT_ID end to end."""
    from .pipeline import ingest_file, open_register

    ws = _workspace(ctx)
    if Path(target).is_file():
        register = open_register(ws)
        try:
            alert_ids = ingest_file(ws, register, Path(target), fmt)
        finally:
            register.close()
    elif target.startswith("al-"):
        alert_ids = [target]
    else:
        raise InputError(f"{target!r} is neither an alert file nor an alert id (al-…)")
    for alert_id in alert_ids:
        result = _investigate(ws, alert_id, now)
        if as_json:
            click.echo(json.dumps(result.to_json()))
        else:
            lead = result.leading.hypothesis_id if result.leading else "none supported"
            click.echo(
                f"{result.investigation_id}: leading hypothesis {lead}; {len(result.tasks)} tasks"
            )
            click.echo(f"report: {result.report}")


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
@handled
def demo(ctx: click.Context, directory: Path | None) -> None:
    """Run the bundled scenario end to end and print the report path."""
    from .pipeline import ingest_file, open_register
    from .scaffold import demo_workspace

    ws, alert_file = demo_workspace(ctx.obj.get("workspace"), directory)
    register = open_register(ws)
    try:
        alert_ids = ingest_file(ws, register, alert_file)
    finally:
        register.close()
    result = _investigate(ws, alert_ids[0], None)
    lead = result.leading.hypothesis_id if result.leading else "none supported"
    click.echo(f"leading hypothesis: {lead}", err=True)
    click.echo(str(result.report))


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@handled
def init(directory: Path) -> None:
    """Scaffold a workspace in DIRECTORY (library, templates, rca.toml, example evidence)."""
    from .scaffold import init_workspace

    root = init_workspace(directory)
    click.echo(f"workspace created: {root}")


@cli.group()
def alert() -> None:
    """Alerts."""


@alert.command("ingest")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", help="Force the alert format (default: auto-detect).")
@click.pass_context
@handled
def alert_ingest(ctx: click.Context, file: Path, fmt: str | None) -> None:
    """Store the alert(s) in FILE (any supported format)."""
    from .pipeline import ingest_file, open_register

    ws = _workspace(ctx)
    register = open_register(ws)
    try:
        for alert_id in ingest_file(ws, register, file, fmt):
            click.echo(alert_id)
    finally:
        register.close()


@cli.group()
def register() -> None:
    """The remediation register."""


@register.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print tasks as a JSON array.")
@click.option("--investigation", help="Only tasks of this investigation.")
@click.pass_context
@handled
def register_list(ctx: click.Context, as_json: bool, investigation: str | None) -> None:
    """Tasks in rank order."""
    from .pipeline import open_register

    reg = open_register(_workspace(ctx))
    try:
        rows = reg.tasks(investigation_id=investigation)
    finally:
        reg.close()
    if as_json:
        click.echo(json.dumps(rows, default=str))
        return
    if not rows:
        click.echo("no tasks")
    for row in rows:
        owner = row["owner"] or "unassigned"
        click.echo(
            f"{row['rank']:>3}  {row['score']:5.1f}  {row['id']}  {row['status']:<11} "
            f"{owner:<12} {row['due_date']}  {row['title']}"
        )


@cli.command()
@click.argument("investigation_id")
@click.pass_context
@handled
def report(ctx: click.Context, investigation_id: str) -> None:
    """Render the HTML post-incident review of INVESTIGATION_ID."""
    from .library import lint
    from .pipeline import open_register
    from .report import render_investigation

    ws = _workspace(ctx)
    specs, _ = lint(ws.library_dir, ws.templates_dir, ws.settings.hypotheses)
    reg = open_register(ws)
    try:
        path = render_investigation(reg, investigation_id, ws.reports_dir, {s.id: s for s in specs})
    finally:
        reg.close()
    click.echo(str(path))


@cli.group()
def library() -> None:
    """The hypothesis library."""


@library.command("lint")
@click.pass_context
@handled
def library_lint(ctx: click.Context) -> None:
    """Check every spec against the schema and its template; exit 2 on any problem."""
    from .library import lint

    ws = _workspace(ctx)
    specs, problems = lint(ws.library_dir, ws.templates_dir, ws.settings.hypotheses)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        sys.exit(2)
    click.echo(f"{len(specs)} hypotheses OK")


@library.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handled
def library_list(ctx: click.Context, as_json: bool) -> None:
    """The hypotheses in the library."""
    from .library import load_library

    ws = _workspace(ctx)
    specs = load_library(ws.library_dir, ws.templates_dir, ws.settings.hypotheses)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": s.id,
                        "version": s.version,
                        "title": s.title,
                        "template": s.template,
                        "prior": s.prior,
                    }
                    for s in specs
                ]
            )
        )
        return
    for spec in specs:
        click.echo(f"{spec.id:<22} v{spec.version}  {spec.title}")


@cli.group()
def audit() -> None:
    """The audit log."""


@audit.command("verify")
@click.pass_context
@handled
def audit_verify(ctx: click.Context) -> None:
    """Check the audit hash chain; exit 1 at the first edited or deleted event."""
    from .pipeline import open_register

    reg = open_register(_workspace(ctx))
    try:
        count, head = reg.verify_audit()
    finally:
        reg.close()
    click.echo(f"audit chain intact: {count} events, head {head}")


def main() -> None:
    cli(obj={})
