"""`rca serve`: run the webhook receiver and its investigation queue."""

from __future__ import annotations

import os

import click

from ..exceptions import InputError
from .base import _workspace, cli, echo, handled


@cli.command()
@click.option("--host", help="Address to listen on (default: [serve] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: [serve] port).")
@click.option(
    "--investigations",
    type=click.IntRange(0, 16),
    help="Investigations run at once (0: only receive; default: [serve] investigations).",
)
@click.option(
    "--no-auth",
    is_flag=True,
    help="Accept requests without a token (only behind something that authenticates).",
)
@click.pass_context
@handled
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    investigations: int | None,
    no_auth: bool,
) -> None:
    """Receive alerts over HTTP (Alertmanager, Grafana, PagerDuty, Opsgenie, generic JSON)
    and investigate each new firing alert in the background."""
    import logging

    import uvicorn

    from ..server import create_app

    ws = _workspace(ctx)
    settings = ws.settings.serve
    token = None
    if settings.auth and not no_auth:
        token = os.environ.get(settings.token_env, "")
        if not token:
            raise InputError(
                f"no token: set {settings.token_env} (the bearer token senders must present)",
                hint="or pass --no-auth if something in front of rca-kit authenticates",
            )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app(ws, token=token, investigations=investigations)
    bind_host = host or settings.host
    bind_port = settings.port if port is None else port
    echo(
        f"rca serve: listening on http://{bind_host}:{bind_port} "
        f"(auth {'on' if token else 'OFF'}); POST alerts to /api/v1/alerts",
        err=True,
    )
    uvicorn.run(app, host=bind_host, port=bind_port, log_level="info", access_log=True)
