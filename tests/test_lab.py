"""`rca lab` end to end: the real command starts JupyterLab on a workspace with one real
investigation, and Debian's Chromium (Playwright) opens what a person opens — an evidence
notebook with its plotly figure, the triage notebook with its TriagePanel — while the evidence
stays as it was (read-only through Lab, no checkpoints beside it). One server per module.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from investigated import artifacts
from playwright.sync_api import Browser, Page
from triage_workspace import HOSTILE_NAME, PWNED, investigated

from rca_kit.config import Workspace
from rca_kit.register import Register
from rca_kit.testing import one_line_error

pytestmark = [pytest.mark.slow, pytest.mark.browser]
RCA = str(Path(sys.executable).parent / "rca")
# the test's own Lab settings: kernels start unasked (no news toast: `rca lab` sees to that)
OVERRIDES = {"@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True}}
NEWS = "text=/notified about official Jupyter news/"
SHOWN = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in the active tab
URL = re.compile(r"rca lab: (http://127\.0\.0\.1:(\d+)/lab/tree/(\S+)\?token=(\S+))$")


@dataclass
class Lab:
    workspace: Workspace
    investigation_id: str
    process: subprocess.Popen[str]
    url: str
    port: int
    token: str
    notebook: str  # the path Lab opened, relative to the workspace

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page_url(self, path: str) -> str:
        """Lab opening `path` alone (`reset`: no tabs restored from an earlier page)."""
        return f"{self.base}/lab/tree/{path}?reset&token={self.token}"

    def get_json(self, path: str) -> Any:
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
            f"{self.base}/{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return json.loads(answer.read())

    def api(self, method: str, path: str, body: object = None, token: bool = True) -> int:
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
            f"{self.base}/api/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}"} if token else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def run(self, hypothesis_id: str) -> dict[str, Any]:
        register = Register(self.workspace.database_url)
        try:
            runs = register.runs(self.investigation_id)
        finally:
            register.close()
        return next(r for r in runs if r["hypothesis_id"] == hypothesis_id and not r["rerun_of"])

    def evidence(self, hypothesis_id: str) -> Path:
        return Path(self.run(hypothesis_id)["notebook"])


@pytest.fixture(scope="module")
def lab(_pristine_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """`rca lab INVESTIGATION_ID` running on a fresh workspace, with Jupyter's own folders and
    Lab's settings (kernels start unasked) kept in a temporary folder."""
    root = tmp_path_factory.mktemp("lab")
    workspace, inv = investigated(_pristine_workspace, root / "ws")
    jupyter = root / "jupyter"
    env = {k: v for k, v in os.environ.items() if k not in ("RCA_DATABASE_URL", "JUPYTER_PATH")}
    for name in ("config", "data", "runtime", "ipython", "settings"):
        (jupyter / name).mkdir(parents=True)
    (jupyter / "settings" / "overrides.json").write_text(json.dumps(OVERRIDES))
    (jupyter / "config" / "jupyter_lab_config.json").write_text(
        json.dumps({"LabApp": {"app_settings_dir": str(jupyter / "settings")}})
    )
    env.update(
        JUPYTER_CONFIG_DIR=str(jupyter / "config"),
        JUPYTER_DATA_DIR=str(jupyter / "data"),
        JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
        IPYTHONDIR=str(jupyter / "ipython"),
        RCA_WORKSPACE=str(workspace.root),
    )
    log = root / "lab.log"
    with log.open("w") as errors:
        process = subprocess.Popen(
            [RCA, "lab", inv], env=env, stdout=subprocess.PIPE, stderr=errors, text=True
        )
    assert process.stdout is not None
    try:
        line = process.stdout.readline().strip()  # printed once the server answers
        match = URL.match(line)
        assert match, (line, log.read_text()[-2000:])
        url, port, notebook, token = match.groups()
        yield Lab(workspace, inv, process, url, int(port), token, notebook)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
        process.stdout.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page that fails the test on any page error or console error."""
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield opened
    context.close()
    assert errors == []


def wait_idle(page: Page) -> None:
    # the status bar names the kernel once one exists (the execution indicator reads idle first)
    page.wait_for_selector("text=/\\| Idle/", timeout=60_000)


def run_all_cells(page: Page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").click()
    page.get_by_text("Run All Cells", exact=True).click()


def test_rca_lab_prints_the_triage_notebook_url_with_a_token(lab: Lab) -> None:
    """The URL opens the investigation's triage notebook under lab/ on 127.0.0.1; the server
    wants the generated token, which is not on any command line."""
    assert lab.notebook == f"lab/{lab.investigation_id}-triage.ipynb"
    triage = lab.workspace.root / lab.notebook
    assert "TriagePanel(" in triage.read_text()
    assert len(lab.token) >= 32
    assert lab.api("GET", "status") == 200
    assert lab.api("GET", "status", token=False) == 403
    server = Path("/proc") / str(lab.process.pid) / "task" / str(lab.process.pid) / "children"
    for pid in server.read_text().split():
        assert lab.token not in (Path("/proc") / pid / "cmdline").read_text()


def test_lab_asks_nothing_about_jupyter_news(lab: Lab, page: Page) -> None:
    """`rca lab` starts Lab with news and update checks off (the user's settings say nothing):
    no toast asks whether to get notified about official Jupyter news."""
    plugin = "@jupyterlab/apputils-extension:notification"
    schema = lab.get_json(f"lab/api/settings/{plugin}")["schema"]["properties"]
    assert schema["fetchNews"]["default"] == "false"  # the defaults, as rca lab overrode them
    assert schema["checkForUpdates"]["default"] is False
    page.goto(lab.page_url(lab.notebook))
    wait_idle(page)
    page.wait_for_timeout(3000)  # the toast, if any, comes once Lab has settled
    assert page.locator(NEWS).count() == 0
    assert page.locator(".Toastify__toast").count() == 0


def test_the_reports_are_served_to_the_logged_in_user_only(lab: Lab) -> None:
    """/rca/reports/ serves files of the reports folder with the token (or login cookie) only,
    nothing outside it, and forbids its pages to reach the server's API."""
    opener = urllib.request.build_opener(NoRedirect())
    page = f"{lab.base}/rca/reports/{lab.investigation_id}.html"

    def status(url: str, token: bool) -> tuple[int, str]:
        headers = {"Authorization": f"token {lab.token}"} if token else {}
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 - 127.0.0.1
        try:
            with opener.open(request, timeout=30) as answer:
                return int(answer.status), answer.headers.get("Content-Security-Policy", "")
        except urllib.error.HTTPError as exc:
            return int(exc.code), ""

    code, policy = status(page, token=True)
    assert code == 200
    assert "connect-src 'none'" in policy
    assert "sandbox" not in policy  # its own origin: plotly.js loads with the login cookie
    assert status(page, token=False)[0] in (302, 403)
    assert status(f"{lab.base}/rca/reports/../rca.toml", token=True)[0] in (403, 404)
    assert status(f"{lab.base}/rca/reports/%2e%2e/rca.toml", token=True)[0] in (403, 404)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_an_evidence_notebook_shows_its_plotly_figure_read_only(lab: Lab, page: Page) -> None:
    """Opened in Lab, an evidence notebook draws its figure and is read-only: a save is refused
    and the file keeps its bytes."""
    notebook = lab.evidence("backpressure")
    before = notebook.read_bytes()
    relative = notebook.relative_to(lab.workspace.root).as_posix()
    page.goto(lab.page_url(relative))
    page.wait_for_selector(f"{SHOWN} .jp-OutputArea .plotly .main-svg", timeout=60_000)
    page.wait_for_selector("text=notebook is read-only")
    wait_idle(page)
    page.locator(f"{SHOWN} .plotly").first.scroll_into_view_if_needed()
    page.screenshot(path=artifacts() / "lab-evidence-notebook.png")
    page.locator(f"{SHOWN} .jp-Cell.jp-CodeCell .cm-content").nth(1).click()
    page.keyboard.type("# edited in Lab ")
    page.keyboard.press("Control+s")
    page.wait_for_selector("text=/read-only\\. Use .Save as/", timeout=20_000)
    assert notebook.read_bytes() == before
    emptied = {"type": "file", "format": "text", "content": ""}
    assert lab.api("PUT", f"contents/{relative}", emptied) == 403
    assert notebook.read_bytes() == before


def test_the_triage_panel_renders_and_opens_evidence_in_lab(lab: Lab, page: Page) -> None:
    """Running the triage notebook's cell draws the TriagePanel (no widget error, the alert's
    markup shown as text); a verdict's notebook link opens that notebook in a Lab tab."""
    page.goto(lab.page_url(lab.notebook))
    wait_idle(page)
    run_all_cells(page)
    page.wait_for_selector(f"{SHOWN} .jp-OutputArea table.rca-verdicts", timeout=60_000)
    output = page.locator(f"{SHOWN} .jp-Cell.jp-CodeCell .jp-OutputArea").first.inner_text()
    assert "Error displaying widget" not in output
    assert HOSTILE_NAME in output  # literally, as text
    assert page.evaluate(PWNED.split("=")[0]) is None
    assert page.locator(f"{SHOWN} .jp-OutputArea button", has_text="Re-run").count() == 1
    page.screenshot(path=artifacts() / "lab-triage-panel.png")
    controls = page.locator(f"{SHOWN} .jp-OutputArea button", has_text="Override verdict")
    controls.scroll_into_view_if_needed()
    selects = page.locator(f"{SHOWN} .widget-dropdown select")
    selects.nth(1).select_option(label="error-log-spike")
    selects.nth(2).select_option(label="inconclusive")
    page.get_by_placeholder("Why (required; kept in the audit log)").fill("<b>gap</b> in logs")
    controls.click()
    page.wait_for_selector(f"{SHOWN} >> text=/error-log-spike: inconclusive by/", timeout=30_000)
    page.screenshot(path=artifacts() / "lab-triage-panel-controls.png")
    run = lab.run("error-log-spike")
    assert run["override"]["verdict"] == "inconclusive"
    assert run["override"]["rationale"] == "<b>gap</b> in logs"
    review = page.locator(f"{SHOWN} .jp-OutputArea a", has_text=f"{lab.investigation_id}.html")
    with page.context.expect_page() as opened:  # a new browser tab, not Lab's HTML viewer
        review.first.click()
    tab = opened.value
    assert tab.url.endswith(f"/rca/reports/{lab.investigation_id}.html")
    tab.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)  # its scripts ran
    tab.screenshot(path=artifacts() / "lab-review-tab.png")
    tab.close()
    name = lab.evidence("backpressure").name
    page.locator(f"{SHOWN} table.rca-verdicts a", has_text=name).first.click()
    page.wait_for_selector(f".lm-TabBar-tab:has-text('{name}')", timeout=30_000)
    page.wait_for_selector(f"{SHOWN} .plotly .main-svg", timeout=60_000)
    page.locator(f"{SHOWN} .plotly").first.scroll_into_view_if_needed()
    page.screenshot(path=artifacts() / "lab-triage-link-opened.png")


def test_no_checkpoints_are_written_inside_the_investigation(lab: Lab) -> None:
    """Opening and saving through Lab keep checkpoints under .rca/checkpoints: nothing new
    appears in the investigation folder, and working notebooks save normally."""
    folder = lab.evidence("backpressure").parent
    relative = lab.evidence("backpressure").relative_to(lab.workspace.root).as_posix()
    assert lab.api("POST", f"contents/{relative}/checkpoints") == 201
    assert lab.api("POST", f"contents/{lab.notebook}/checkpoints") == 201
    model = {"type": "file", "format": "text", "content": "notes"}
    assert lab.api("PUT", "contents/lab/notes.txt", model) in (200, 201)
    assert (
        lab.api("PUT", f"contents/{folder.relative_to(lab.workspace.root).as_posix()}/x.txt", model)
        == 403
    )
    assert lab.api("DELETE", f"contents/{relative}") == 403
    assert lab.api("PATCH", f"contents/{relative}", {"path": "lab/moved.ipynb"}) == 403
    assert lab.api("POST", f"contents/{relative}/checkpoints/checkpoint") == 403  # revert
    assert not list(lab.workspace.investigations_dir.rglob(".ipynb_checkpoints"))
    assert not list((lab.workspace.root / "lab").rglob(".ipynb_checkpoints"))
    kept = lab.workspace.root / ".rca" / "checkpoints"
    assert (kept / relative).with_name(Path(relative).stem + "-checkpoint.ipynb").is_file()
    assert not (folder / "x.txt").exists()


def test_ctrl_c_stops_the_server_cleanly(lab: Lab) -> None:
    """SIGINT (Ctrl-C) to `rca lab` stops JupyterLab and its kernels and exits 0."""
    lab.process.send_signal(signal.SIGINT)
    assert lab.process.wait(timeout=60) == 0
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", lab.port), timeout=2),
    ):
        pass


def test_an_unknown_investigation_is_one_line_and_exit_2(
    rca: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """`rca lab inv-nope` starts nothing and says so in one line."""
    done = rca("lab", "inv-nope")
    assert "no investigation with id 'inv-nope'" in one_line_error(done)
