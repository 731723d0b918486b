"""Commands of the investigation flow: demo, init, investigate, report, library, audit."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..exceptions import InputError, RcaKitError
from .alerts import FORMAT_HELP
from .base import _investigate, _workspace, cli, echo, handled

if TYPE_CHECKING:
    from ..config import Workspace


@cli.command()
@click.argument("target", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--format", "fmt", help=FORMAT_HELP)
@click.option(
    "--resume",
    "resume_id",
    metavar="INVESTIGATION_ID",
    help="Finish an abandoned or failed investigation (in its folder, with its snapshot).",
)
@click.option(
    "--batch",
    "batch",
    metavar="DIR_OR_GLOB",
    help="Investigate every alert of every payload file in a folder or matching a glob.",
)
@click.option(
    "--now",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z"]),
    hidden=True,
    help="Pretend the current time is this (replays).",
)
@click.pass_context
@handled
def investigate(
    ctx: click.Context,
    target: str | None,
    as_json: bool,
    fmt: str | None,
    resume_id: str | None,
    batch: str | None,
    now: datetime | None,
) -> None:
    """Investigate an alert file or a stored ALERT_ID end to end (or --resume one, or a
    --batch of alert files)."""
    ws = _workspace(ctx)
    if batch is not None:
        if target or resume_id:
            raise InputError("give --batch DIR_OR_GLOB alone, without an alert or --resume")
        from .storm import investigate_batch

        investigate_batch(ws, batch, fmt, as_json)
        return
    if resume_id and target:
        raise InputError("give an alert or --resume INVESTIGATION_ID, not both")
    if not (target or resume_id):
        raise InputError("missing FILE_OR_ALERT_ID", hint="or --resume INVESTIGATION_ID")
    run_jobs = _early_pool(ctx, ws)  # a SIGTERM before the investigation begins ends it all
    from ..config import parse_duration
    from ..ingest import ingest_file, shared
    from ..pipeline import open_register

    if resume_id:
        _report(_investigate(ws, None, now, resume=resume_id, run_jobs=run_jobs), as_json)
        return
    assert target is not None
    twins: dict[str, str] = {}
    if Path(target).is_file():
        register = open_register(ws)
        try:
            alert_ids = ingest_file(ws, register, Path(target), fmt)
            twins = shared(register, alert_ids, parse_duration(ws.settings.evidence.before))
        finally:
            register.close()
    elif target.startswith("al-"):
        alert_ids = [target]
    else:
        raise InputError(f"{target!r} is neither an alert file nor an alert id (al-…)")
    for alert_id in alert_ids:
        if alert_id in twins:  # copies in one payload: one investigation answers them all
            echo(f"{alert_id}: shares the investigation of {twins[alert_id]}", err=True)
            continue
        _report(_investigate(ws, alert_id, now, run_jobs=run_jobs), as_json)


def _early_pool(ctx: click.Context, ws: Workspace) -> Any:
    """How the notebooks will run, started before anything else (local workers and their warm
    kernels load while the alert is read and its evidence frozen; or the Dask cluster is
    reached). Stopped when the command ends."""
    from ..pool import start_runner

    run_jobs, stop = start_runner(ws)
    ctx.call_on_close(stop)
    return run_jobs


def _report(result: Any, as_json: bool) -> None:
    for source in result.evidence.get("sources", []):  # a source that failed or fell short
        if source.get("warning"):
            echo(f"warning: {source['warning']}", err=True)
        for line in source.get("unreadable") or ():  # rows or values it could not read
            echo(f"warning: {line}", err=True)
    if as_json:
        click.echo(json.dumps(result.to_json()))
    else:
        lead = result.leading.hypothesis_id if result.leading else "none supported"
        echo(f"{result.investigation_id}: leading hypothesis {lead}; {len(result.tasks)} tasks")
        echo(f"report: {result.report}")
    if result.status != "done":  # the machine failed some hypotheses: not a finished answer
        raise RcaKitError(
            f"investigation {result.investigation_id} is {result.status}: {result.problem}",
            hint=f"fix the machine, then `rca investigate {result.alert_id}` again",
        )


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
@handled
def demo(ctx: click.Context, directory: Path | None) -> None:
    """Run the bundled scenario end to end and print the report path."""
    from ..ingest import ingest_file
    from ..pipeline import open_register
    from ..scaffold import demo_workspace

    ws, alert_file = demo_workspace(ctx.obj.get("workspace"), directory)
    register = open_register(ws)
    try:
        alert_ids = ingest_file(ws, register, alert_file)
    finally:
        register.close()
    result = _investigate(ws, alert_ids[0], None)
    lead = result.leading.hypothesis_id if result.leading else "none supported"
    echo(f"leading hypothesis: {lead}", err=True)
    echo(str(result.report))


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@handled
def init(directory: Path) -> None:
    """Scaffold a workspace in DIRECTORY (library, templates, rca.toml, example evidence)."""
    from ..scaffold import init_workspace

    root = init_workspace(directory)
    echo(f"workspace created: {root}")


@cli.command()
@click.argument("investigation_id", required=False)
@click.option("--library", "library_page", is_flag=True, help="Render reports/library.html.")
@click.option("--register", "register_page", is_flag=True, help="Render reports/register.html.")
@click.option(
    "--index", "index_page", is_flag=True, help="Render reports/index.html: every investigation."
)
@click.option(
    "--standalone",
    is_flag=True,
    help="With INVESTIGATION_ID: one file to share on its own, plotly.js inside "
    "(reports/ID.standalone.html; evidence notebooks named, not linked).",
)
@click.pass_context
@handled
def report(
    ctx: click.Context,
    investigation_id: str | None,
    library_page: bool,
    register_page: bool,
    index_page: bool,
    standalone: bool,
) -> None:
    """Render INVESTIGATION_ID's review, the --library statistics, the --register backlog or
    the --index of investigations (pages in the reports folder share one plotly.js)."""
    if (investigation_id is not None) + library_page + register_page + index_page != 1:
        raise InputError("give exactly one of INVESTIGATION_ID, --library, --register or --index")
    if standalone and investigation_id is None:
        raise InputError("--standalone renders one review: give INVESTIGATION_ID")
    from ..pipeline import open_register

    ws = _workspace(ctx)
    reg = open_register(ws)
    try:
        if register_page or index_page:  # neither needs the hypothesis specs
            from ..report import render_index, render_register

            render = render_register if register_page else render_index
            path = render(reg, ws.reports_dir)
        else:
            from ..library import lint
            from ..report import render_investigation, render_library

            specs, _ = lint(ws.library_dir, ws.templates_dir, ws.settings.hypotheses)
            by_id = {s.id: s for s in specs}
            if investigation_id is None:
                path = render_library(reg, ws.reports_dir, by_id)
            else:
                path = render_investigation(
                    reg, investigation_id, ws.reports_dir, by_id, standalone=standalone
                )
    finally:
        reg.close()
    echo(str(path))


@cli.group()
def library() -> None:
    """The hypothesis library."""


@library.command("lint")
@click.pass_context
@handled
def library_lint(ctx: click.Context) -> None:
    """Check every spec against the schema and its template; exit 2 on any problem."""
    from ..library import lint

    ws = _workspace(ctx)
    specs, problems = lint(ws.library_dir, ws.templates_dir, ws.settings.hypotheses)
    for problem in problems:
        echo(problem, err=True)
    if problems:
        sys.exit(2)
    echo(f"{len(specs)} hypotheses OK")


@library.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handled
def library_list(ctx: click.Context, as_json: bool) -> None:
    """The hypotheses in the library."""
    from ..library import load_library

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
        echo(f"{spec.id:<22} v{spec.version}  {spec.title}")


@library.command("stats")
@click.option("--service", help="Only alerts of this service.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list.")
@click.pass_context
@handled
def library_stats(ctx: click.Context, service: str | None, as_json: bool) -> None:
    """Each hypothesis' track record: verdicts, confirmed causes, precision, fixes."""
    from ..library import lint
    from ..register import Register
    from ..register.history import library_stats as gather

    ws = _workspace(ctx)
    specs, _ = lint(ws.library_dir, ws.templates_dir, ws.settings.hypotheses)
    reg = Register(ws.database_url, ws.settings)
    try:
        with reg.engine.connect() as conn:
            rows = gather(conn, service, ids=[s.id for s in specs])
    finally:
        reg.close()
    if as_json:
        click.echo(json.dumps(rows))
        return
    columns = ("runs", "supported", "refuted", "inconclusive", "errored", "confirmed")
    echo(
        f"{'id':<22} {'runs':>5} {'sup':>4} {'ref':>4} {'inc':>4} {'err':>4} {'conf':>5} "
        f"{'fp':>4} {'prec':>5} {'med s':>7} {'verif':>5} {'reop':>5}"
    )
    for row in rows:
        counts = " ".join(
            f"{row[c]:>{w}}" for c, w in zip(columns, (5, 4, 4, 4, 4, 5), strict=True)
        )
        precision = "–" if row["precision"] is None else f"{row['precision']:.2f}"
        median = row["median_time_to_verdict_s"]
        median_text = "–" if median is None else f"{median:.1f}"
        echo(
            f"{row['hypothesis_id']:<22} {counts} {row['false_positives']:>4} {precision:>5} "
            f"{median_text:>7} {row['fixes_verified']:>5} {row['fixes_reopened']:>5}"
        )


@cli.group()
def audit() -> None:
    """The audit log."""


@audit.command("verify")
@click.option(
    "--anchor",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A head saved by `rca audit anchor`: the chain must still contain it.",
)
@click.pass_context
@handled
def audit_verify(ctx: click.Context, anchor: Path | None) -> None:
    """Check the audit hash chain and the rows it vouches for; exit 1 at the first edited,
    deleted or (with --anchor) truncated event, or when an evidence notebook is missing or no
    longer has the bytes its run recorded, or a frozen snapshot is missing or its manifest or a
    file of it changed (each one is named). Keyed events are authenticated
    with RCA_AUDIT_KEY (without it, only their linkage is checked, and the output says so)."""
    from ..exceptions import AuditChainError
    from ..register import Register
    from ..register.audit import read_anchor

    ws = _workspace(ctx)
    expected = read_anchor(anchor) if anchor else None
    reg = Register(ws.database_url, ws.settings)
    try:
        count, head = reg.verify_audit(anchor=expected)
        problems = reg.integrity_problems()
        unkeyed = reg.unauthenticated_events()
        notebooks = reg.evidence_problems()
        frozen = reg.snapshot_problems()
    finally:
        reg.close()
    if problems:
        raise RcaKitError(f"the database's integrity check failed: {'; '.join(problems)[:500]}")
    evidence = notebooks + frozen
    if len(evidence) == 1:
        raise AuditChainError(evidence[0])
    if evidence:
        for line in evidence:
            echo(line, err=True)
        counted = [
            f"{len(found)} {what}{'s' if len(found) > 1 else ''}"
            for found, what in ((notebooks, "evidence notebook"), (frozen, "snapshot file"))
            if found
        ]
        raise AuditChainError(f"{' and '.join(counted)} do not match the register")
    anchored = f"; contains the anchor at event {expected[0]}" if expected else ""
    echo(f"audit chain intact: {count} events, head {head}{anchored}")
    if unkeyed:
        echo(
            f"note: {unkeyed} keyed events were checked only for linkage, not authenticity: "
            "set RCA_AUDIT_KEY to check them"
        )


@audit.command("anchor")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
@handled
def audit_anchor(ctx: click.Context, file: Path) -> None:
    """Save the chain's head to FILE (keep it outside the database: it exposes truncation)."""
    from ..fsutil import atomic_write
    from ..register import Register

    ws = _workspace(ctx)
    reg = Register(ws.database_url, ws.settings)
    try:
        count, head = reg.verify_audit()
    finally:
        reg.close()
    atomic_write(file, json.dumps({"seq": count, "hash": head}) + "\n")
    echo(f"anchored event {count} ({head}) in {file}")
