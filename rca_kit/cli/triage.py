"""`rca rerun` and `rca override`: a person's triage of a finished investigation."""

from __future__ import annotations

import json
from typing import Any

import click

from ..exceptions import InputError
from .base import _workspace, actor, cli, echo, handled


def _assignment(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise InputError(f"--set {text!r} is not NAME=VALUE", hint="e.g. --set min_minutes=10")
    try:
        return name.strip(), json.loads(value)
    except ValueError:  # a bare word is a string: --set ingest_metric=ingest_total
        return name.strip(), value


def _run_json(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "investigation_id", "hypothesis_id", "verdict", "confidence", "summary")
    extra = ("notebook", "rerun_of", "override", "parameters", "leading_hypothesis")
    return {k: row.get(k) for k in (*keys, *extra) if k in row}


@cli.command()
@click.argument("investigation_id")
@click.argument("hypothesis_id")
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="NAME=JSON",
    help="Change one of the spec's parameters (repeatable; a JSON value or a bare word).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the new run as one JSON object.")
@click.pass_context
@handled
def rerun(
    ctx: click.Context,
    investigation_id: str,
    hypothesis_id: str,
    assignments: tuple[str, ...],
    as_json: bool,
) -> None:
    """Run one hypothesis of a finished investigation again on its frozen evidence, with
    edited parameters; the new run is kept beside the original, which stays as it is."""
    from ..triage import rerun_hypothesis

    edits = dict(_assignment(text) for text in assignments)
    row = rerun_hypothesis(
        _workspace(ctx),
        investigation_id,
        hypothesis_id,
        edits,
        actor(),
        say=lambda text: echo(text, err=True),
    )
    if as_json:
        click.echo(json.dumps(_run_json(row), default=str))
        return
    echo(
        f"{row['id']}: {row['verdict']} (confidence {row['confidence']:.2f}), "
        f"rerun of {row['rerun_of']}"
    )
    echo(f"notebook: {row['notebook']}")


@cli.command()
@click.argument("run_id")
@click.argument("verdict", type=click.Choice(["supported", "refuted", "inconclusive"]))
@click.option("--rationale", required=True, help="Why (kept with the verdict and audited).")
@click.option("--json", "as_json", is_flag=True, help="Print the run as one JSON object.")
@click.pass_context
@handled
def override(ctx: click.Context, run_id: str, verdict: str, rationale: str, as_json: bool) -> None:
    """Set a person's verdict on a run; the recorded one is kept beside it and the
    investigation's leading hypothesis is recomputed."""
    from ..triage import override_verdict

    row = override_verdict(
        _workspace(ctx), run_id, verdict, rationale, actor(), say=lambda text: echo(text, err=True)
    )
    if as_json:
        click.echo(json.dumps(_run_json(row), default=str))
        return
    echo(f"{row['id']}: {verdict} by {row['override']['by']} (recorded {row['verdict']})")
    echo(f"leading hypothesis: {row['leading_hypothesis'] or 'none supported'}")
