"""A Jupyter server extension `rca lab` loads: the workspace's reports at `/rca/reports/<path>`.

The review and its evidence pages draw their plots with plotly.js loaded from the reports
folder (`reports/assets/…`). Lab's HTML viewer shows a page untrusted (no scripts: blank
plots), and the server's `/files/` sandboxes it into an opaque origin whose requests carry no
login cookie and, as the pages send no Referer, fail its cross-site check: plotly.js never
loads. Here the pages are served as they are to the person logged in to Lab (read-only, only
files under the reports folder), so they draw in a browser tab of their own. Their own
Content-Security-Policy still decides which scripts run; the header adds `connect-src 'none'`,
so no script on them could reach the server's API, and `frame-ancestors 'self'`.

The kernels learn the URL from RCA_LAB_REPORTS_URL (`rca lab` sets it; the TriagePanel links
the review there when it is set).
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from .launch import REPORTS_URL


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "rca_kit.lab.reports"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Serve the reports folder of the workspace in RCA_WORKSPACE (nothing without one)."""
    from jupyter_server.utils import url_path_join

    from ..config import find_workspace

    root = os.environ.get("RCA_WORKSPACE")
    if not root:
        return
    reports = find_workspace(root).reports_dir
    pattern = url_path_join(serverapp.web_app.settings["base_url"], REPORTS_URL, "(.*)")
    serverapp.web_app.add_handlers(".*$", [(pattern, ReportsHandler, {"path": str(reports)})])


class ReportsHandler(JupyterHandler, web.StaticFileHandler):
    """Files of the reports folder, to the logged-in user only, as they are."""

    auth_resource = "contents"

    @property
    def content_security_policy(self) -> str:
        return "frame-ancestors 'self'; connect-src 'none'; form-action 'none'"

    @web.authenticated
    @authorized
    def head(self, path: str) -> Any:  # type: ignore[override]
        return web.StaticFileHandler.head(self, path)

    @web.authenticated
    @authorized
    def get(self, path: str, include_body: bool = True) -> Any:  # type: ignore[override]
        return web.StaticFileHandler.get(self, path, include_body)

    def set_headers(self) -> None:
        super().set_headers()
        self.add_header("Cache-Control", "no-cache")  # a review rendered again shows at once

    def compute_etag(self) -> str | None:
        return None
