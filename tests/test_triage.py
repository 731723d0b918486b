"""A person's triage of a real investigation: reruns kept beside the original, verdict overrides
with a rationale, and the widgets (TriagePanel, RegisterEditor) driving real register changes.

One investigation (three hypotheses, real kernels) serves the whole module; each test uses its
own hypothesis or task where it changes something, so the tests do not depend on their order.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from triage_workspace import HOSTILE_NAME, HOSTILE_NOTE, investigated

from rca_kit.config import Workspace
from rca_kit.exceptions import InputError, NotFoundError
from rca_kit.lab.notebooks import register_notebook, triage_notebook
from rca_kit.register import Register
from rca_kit.register.history import library_stats
from rca_kit.testing import one_line_error
from rca_kit.triage import effective_verdict, override_verdict, rerun_hypothesis
from rca_kit.widgets import RegisterEditor, TriagePanel
from rca_kit.widgets.markup import link, safe_href, text

pytestmark = pytest.mark.slow
RCA = str(Path(sys.executable).parent / "rca")


@pytest.fixture(scope="module")
def case(
    _pristine_workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Workspace, str]:
    """The module's workspace and its finished investigation."""
    return investigated(_pristine_workspace, tmp_path_factory.mktemp("triage") / "ws")


@pytest.fixture
def register(case: tuple[Workspace, str]) -> Iterator[Register]:
    reg = Register(case[0].database_url, case[0].settings)
    yield reg
    reg.close()


def rca(workspace: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RCA_DATABASE_URL"}
    env.update(RCA_WORKSPACE=str(workspace.root), RCA_ACTOR="cli-analyst")
    return subprocess.run(
        [RCA, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def original(register: Register, investigation_id: str, hypothesis_id: str) -> dict[str, Any]:
    return next(
        r
        for r in register.runs(investigation_id)
        if r["hypothesis_id"] == hypothesis_id and not r["rerun_of"]
    )


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def events(register: Register, action: str) -> list[dict[str, Any]]:
    from rca_kit.register.schema import audit_events

    with register.engine.connect() as conn:
        rows = conn.execute(audit_events.select().where(audit_events.c.action == action))
        return [dict(r) for r in rows.mappings()]


# reruns ---------------------------------------------------------------------------------------
def test_a_rerun_is_a_new_run_beside_the_original(
    case: tuple[Workspace, str], register: Register
) -> None:
    """Rerunning with edited parameters records a new run naming the original, in a new
    read-only notebook; the original's row, notebook and the learning statistics stay."""
    workspace, inv = case
    before = original(register, inv, "error-log-spike")
    before_bytes = sha256(before["notebook"])
    with register.engine.connect() as conn:
        stats_before = library_stats(conn)
    said: list[str] = []
    name, edited = "min_ratio", before["parameters"]["min_ratio"] * 2
    row = rerun_hypothesis(
        workspace, inv, "error-log-spike", {name: edited}, "analyst", say=said.append
    )
    assert row["rerun_of"] == before["id"]
    assert row["id"] != before["id"]
    assert row["parameters"][name] == edited
    assert row["parameters"]["window_start"] == before["parameters"]["window_start"]
    assert Path(row["notebook"]).parent == Path(before["notebook"]).parent
    assert Path(row["notebook"]).name == Path(before["notebook"]).stem + ".rerun-1.ipynb"
    assert stat.S_IMODE(os.stat(row["notebook"]).st_mode) & 0o222 == 0  # evidence: read-only
    assert row["notebook_sha256"] == sha256(row["notebook"])
    assert row["provenance"]["rerun_of"] == before["id"]
    assert row["verdict"] in ("supported", "refuted", "inconclusive")
    assert original(register, inv, "error-log-spike") == before
    assert sha256(before["notebook"]) == before_bytes
    with register.engine.connect() as conn:
        assert library_stats(conn) == stats_before  # an analyst's rerun is no new test
    [event] = [e for e in events(register, "run.rerun_recorded") if e["entity_id"] == row["id"]]
    assert event["actor"] == "analyst"
    assert json.loads(event["details"])["edited"] == {name: edited}
    assert any("running error-log-spike" in line for line in said)
    assert not [line for line in said if line.startswith("warning")], said  # review rendered
    register.verify_audit()
    assert register.evidence_problems() == []  # the rerun's notebook is as harvested


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ({"window_start": "2000-01-01T00:00:00Z"}, "'window_start' is not a parameter"),
        ({"snapshot_path": "/etc"}, "'snapshot_path' is not a parameter"),
        ({"team": "x"}, "'team' is not a parameter"),  # a label of the alert, not a parameter
        ({"__import__('os')": 1}, "is not a parameter"),
        ({"min_minutes": "15"}, "min_minutes must be a number"),
        ({"min_minutes": float("nan")}, "not JSON"),
        ({"lag_metrics": {"a": 1}}, "lag_metrics must be a list"),
        (["min_minutes", 3], "must be a JSON object"),
    ],
)
def test_a_rerun_accepts_only_the_specs_own_parameters(
    case: tuple[Workspace, str], register: Register, edits: Any, message: str
) -> None:
    """Fixed, label-derived, unknown or mistyped parameters are refused before anything runs
    or is recorded."""
    workspace, inv = case
    runs_before = len(register.runs(inv))
    with pytest.raises(InputError, match="^.*" + message.replace("(", r"\(")):
        rerun_hypothesis(workspace, inv, "backpressure", edits, "analyst")
    assert len(register.runs(inv)) == runs_before


def test_a_rerun_of_a_hypothesis_that_did_not_run_is_refused(case: tuple[Workspace, str]) -> None:
    """Only hypotheses the investigation ran can be rerun; unknown investigations are named."""
    workspace, inv = case
    with pytest.raises(InputError, match="did not run"):
        rerun_hypothesis(workspace, inv, "memory-leak", {}, "analyst")
    with pytest.raises(NotFoundError):
        rerun_hypothesis(workspace, "inv-nope", "backpressure", {}, "analyst")


def test_rca_rerun_prints_the_new_run_and_refuses_bad_input_in_one_line(
    case: tuple[Workspace, str], register: Register
) -> None:
    """`rca rerun ID HYP --set NAME=JSON --json` runs and records; a bad name exits 2 in one
    line."""
    workspace, inv = case
    done = rca(workspace, "rerun", inv, "backpressure", "--set", "min_minutes=20", "--json")
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert row["rerun_of"] == original(register, inv, "backpressure")["id"]
    assert row["parameters"]["min_minutes"] == 20
    bad = rca(workspace, "rerun", inv, "backpressure", "--set", "alert_id=x")
    assert "'alert_id' is not a parameter of backpressure" in one_line_error(bad)


# overrides ------------------------------------------------------------------------------------
def test_an_override_keeps_the_recorded_verdict_and_recomputes_the_leader(
    case: tuple[Workspace, str], register: Register
) -> None:
    """A person's verdict is kept beside the recorded one, with rationale, who and when; the
    leading hypothesis follows the effective verdicts and the change is audited."""
    workspace, inv = case
    run = original(register, inv, "disk-pressure")
    assert run["verdict"] == "refuted"
    row = override_verdict(workspace, run["id"], "supported", "df shows /var full", "sre-amy")
    stored = register.run(run["id"])
    assert stored["verdict"] == "refuted"  # as the notebook recorded it
    assert stored["override"]["verdict"] == "supported"
    assert stored["override"]["rationale"] == "df shows /var full"
    assert stored["override"]["by"] == "sre-amy"
    assert stored["override"]["at"]
    assert effective_verdict(stored) == "supported"
    # a person's "supported" counts as certain: it leads over the notebook's 0.95
    assert row["leading_hypothesis"] == "disk-pressure"
    assert register.investigation(inv)["leading_hypothesis"] == "disk-pressure"
    [event] = [e for e in events(register, "run.verdict_overridden") if e["entity_id"] == run["id"]]
    assert event["rationale"] == "df shows /var full"
    assert event["actor"] == "sre-amy"
    assert events(register, "investigation.leading_recomputed")
    # taking it back: the leader is recomputed again
    again = override_verdict(workspace, run["id"], "refuted", "was a stale dashboard", "sre-amy")
    assert again["leading_hypothesis"] == "backpressure"
    register.verify_audit()


def test_an_override_needs_a_rationale_and_an_original_run(
    case: tuple[Workspace, str], register: Register
) -> None:
    """No rationale, an unknown verdict, or a rerun as the target: refused, nothing changes."""
    workspace, inv = case
    run = original(register, inv, "backpressure")
    with pytest.raises(InputError, match="needs a rationale"):
        override_verdict(workspace, run["id"], "refuted", "   ", "x")
    with pytest.raises(InputError, match="is not one of"):
        override_verdict(workspace, run["id"], "errored", "why", "x")
    reruns = [r for r in register.runs(inv) if r["rerun_of"]]
    if reruns:
        with pytest.raises(InputError, match="is a rerun of"):
            override_verdict(workspace, reruns[0]["id"], "refuted", "why", "x")
    assert register.run(run["id"])["override"] is None


def test_rca_override_needs_a_rationale(case: tuple[Workspace, str], register: Register) -> None:
    """`rca override RUN VERDICT` without --rationale is a usage error; with one it records."""
    workspace, inv = case
    run = original(register, inv, "error-log-spike")
    assert rca(workspace, "override", run["id"], "inconclusive").returncode == 2
    done = rca(workspace, "override", run["id"], "inconclusive", "--rationale", "gap in data")
    assert done.returncode == 0, done.stderr
    assert register.run(run["id"])["override"]["by"] == "cli-analyst"
    rca(workspace, "override", run["id"], "refuted", "--rationale", "restored")


# the triage panel ------------------------------------------------------------------------------
def test_the_panel_shows_the_investigation_with_inert_text_and_notebook_links(
    case: tuple[Workspace, str], register: Register
) -> None:
    """Alert, verdicts with a relative link to every evidence notebook, and suspects; markup in
    the alert's name and labels is shown as text."""
    workspace, inv = case
    panel = TriagePanel(inv, workspace, actor="panel")
    summary = panel.summary.outputs[0]["data"]["text/html"]
    verdicts = panel.verdicts.outputs[0]["data"]["text/html"]
    assert "<img" not in summary
    assert "<script" not in summary
    assert text(HOSTILE_NAME) in summary
    assert text(HOSTILE_NOTE, 1000)[:40] in summary
    for run in register.runs(inv):
        href = os.path.relpath(run["notebook"], Path.cwd())
        assert f'href="{href}"' in verdicts
    assert "<table" in panel.suspects.outputs[0]["data"]["text/html"]
    report = Path(register.investigation(inv)["report"])
    assert f'href="{os.path.relpath(report, Path.cwd())}">' in summary  # outside `rca lab`
    assert {value for _, value in panel.rerun_hypothesis.options} == {
        "backpressure",
        "disk-pressure",
        "error-log-spike",
        "volume-anomaly",
    }
    assert json.loads(panel.rerun_parameters.value)  # the spec's parameters, as JSON
    assert "application/vnd.jupyter.widget-view+json" in panel._repr_mimebundle_()


def test_under_rca_lab_the_review_opens_in_a_tab_of_its_own(
    case: tuple[Workspace, str], register: Register, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where `rca lab` serves the reports, the review's link opens it there in a new browser
    tab (its scripts run, its plots draw), not in Lab's untrusted HTML viewer."""
    workspace, inv = case
    monkeypatch.setenv("RCA_LAB_REPORTS_URL", "/rca/reports/")
    summary = TriagePanel(inv, workspace, actor="panel").summary.outputs[0]["data"]["text/html"]
    report = Path(register.investigation(inv)["report"]).relative_to(workspace.reports_dir)
    assert f'<a href="/rca/reports/{report.as_posix()}" target="_blank" rel="noopener">' in summary


def test_the_panel_reruns_with_edited_parameters_and_shows_errors(
    case: tuple[Workspace, str], register: Register
) -> None:
    """Editing the JSON and clicking Re-run records a rerun; bad JSON or a foreign parameter is
    shown in the panel and records nothing."""
    workspace, inv = case
    panel = TriagePanel(inv, workspace, actor="panel")
    panel.rerun_hypothesis.value = "disk-pressure"
    params = json.loads(panel.rerun_parameters.value)
    assert params["threshold"] == 0.95
    count = len(register.runs(inv))
    panel.rerun_parameters.value = "{not json"
    panel.rerun_button.click()
    assert "not JSON" in panel.rerun_status.value
    assert len(register.runs(inv)) == count
    panel.rerun_parameters.value = json.dumps({"window_end": "2030-01-01"})
    panel.rerun_button.click()
    assert "is not a parameter" in panel.rerun_status.value
    assert len(register.runs(inv)) == count
    panel.rerun_parameters.value = json.dumps({**params, "threshold": 0.5})
    panel.rerun_button.click()
    assert "kept beside" in panel.rerun_status.value, panel.rerun_status.value
    runs = register.runs(inv)
    assert len(runs) == count + 1
    [new] = [r for r in runs if r["rerun_of"] == original(register, inv, "disk-pressure")["id"]]
    assert new["parameters"]["threshold"] == 0.5
    assert "↳ rerun" in panel.verdicts.outputs[0]["data"]["text/html"]
    assert not panel.rerun_button.disabled
    assert new["notebook"].endswith(".rerun-1.ipynb")


def test_the_panel_overrides_with_a_rationale_shown_as_text(
    case: tuple[Workspace, str], register: Register
) -> None:
    """Override without a rationale is refused in the panel; with one it is recorded, and a
    rationale holding markup is shown as text."""
    workspace, inv = case
    panel = TriagePanel(inv, workspace, actor="panel")
    run = original(register, inv, "error-log-spike")
    panel.override_run.value = run["id"]
    panel.override_verdict.value = "inconclusive"
    panel.override_rationale.value = ""
    panel.override_button.click()
    assert "needs a rationale" in panel.override_status.value
    panel.override_rationale.value = "<img src=x onerror=alert(1)> metrics gap"
    panel.override_button.click()
    assert register.run(run["id"])["override"]["by"] == "panel"
    html = panel.verdicts.outputs[0]["data"]["text/html"]
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    override_verdict(workspace, run["id"], "refuted", "restored", "panel")


def test_the_panel_makes_a_writable_working_copy_outside_the_evidence(
    case: tuple[Workspace, str], register: Register
) -> None:
    """A working copy lands in <workspace>/lab/<investigation>/, writable, linked in the panel;
    the evidence notebook is untouched."""
    workspace, inv = case
    panel = TriagePanel(inv, workspace, actor="panel")
    run = original(register, inv, "backpressure")
    panel.copy_run.value = run["id"]
    panel.copy_button.click()
    copy = workspace.root / "lab" / inv / Path(run["notebook"]).name
    assert copy.read_bytes() == Path(run["notebook"]).read_bytes()
    assert os.access(copy, os.W_OK)
    assert stat.S_IMODE(copy.stat().st_mode) & 0o200
    assert copy.name in panel.copy_result.outputs[0]["data"]["text/html"]


# the register editor ---------------------------------------------------------------------------
def test_the_register_editor_writes_through_the_register(
    case: tuple[Workspace, str], register: Register
) -> None:
    """Owner and status controls change the task through Register.assign and set_status."""
    workspace, _ = case
    editor = RegisterEditor(workspace, actor="editor")
    task_id = next(iter(editor.rows))
    editor.rows[task_id].owner.value = "alice"
    editor.rows[task_id].assign.click()
    assert register.task_row(task_id)["owner"] == "alice"
    editor.rows[task_id].status.value = "in_progress"
    editor.rows[task_id].move.click()
    task = register.task(task_id)
    assert task["status"] == "in_progress"
    assert {e["actor"] for e in task["audit"][1:]} == {"editor"}
    assert "in_progress" in editor.message.value


def test_the_register_editor_shows_refusals_instead_of_raising(
    case: tuple[Workspace, str], register: Register
) -> None:
    """An illegal move, a missing reason and a task changed meanwhile are shown in the
    editor; the register keeps the other writer's change."""
    workspace, _ = case
    editor = RegisterEditor(workspace, actor="editor")
    task_id = list(editor.rows)[-1]
    row = editor.rows[task_id]
    row.status.value = "reopened"  # open → reopened is no move
    row.move.click()
    assert "cannot move to reopened" in editor.message.value
    editor.rows[task_id].status.value = "wont_do"
    editor.rows[task_id].move.click()
    assert "needs a reason" in editor.message.value
    shown = editor.rows[task_id]
    register.assign(task_id, "bob")  # someone else, meanwhile
    shown.owner.value = "carol"
    shown.assign.click()
    assert "changed by someone else" in editor.message.value
    assert register.task_row(task_id)["owner"] == "bob"


def test_working_notebooks_are_written_once_outside_the_evidence(
    case: tuple[Workspace, str], tmp_path: Path
) -> None:
    """The triage notebook lands in lab/, displays its TriagePanel and is never overwritten; a
    workspace keeping its investigations in lab/ is refused."""
    workspace, inv = case
    path = triage_notebook(workspace, inv)
    assert path == workspace.root / "lab" / f"{inv}-triage.ipynb"
    cells = json.loads(path.read_text())["cells"]
    assert cells[1]["source"].endswith(f'TriagePanel("{inv}")')
    path.write_text(path.read_text().replace("Run the cell below", "My notes"))
    assert "My notes" in triage_notebook(workspace, inv).read_text()
    assert "RegisterEditor()" in register_notebook(workspace).read_text()
    settings = workspace.settings
    inside = settings.workspace.model_copy(update={"investigations": "lab"})
    odd = Workspace(tmp_path, settings.model_copy(update={"workspace": inside}))
    with pytest.raises(InputError, match="inside the investigations folder"):
        triage_notebook(odd, inv)


def test_markup_keeps_links_to_http_and_relative_paths_only() -> None:
    """javascript:, data:, protocol-relative and absolute-path links become plain text."""
    for bad in ("javascript:alert(1)", "data:text/html,x", "//evil.example/x", "/etc/passwd", ""):
        assert safe_href(bad) is None
        assert "<a" not in link(bad, "x")
    assert link("https://runbooks.example/a?b=1&c=<2>", "r").startswith(
        '<a href="https://runbooks.example/a?b=1&amp;c=&lt;2&gt;" target="_blank"'
    )
    assert link("../investigations/inv-1/01-x.ipynb", "<b>") == (
        '<a href="../investigations/inv-1/01-x.ipynb">&lt;b&gt;</a>'
    )
    assert text("a\u202eb\x1b[31m") == "ab[31m"
