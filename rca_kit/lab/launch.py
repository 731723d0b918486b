"""Start JupyterLab on a workspace for `rca lab`: on the loopback address only, with a token
generated for this run, evidence read-only (contents.EvidenceContents) and checkpoints kept
under <workspace>/.rca/checkpoints, never next to the notebooks in an investigation."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from ..children import die_with_parent
from ..config import Workspace
from ..exceptions import InputError, RcaKitError
from ..fsutil import atomic_write

HOST = "127.0.0.1"
STATE = ".rca"  # the workspace's own state (hidden from Lab's file browser)
READY_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20
REPORTS_URL = "/rca/reports/"  # the reports, served by the extension rca_kit.lab.reports
URL_VARIABLE = "RCA_LAB_REPORTS_URL"  # tells the kernels (the TriagePanel links the review)
# JupyterLab settings rca lab starts with (a user's own settings still win): no toast asking
# about Jupyter news, no update check (the server is offline-minded and short-lived)
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}
}


def require_jupyterlab() -> None:
    if importlib.util.find_spec("jupyterlab") is None:
        raise InputError(
            "JupyterLab is not installed in this environment",
            hint="pip install 'rca-kit[lab]'",
        )


def free_port() -> int:
    """A port nobody listens on right now (the server refuses to start if one takes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def state_dir(workspace: Workspace) -> Path:
    return workspace.root / STATE


@dataclass
class LabServer:
    """One JupyterLab server process on a workspace, opening `open_path` (relative to it)."""

    workspace: Workspace
    open_path: str
    port: int = 0
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.port = self.port or free_port()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/lab/tree/{quote(self.open_path)}?token={self.token}"

    def command(self) -> list[str]:
        ws = self.workspace
        args = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--ip={HOST}",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",  # the URL printed names this port or nothing
            f"--ServerApp.root_dir={ws.root}",
            "--ServerApp.contents_manager_class=rca_kit.lab.contents.EvidenceContents",
            f"--EvidenceContents.evidence_dir={ws.investigations_dir}",
            f"--FileCheckpoints.checkpoint_dir={state_dir(ws) / 'checkpoints'}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--ServerApp.log_level=WARN",
            "--ServerApp.jpserver_extensions=rca_kit.lab.reports=True",  # the reports, drawn
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--allow-root")
        return args

    def environment(self) -> dict[str, str]:
        """The token through the environment (not argv, which `ps` shows everyone); the
        workspace for kernels; `python3` kernels pinned to this interpreter (it has rca_kit)."""
        jupyter = state_dir(self.workspace) / "jupyter"
        spec = jupyter / "kernels" / "python3"
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        kernel = {"argv": argv, "display_name": "Python 3 (rca-kit)", "language": "python"}
        atomic_write(spec / "kernel.json", json.dumps(kernel))
        env = {k: v for k, v in os.environ.items() if k != "JUPYTER_TOKEN_FILE"}
        env["JUPYTER_PATH"] = os.pathsep.join(
            p for p in (str(jupyter), os.environ.get("JUPYTER_PATH", "")) if p
        )
        # layered under the user's own (JupyterLab reads labconfig/default_setting_overrides.json
        # from every Jupyter config folder; JUPYTER_CONFIG_PATH adds ours)
        config = state_dir(self.workspace) / "jupyter-config"
        atomic_write(
            config / "labconfig" / "default_setting_overrides.json", json.dumps(LAB_SETTINGS)
        )
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
            p for p in (str(config), os.environ.get("JUPYTER_CONFIG_PATH", "")) if p
        )
        env["JUPYTER_TOKEN"] = self.token
        env[URL_VARIABLE] = REPORTS_URL  # for the TriagePanel's link to the review
        env["RCA_WORKSPACE"] = str(self.workspace.root)
        return env

    def start(self) -> None:
        require_jupyterlab()
        self.process = subprocess.Popen(
            self.command(),
            env=self.environment(),
            cwd=self.workspace.root,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches `rca lab`, which stops the server
            preexec_fn=die_with_parent,
        )

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until the server answers /api/status with our token (RcaKitError if it exits)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        request = urllib.request.Request(
            f"http://{HOST}:{self.port}/api/status",
            headers={"Authorization": f"token {self.token}"},
        )
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise RcaKitError(
                    f"JupyterLab exited with code {code} before it was ready",
                    hint="see its messages above (is the port taken?)",
                )
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(request, timeout=2) as answer,  # noqa: S310
            ):
                if answer.status == 200:
                    return
            time.sleep(0.2)
        raise RcaKitError(f"JupyterLab did not answer within {timeout_s:.0f} s")

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait()

    def stop(self) -> None:
        """Ask the server to shut down (it stops its kernels), then make sure it is gone."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
