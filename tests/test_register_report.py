"""The remediation register as one self-contained HTML page (`rca report --register`)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rca_kit.config import RcaToml, Workspace
from rca_kit.register import Register
from rca_kit.report import render_register
from rca_kit.testing import record_investigation

Rca = Callable[..., subprocess.CompletedProcess[str]]
HOSTILE = "<img src=x onerror=alert(1)>"
SCRIPT = "</script><script>alert(2)</script>"
NO_RUN = {
    "investigation_id": None,
    "run_id": None,
    "alert_id": None,
    "verdict": None,
    "confidence": None,
}


@pytest.fixture
def governed(database_url: str) -> Iterator[Register]:
    """A register where "boss" decides and every task is due the day it is created."""
    settings = RcaToml.model_validate(
        {"governance": {"authorities": ["boss"]}, "register": {"due_days": {"default": 0}}}
    )
    reg = Register(database_url, settings)
    yield reg
    reg.close()


# the page's own scripts: figure JSON (every markup character escaped), the shared plotly.js
# and the loop that draws the figures
OWN_SCRIPTS = re.compile(
    r'<script type="application/json"[^>]*>[^<]*</script>'
    r'|<script src="assets/plotly-[\w.-]+\.min\.js"></script>'
    r"|<script>\n\(function \(\) \{.*?\}\)\(\);\n</script>",
    re.S,
)


def without_own_scripts(html: str) -> str:
    return OWN_SCRIPTS.sub("", html)


def ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def table(html: str, table_id: str) -> str:
    """The HTML of one table of the page, by its id."""
    match = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert match, f"no table {table_id!r}"
    return match.group(1)


def row_of(html: str, task_id: str) -> str:
    """The backlog or closed-table row of one task."""
    match = re.search(rf'<tr id="t-{task_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"no row for {task_id}"
    return match.group(1)


def seed(reg: Register) -> dict[str, str]:
    """Six tasks over three incidents, in every kind of state."""
    record_investigation(
        reg,
        starts_at=ago(3),
        tasks=(("Scale out {service}", 5, 2, 2), ("Tune consumer batch size", 3, 1, 1)),
    )
    record_investigation(
        reg,
        name="DiskFull",
        service="ledger",
        hypothesis_id="disk-pressure",
        starts_at=ago(2),
        tasks=(
            ("Expand the volume of {service}", 4, 1, 1),
            ("Alert earlier on {service}", 2, 1, 1),
        ),
    )
    record_investigation(
        reg,
        name="OOMKilled",
        service="search",
        hypothesis_id="memory-leak",
        starts_at=ago(1),
        tasks=(("Raise the memory limit of {service}", 2, 1, 2), ("Fix the leak", 4, 4, 3)),
    )
    by_title = {t["title"]: t["id"] for t in reg.tasks()}
    scale, tune = by_title["Scale out orders-consumer"], by_title["Tune consumer batch size"]
    disk, alarm = by_title["Expand the volume of ledger"], by_title["Alert earlier on ledger"]
    memory, leak = by_title["Raise the memory limit of search"], by_title["Fix the leak"]
    reg.assign(scale, "alice", team="platform")
    reg.set_status(scale, "in_progress")
    reg.link(scale, "jira", "OPS-42")
    reg.set_status(tune, "done")
    reg.apply_verification(tune, result="verified", reason="lag stayed low", **NO_RUN)
    reg.set_status(alarm, "done")
    reg.set_status(memory, "wont_do", reason="the service is being retired")
    reg.set_status(leak, "done")
    reg.apply_verification(
        leak, result="reopened", reason="memory still climbs after the fix", **NO_RUN
    )
    return {
        "scale": scale,
        "tune": tune,
        "disk": disk,
        "alarm": alarm,
        "memory": memory,
        "leak": leak,
    }


def test_register_page_lists_every_task(governed: Register, tmp_path: Path) -> None:
    """The page is written to reports/register.html with every task, open work ranked first."""
    ids = seed(governed)
    page = render_register(governed, tmp_path / "reports")
    assert page == tmp_path / "reports" / "register.html"
    html = page.read_text(encoding="utf-8")
    for task in governed.tasks():
        assert task["id"] in html
        assert task["title"] in html
    backlog, closed = table(html, "backlog"), table(html, "closed")
    assert all(ids[k] in backlog for k in ("scale", "disk", "leak"))
    assert all(ids[k] in closed for k in ("tune", "alarm", "memory"))
    assert not any(ids[k] in closed for k in ("scale", "disk", "leak"))
    scale = row_of(html, ids["scale"])
    assert "alice" in scale
    assert "platform" in scale
    assert "OPS-42" in scale
    assert "jira" in scale
    assert "In progress" in scale
    assert "the service is being retired" in row_of(html, ids["memory"])
    assert "memory still climbs after the fix" in row_of(html, ids["leak"])
    found = re.findall(r'<span class="n">(\d+)</span><span class="label">([^<]+)', html)
    assert {label: int(n) for n, label in found} == {
        "Open": 1,
        "In progress": 1,
        "Reopened": 1,
        "Overdue": 0,
        "Done": 1,
        "Verified": 1,
        "Won&#39;t do": 1,
    }
    ranks = re.findall(r'<tr id="t-[^"]+"[^>]*>\s*<td class="num">(\d+)</td>', backlog)
    assert ranks == ["1", "2", "3"]


def test_agenda_shows_what_changed_since_the_last_review(
    governed: Register, tmp_path: Path
) -> None:
    """The agenda lists new work before any review, and only a recurrence after one."""
    _, _, [task] = record_investigation(governed, starts_at=ago(3))
    html = render_register(governed, tmp_path).read_text(encoding="utf-8")
    assert "No register review has been recorded yet" in html
    assert task in table(html, "agenda")
    assert "<li>new</li>" in table(html, "agenda")

    governed.reviewed("boss", notes="weekly review")
    html = render_register(governed, tmp_path).read_text(encoding="utf-8")
    assert "Since the register review of" in html
    assert "weekly review" in html
    assert 'id="agenda"' not in html
    assert "Nothing needs a decision." in html

    record_investigation(governed, starts_at=ago(1))  # the same alert again: the task recurs
    html = render_register(governed, tmp_path).read_text(encoding="utf-8")
    assert "recurred (2 alerts)" in table(html, "agenda")
    assert "seen in 2 alerts" in row_of(html, task)


def test_override_is_shown_beside_the_computed_score(governed: Register, tmp_path: Path) -> None:
    """An authority's override shows with the computed score, who set it and why."""
    _, _, [task] = record_investigation(governed, starts_at=ago(1))
    governed.reprioritize(
        task, override={"score": 12}, rationale="customer escalation", authority="boss"
    )
    computed = governed.task(task)["computed_score"]
    assert computed != 12
    row = row_of(render_register(governed, tmp_path).read_text(encoding="utf-8"), task)
    assert re.search(
        rf'<span class="score">12\.0</span>\s*<span class="override">override 12\.0 · '
        rf"computed {computed:.1f}<br>by <strong>boss</strong> on \d{{4}}-\d\d-\d\d: "
        r"“customer escalation”</span>",
        row,
    ), row
    assert f"set to 12.0 by boss (computed {computed:.1f}" in row  # the explanation


def test_overdue_tasks_are_marked(governed: Register, tmp_path: Path) -> None:
    """An open task past its due date carries the OVERDUE marker; a closed one never does."""
    _, _, [late, finished] = record_investigation(
        governed, starts_at=ago(1), tasks=(("Scale out {service}", 5, 2, 2), ("Tune it", 3, 1, 1))
    )
    governed.set_status(finished, "done")
    due = governed.task(late)["due_date"]
    html = render_register(governed, tmp_path).read_text(encoding="utf-8")
    assert "OVERDUE" not in html  # due today is not late yet

    tomorrow = (datetime.fromisoformat(due) + timedelta(days=1)).date().isoformat()
    html = render_register(governed, tmp_path, today=tomorrow).read_text(encoding="utf-8")
    assert f"overdue as of {tomorrow}" in html
    assert '<tr id="t-' + late + '" class="overdue">' in html
    assert re.search(rf"{due}<br><span class=\"badge-overdue\">OVERDUE</span>", row_of(html, late))
    assert "OVERDUE" not in row_of(html, finished)
    assert re.search(r'<span class="n">1</span><span class="label">Overdue</span>', html)


def test_the_backlog_puts_overdue_work_first(database_url: str, tmp_path: Path) -> None:
    """Overdue tasks come first, in rank order, then the rest in rank order; each keeps the
    rank the register gives it."""
    settings = RcaToml.model_validate({"register": {"due_days": {"page": 0, "ticket": 30}}})
    reg = Register(database_url, settings)
    _, _, [first] = record_investigation(
        reg, starts_at=ago(2), tasks=(("Scale out {service}", 5, 1, 1),), severity="ticket"
    )
    _, _, [second, third] = record_investigation(
        reg,
        name="DiskFull",
        service="ledger",
        hypothesis_id="disk-pressure",
        starts_at=ago(1),
        tasks=(("Expand the volume of {service}", 3, 2, 2), ("Alert earlier", 2, 3, 2)),
        severity="page",
    )
    ranks = {t["id"]: t["rank"] for t in reg.tasks()}
    assert ranks[first] < ranks[second] < ranks[third]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    html = render_register(reg, tmp_path, today=tomorrow).read_text(encoding="utf-8")
    reg.close()
    rows = re.findall(
        r'<tr id="t-([^"]+)"[^>]*>\s*<td class="num">(\d+)</td>', table(html, "backlog")
    )
    assert rows == [(second, str(ranks[second])), (third, str(ranks[third])), (first, "1")]
    assert "overdue first" in html


def test_hostile_text_is_escaped(governed: Register, tmp_path: Path) -> None:
    """Services, owners, teams, reasons, keys and rationales render as text, never as markup."""
    _, _, [task, other] = record_investigation(
        governed,
        starts_at=ago(1),
        service=HOSTILE,
        tasks=(("Scale out {service}", 5, 2, 2), ("Tune {service}", 3, 1, 1)),
    )
    governed.assign(task, HOSTILE, team=HOSTILE)
    governed.link(task, "github", HOSTILE)
    governed.reprioritize(task, override={"score": 12}, rationale=SCRIPT, authority="boss")
    governed.set_status(other, "wont_do", reason=SCRIPT)
    html = render_register(governed, tmp_path).read_text(encoding="utf-8")
    assert "<img" not in html
    assert "<script" not in without_own_scripts(html)
    assert "</script" not in without_own_scripts(html)
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    row = row_of(html, task)
    assert row.count(escaped) >= 5  # title, service, team, owner, ticket key
    assert "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in row
    assert "&lt;/script&gt;" in row_of(html, other)


def test_page_loads_no_external_resources(governed: Register, tmp_path: Path) -> None:
    """The page loads only the reports folder's own plotly.js and links only within itself."""
    record_investigation(
        governed,
        starts_at=ago(1),
        service="orders",
        runbook_url="https://runbooks.example.com/lag",
    )
    page = render_register(governed, tmp_path)
    html = page.read_text(encoding="utf-8")
    assert "<script" not in without_own_scripts(html)
    assert "<link" not in html
    assert not re.search(r"https?://", html)
    [src] = re.findall(r'src="([^"]+)"', html)
    assert (page.parent / src).is_file()  # the shared copy, written beside the page
    assert not re.search(r"href=(?!\"#)", html)  # only in-page anchors
    assert 'data-target="backlog-by-service"' in html  # the open work per service


def test_report_register_from_the_command_line(rca: Rca, workspace: Workspace) -> None:
    """`rca report --register` prints the page's path; no target or two targets is exit 2."""
    reg = Register(workspace.database_url, workspace.settings)
    try:
        _, investigation, [task] = record_investigation(reg, starts_at=ago(1))
    finally:
        reg.close()
    done = rca("report", "--register")
    assert done.returncode == 0, done.stderr
    page = Path(done.stdout.strip())
    assert page == workspace.reports_dir / "register.html"
    assert task in page.read_text(encoding="utf-8")

    for args in (
        (),
        (investigation, "--register"),
        ("--library", "--register"),
        (investigation, "--library"),
        ("--index", "--register"),
    ):
        failed = rca("report", *args)
        assert failed.returncode == 2, (args, failed.stdout, failed.stderr)
        lines = [line for line in failed.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, failed.stderr
        assert "Traceback" not in failed.stderr
        assert "exactly one of INVESTIGATION_ID, --library, --register or --index" in lines[0]
