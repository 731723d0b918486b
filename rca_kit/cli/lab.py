"""`rca lab`: JupyterLab on the workspace, opening an investigation's triage notebook."""

from __future__ import annotations

import click

from ..exceptions import RcaKitError
from .base import _workspace, cli, echo, handled


@cli.command()
@click.argument("investigation_id", required=False)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port (default: a free one)."
)
@click.option("--browser", is_flag=True, help="Open the page in the default web browser.")
@click.pass_context
@handled
def lab(ctx: click.Context, investigation_id: str | None, port: int, browser: bool) -> None:
    """Open JupyterLab on 127.0.0.1 with INVESTIGATION_ID's triage notebook (without one: the
    register). Evidence stays read-only; Ctrl-C stops the server."""
    from ..children import terminate_gracefully
    from ..lab.launch import LabServer, require_jupyterlab
    from ..lab.notebooks import register_notebook, triage_notebook
    from ..pipeline import open_register

    ws = _workspace(ctx)
    require_jupyterlab()
    if investigation_id is not None:
        register = open_register(ws)
        try:
            investigation_id = str(register.investigation(investigation_id)["id"])
        finally:
            register.close()
        notebook = triage_notebook(ws, investigation_id)
    else:
        notebook = register_notebook(ws)
    server = LabServer(ws, notebook.relative_to(ws.root).as_posix(), port)
    terminate_gracefully()  # SIGTERM stops the server too (the finally below)
    server.start()
    try:
        server.wait_ready()
        echo(f"rca lab: {server.url}")
        echo("rca lab: Ctrl-C stops JupyterLab", err=True)
        if browser:
            import webbrowser

            webbrowser.open(server.url)
        code = server.wait()
    except KeyboardInterrupt:
        echo("rca lab: stopping JupyterLab", err=True)
        return
    finally:
        server.stop()
    if code != 0:
        raise RcaKitError(f"JupyterLab exited with code {code}", hint="see its messages above")
