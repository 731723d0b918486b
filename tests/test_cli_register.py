"""`rca register …` through the real console script: the backlog walk, lifecycle refusals,
filters, governed reprioritization, optimistic locking, the review agenda, recurrence and
ticket export (to files and to a local fake tracker).

The register is seeded in-process with `record_investigation` (no notebooks run) and set up
through the Python API; every behaviour under test goes through the `rca` executable, and its
effect is read back from the database.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fake_tracker import Tracker, running

from rca_kit.config import find_workspace
from rca_kit.register import Register
from rca_kit.register.tickets import CSV_HEADER
from rca_kit.testing import one_line_error, record_investigation

Rca = Callable[..., subprocess.CompletedProcess[str]]
RCA = str(Path(sys.executable).parent / "rca")
TOKEN = "ghp_cli-s3cret-token-0123456789abcdef"
GOVERNANCE = """
[governance]
authorities = ["head-of-data"]
teams."data-platform" = ["dp-lead"]
"""
LATER = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # a second alert for the same service
TWO_TASKS = (("Scale out {service}", 5, 2, 2), ("Alert on lag of {service}", 3, 2, 1))


@pytest.fixture(autouse=True)
def _own_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeding and the CLI must both use the workspace's rca.toml, never the caller's env."""
    for var in ("RCA_WORKSPACE", "RCA_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RCA_ACTOR", "ops-bot")


# helpers -------------------------------------------------------------------------------------
def remove(root: Path, header: str) -> None:
    """Drop one [section] of rca.toml (the scaffold sets some that tests replace)."""
    toml = root / "rca.toml"
    kept, skipping = [], False
    for line in toml.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("["):
            skipping = line.split("#")[0].strip() == header
        if not skipping:
            kept.append(line)
    toml.write_text("\n".join(kept) + "\n", encoding="utf-8")


def append(root: Path, text: str) -> None:
    """Set one [section] of rca.toml, replacing the scaffold's if it has one."""
    remove(root, text.strip().splitlines()[0])
    with (root / "rca.toml").open("a", encoding="utf-8") as toml:
        toml.write("\n" + text + "\n")


def use_database(root: Path, url: str) -> None:
    toml = root / "rca.toml"
    text = toml.read_text(encoding="utf-8")
    assert 'database = "sqlite:///rca.db"' in text
    toml.write_text(text.replace('database = "sqlite:///rca.db"', f'database = "{url}"'))


def open_register(root: Path) -> Register:
    ws = find_workspace(root)
    return Register(ws.database_url, ws.settings)


def seed(root: Path, **kwargs: Any) -> tuple[str, str, list[str]]:
    """Record one supported investigation (alert, run, tasks) in the workspace's database."""
    reg = open_register(root)
    try:
        return record_investigation(reg, folder=root / "investigations", **kwargs)
    finally:
        reg.close()


def change(root: Path, method: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Set a task up through the Python API (audited like the CLI, without a process start)."""
    reg = open_register(root)
    try:
        result: dict[str, Any] = getattr(reg, method)(*args, **kwargs)
        return result
    finally:
        reg.close()


def stored(root: Path, task_id: str) -> tuple[dict[str, Any], int]:
    """A task as the database holds it, and the number of audit events (chain verified)."""
    reg = open_register(root)
    try:
        return reg.task(task_id), reg.verify_audit()[0]
    finally:
        reg.close()


def ok(rca: Rca, *args: str) -> str:
    done = rca(*args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def as_json(rca: Rca, *args: str) -> Any:
    return json.loads(ok(rca, *args))


def ids(rca: Rca, *filters: str) -> list[str]:
    return [row["id"] for row in as_json(rca, "register", "list", "--json", *filters)]


def today(days: int = 0) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


# the walk ------------------------------------------------------------------------------------
def test_walk_from_open_to_done(rca: Rca, workspace_dir: Path, database_url: str) -> None:
    """A task goes open → assigned → in_progress → done; `show` tells its story; audit verifies."""
    use_database(workspace_dir, database_url)
    _, investigation, [task] = seed(workspace_dir, severity="critical")
    [line] = ok(rca, "register", "list").splitlines()
    assert line.split()[:5] == ["1", "89.5", task, "open", "unassigned"]
    assert line.endswith("Scale out orders-consumer")

    assigned = ok(rca, "register", "assign", task, "--owner", "alice", "--team", "data-platform")
    assert assigned == f"{task}: owner alice, team data-platform (version 2)\n"
    assert (
        ok(rca, "register", "status", task, "in_progress") == f"{task}: in_progress (version 3)\n"
    )
    # the bundled backpressure spec states a verification check: done says when it is due
    finished = ok(rca, "register", "status", task, "done")
    assert finished.startswith(f"{task}: done (version 4); verification due after ")

    shown = as_json(rca, "register", "show", task, "--json")
    assert (shown["status"], shown["owner"], shown["team"]) == ("done", "alice", "data-platform")
    assert (shown["version"], shown["severity"], shown["due_date"]) == (4, "critical", today(3))
    assert set(shown["breakdown"]) == {"impact", "confidence", "effort", "risk", "recurrence"}
    assert sum(shown["breakdown"].values()) == pytest.approx(shown["score"], abs=0.05)
    assert shown["why"].startswith("not ranked: done; score 89.5 (impact 5/5 → 40.0")
    [evidence] = shown["evidence"]
    assert evidence["kind"] == "origin"
    assert evidence["investigation_id"] == investigation
    assert (evidence["hypothesis_id"], evidence["verdict"]) == ("backpressure", "supported")
    assert evidence["confidence"] == pytest.approx(0.9)
    assert {"snapshot_sha256", "notebook", "report", "run_id", "alert_id"} <= set(evidence)
    trail = shown["audit"]
    assert [e["action"] for e in trail] == [
        "task.created",
        "task.assigned",
        "task.in_progress",
        "task.done",
    ]
    assert [e["actor"] for e in trail] == ["rca-kit", "ops-bot", "ops-bot", "ops-bot"]
    assert trail[1]["details"]["changes"]["owner"] == [None, "alice"]
    assert trail[1]["details"]["changes"]["team"] == [None, "data-platform"]
    assert trail[2]["details"]["changes"]["status"] == ["open", "in_progress"]
    assert trail[3]["details"]["changes"]["status"] == ["in_progress", "done"]
    assert [e["details"]["version"] for e in trail] == [1, 2, 3, 4]
    assert shown["verify_after"] is not None
    assert ok(rca, "audit", "verify").startswith("audit chain intact: ")


def test_illegal_moves_are_one_line_and_write_nothing(rca: Rca, workspace_dir: Path) -> None:
    """A refused move is one stderr line (task, state, allowed moves), exit 2, and no write."""
    _, _, [done, fresh] = seed(workspace_dir, tasks=TWO_TASKS)
    change(workspace_dir, "set_status", done, "done")
    before = [stored(workspace_dir, t) for t in (done, fresh)]

    line = one_line_error(rca("register", "status", done, "wont_do", "--reason", "no budget"))
    assert line == f"rca: error: {done}: is done and cannot move to wont_do (allowed: reopened)"
    line = one_line_error(rca("register", "status", fresh, "verified"))
    assert f"{fresh}: is open and cannot move to verified by hand (allowed: in_progress" in line
    assert f"`rca verify {fresh}` verifies a done task" in line
    line = one_line_error(rca("register", "status", fresh, "wont_do"))
    assert f"{fresh}: moving to wont_do needs a reason (add --reason TEXT)" in line
    assert "no task with id 'task-nope'" in one_line_error(
        rca("register", "status", "task-nope", "done")
    )

    after = [stored(workspace_dir, t) for t in (done, fresh)]
    assert [(t["version"], t["status"], n) for t, n in after] == [
        (t["version"], t["status"], n) for t, n in before
    ]


# filters -------------------------------------------------------------------------------------
def test_list_filters_choose_rows_but_keep_register_ranks(rca: Rca, workspace_dir: Path) -> None:
    """--owner, --team, --status (repeated), --service, --investigation and --overdue filter."""
    append(workspace_dir, "[register]\ndue_days = { default = 0, critical = 0 }")
    _, _, [consumer] = seed(workspace_dir, severity="critical", team="data-platform")
    _, billing_inv, [rollback, canary] = seed(
        workspace_dir,
        service="billing",
        hypothesis_id="recent-change",
        tasks=(("Roll back {service}", 4, 1, 1), ("Add a canary for {service}", 3, 3, 2)),
    )
    change(workspace_dir, "assign", rollback, "alice", "payments")
    change(workspace_dir, "set_status", rollback, "in_progress")
    change(workspace_dir, "set_status", canary, "done")

    alice = as_json(rca, "register", "list", "--json", "--owner", "alice")
    assert [(r["id"], r["rank"]) for r in alice] == [(rollback, 2)]  # rank in the whole register
    assert ids(rca, "--team", "data-platform") == [consumer]
    assert ids(rca, "--status", "open", "--status", "in_progress") == [consumer, rollback]
    assert ids(rca, "--service", "billing") == [rollback, canary]
    assert ids(rca, "--investigation", billing_inv, "--status", "done") == [canary]
    assert ok(rca, "register", "list", "--overdue") == "no tasks\n"  # due today is not overdue

    reg = open_register(workspace_dir)
    try:
        everything = reg.tasks()
        assert [r["id"] for r in everything] == [consumer, rollback, canary]  # open work first
        assert {r["due_date"] for r in everything} == {today()}  # due today: due_days 0
        late = reg.tasks(overdue=True, today="2999-01-01")
        assert [(r["id"], r["rank"], r["overdue"]) for r in late] == [
            (consumer, 1, True),
            (rollback, 2, True),
        ]  # the done task is never overdue
        assert reg.tasks(overdue=True, today=today()) == []
    finally:
        reg.close()


def test_due_dates_follow_severity(rca: Rca, workspace_dir: Path) -> None:
    """Due = the sooner of the template's due_in_days (7) and the severity's days (rca.toml)."""
    append(workspace_dir, "[register]\ndue_days = { critical = 1 }")
    _, _, [critical] = seed(workspace_dir, service="a", severity="critical")
    _, _, [page] = seed(workspace_dir, service="b", severity="PAGE")
    _, _, [info] = seed(workspace_dir, service="c", severity="info")
    due = {r["id"]: r["due_date"] for r in as_json(rca, "register", "list", "--json")}
    assert due == {critical: today(1), page: today(3), info: today(7)}


# governance ----------------------------------------------------------------------------------
def test_reprioritize_is_governed_and_audited(rca: Rca, workspace_dir: Path) -> None:
    """Only a configured authority with a rationale may override; list/show show both scores."""
    remove(workspace_dir, "[governance]")
    _, _, [mine] = seed(workspace_dir, severity="critical", team="data-platform")
    _, _, [theirs] = seed(
        workspace_dir, service="billing", team="payments", tasks=(("Roll back {service}", 3, 2, 2),)
    )
    decide = ("register", "reprioritize", mine, "--score", "40")
    line = one_line_error(rca(*decide, "--rationale", "freeze", "--authority", "dp-lead"))
    assert "no decision authorities are configured" in line
    append(workspace_dir, GOVERNANCE)
    before = stored(workspace_dir, mine)

    line = one_line_error(rca(*decide, "--rationale", "freeze", "--authority", "mallory"))
    assert "'mallory' is not a decision authority for this task" in line
    assert "team data-platform" in line
    theirs_decide = ("register", "reprioritize", theirs, "--score", "40", "--rationale", "freeze")
    line = one_line_error(rca(*theirs_decide, "--authority", "dp-lead"))
    assert "'dp-lead' is not a decision authority for this task (team payments" in line
    missing = rca(*decide, "--authority", "dp-lead")
    assert missing.returncode == 2
    assert "Missing option '--rationale'" in missing.stderr
    assert "Traceback" not in missing.stderr
    line = one_line_error(rca(*decide, "--clear", "--rationale", "x", "--authority", "dp-lead"))
    assert "give exactly one of --score N, --impact/--effort/--risk, or --clear" in line
    assert stored(workspace_dir, mine) == before  # nothing was written by any refusal

    done = ok(rca, *decide, "--rationale", "freeze week", "--authority", "dp-lead")
    assert done == f"{mine}: score  40.0 (override by dp-lead; computed 89.5) (version 2)\n"
    lines = ok(rca, "register", "list").splitlines()
    assert theirs in lines[0]  # the override moved it below the other task
    assert "40.0 (override by dp-lead; computed 89.5)" in lines[1]
    rows = {r["id"]: r for r in as_json(rca, "register", "list", "--json")}
    row = rows[mine]
    assert (row["rank"], row["score"], row["computed_score"]) == (2, 40.0, 89.5)
    assert row["override"]["authority"] == "dp-lead"
    assert row["override"]["rationale"] == "freeze week"
    assert row["override"]["score"] == 40.0
    assert rows[theirs]["override"] is None
    assert rows[theirs]["score"] == rows[theirs]["computed_score"]
    text = ok(rca, "register", "show", mine)
    assert "  score       40.0 (override by dp-lead; computed 89.5)" in text
    assert "task.reprioritized by dp-lead — freeze week" in text
    assert "score: 89.5 → 40.0" in text

    factors = ok(
        rca, "register", "reprioritize", mine, "--impact", "1",
        "--rationale", "low impact after all", "--authority", "head-of-data",
    )  # fmt: skip
    assert "(override by head-of-data; computed 89.5) (version 3)" in factors
    cleared = ok(
        rca, "register", "reprioritize", mine, "--clear",
        "--rationale", "freeze over", "--authority", "head-of-data",
    )  # fmt: skip
    assert cleared == f"{mine}: score  89.5 (version 4)\n"

    task, _ = stored(workspace_dir, mine)
    assert (task["score"], task["computed_score"], task["override"]) == (89.5, 89.5, None)
    set_score, set_factors, clear = task["audit"][1:]
    assert set_score["action"] == "task.reprioritized"
    assert (set_score["authority"], set_score["rationale"]) == ("dp-lead", "freeze week")
    assert (set_score["details"]["old_score"], set_score["details"]["new_score"]) == (89.5, 40.0)
    assert set_score["actor"] == "ops-bot"
    assert set_factors["details"]["old_score"] == 40.0
    assert set_factors["details"]["new_score"] < 89.5  # recomputed from impact 1
    assert clear["action"] == "task.override_cleared"
    assert (clear["authority"], clear["rationale"]) == ("head-of-data", "freeze over")
    assert clear["details"]["new_score"] == 89.5


def test_a_stale_expect_version_writes_nothing(rca: Rca, workspace_dir: Path) -> None:
    """--expect-version of an older version is exit 1, one line naming task and version."""
    _, _, [task] = seed(workspace_dir)
    ok(rca, "register", "assign", task, "--owner", "alice")
    before = stored(workspace_dir, task)
    stale = ("--expect-version", "1")
    line = one_line_error(rca("register", "assign", task, "--owner", "bob", *stale), code=1)
    assert f"task {task} was changed by someone else (now version 2" in line
    assert "nothing was written" in line
    line = one_line_error(rca("register", "status", task, "in_progress", *stale), code=1)
    assert "now version 2" in line
    assert stored(workspace_dir, task) == before
    assert before[0]["owner"] == "alice"
    moved = ok(rca, "register", "status", task, "in_progress", "--expect-version", "2")
    assert moved == f"{task}: in_progress (version 3)\n"


def test_agenda_until_reviewed_then_only_what_changed(rca: Rca, workspace_dir: Path) -> None:
    """The agenda lists new tasks until a review, then only recurrences; reviews are governed."""
    append(workspace_dir, GOVERNANCE)
    _, _, [task] = seed(workspace_dir, severity="critical", team="data-platform")
    agenda = ok(rca, "register", "agenda").splitlines()
    assert agenda[0] == "since the start (no review yet)"
    assert task in agenda[1]
    assert agenda[2].strip() == "new"

    line = one_line_error(rca("register", "reviewed", "--authority", "dp-lead"))
    assert "'dp-lead' may not record register reviews" in line  # a team authority only
    recorded = ok(rca, "register", "reviewed", "--authority", "head-of-data", "--notes", "weekly")
    assert recorded.startswith("review recorded at ")
    assert recorded.endswith(" by head-of-data (1 items)\n")

    empty = as_json(rca, "register", "agenda", "--json")
    assert empty["items"] == []
    assert (empty["since"]["authority"], empty["since"]["notes"]) == ("head-of-data", "weekly")

    seed(workspace_dir, severity="critical", team="data-platform", starts_at=LATER)
    [item] = as_json(rca, "register", "agenda", "--json")["items"]
    assert item["id"] == task
    assert item["reasons"] == ["computed score 89.5 → 92.1", "recurred (2 alerts)"]
    assert item["score"] == item["computed_score"] > 89.5


# recurrence ----------------------------------------------------------------------------------
def test_a_recurrence_rescores_and_reopens_the_same_tasks(rca: Rca, workspace_dir: Path) -> None:
    """A second alert links to the existing tasks (occurrences 2, higher score); done reopens."""
    _, _, [scale, watch] = seed(workspace_dir, tasks=TWO_TASKS)
    first = {r["id"]: r for r in as_json(rca, "register", "list", "--json")}
    change(workspace_dir, "set_status", scale, "done")

    _, again, linked = seed(workspace_dir, tasks=TWO_TASKS, starts_at=LATER)
    assert linked == [scale, watch]
    rows = as_json(rca, "register", "list", "--json")
    assert sorted(r["title"] for r in rows) == [
        "Alert on lag of orders-consumer",
        "Scale out orders-consumer",
    ]  # one task per remediation, not one per alert
    now = {r["id"]: r for r in rows}
    for task in (scale, watch):
        assert now[task]["occurrences"] == 2
        assert now[task]["score"] > first[task]["score"]
        assert now[task]["breakdown"]["recurrence"] > 0
        assert "seen 2×" in now[task]["explanation"]
    assert now[watch]["status"] == "open"
    assert now[scale]["status"] == "reopened"
    assert now[scale]["status_reason"] == f"recurred: investigation {again}"

    shown = as_json(rca, "register", "show", scale, "--json")
    assert [(e["kind"], e["investigation_id"]) for e in shown["evidence"]][1] == (
        "recurrence",
        again,
    )
    assert [e["kind"] for e in shown["evidence"]] == ["origin", "recurrence"]
    last = shown["audit"][-1]
    assert last["action"] == "task.reopened"
    assert last["details"]["cause"]["investigation_id"] == again
    assert last["details"]["changes"]["status"] == ["done", "reopened"]
    text = ok(rca, "register", "show", scale)
    assert f"    recurrence   {again}  backpressure supported 0.9" in text
    assert ok(rca, "register", "status", scale, "in_progress").startswith(f"{scale}: in_progress")


def test_a_rerun_of_the_same_alert_is_not_a_recurrence(rca: Rca, workspace_dir: Path) -> None:
    """Investigating the same alert again adds evidence but neither counts nor reopens."""
    alert, _, [task] = seed(workspace_dir)
    change(workspace_dir, "set_status", task, "done")
    same_alert, rerun, [linked] = seed(workspace_dir)
    assert (same_alert, linked) == (alert, task)
    shown = as_json(rca, "register", "show", task, "--json")
    assert (shown["status"], shown["occurrences"], shown["score"]) == ("done", 1, 89.5)
    assert [(e["kind"], e["investigation_id"]) for e in shown["evidence"]][1] == ("rerun", rerun)


# export --------------------------------------------------------------------------------------
def test_export_files_and_a_linked_jira_update(rca: Rca, workspace_dir: Path) -> None:
    """csv, json, github and jira exports hold the ranked tasks; a linked task is an update."""
    _, _, [first] = seed(workspace_dir, severity="critical")
    _, _, [second] = seed(
        workspace_dir, service="billing", tasks=(("Roll back {service}", 3, 2, 2),)
    )
    exported = ok(rca, "register", "export", "--format", "csv")
    table = [row for row in csv.reader(io.StringIO(exported)) if row]  # stdout ends "\n\n"
    assert tuple(table[0]) == CSV_HEADER
    assert [(r[0], r[1]) for r in table[1:]] == [(first, "1"), (second, "2")]
    assert dict(zip(CSV_HEADER, table[1], strict=True))["score"] == "89.5"
    filtered = ok(rca, "register", "export", "--format", "csv", "--service", "billing")
    assert [r[0] for r in csv.reader(io.StringIO(filtered)) if r][1:] == [second]

    done = rca("register", "export", "--format", "json", "-o", "tasks.json")
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr == "2 tasks written to tasks.json\n"
    rows = json.loads((workspace_dir / "tasks.json").read_text())
    assert [(r["id"], r["rank"]) for r in rows] == [(first, 1), (second, 2)]
    assert rows[0]["evidence"][0]["verdict"] == "supported"
    assert "audit" in rows[0]

    ok(rca, "register", "export", "--format", "github", "-o", "github.json")
    issues = json.loads((workspace_dir / "github.json").read_text())
    assert [(i["task_id"], i["action"], i["external_key"]) for i in issues] == [
        (first, "create", None),
        (second, "create", None),
    ]
    assert issues[0]["payload"]["title"] == "Scale out orders-consumer"
    assert "priority:highest" in issues[0]["payload"]["labels"]

    line = one_line_error(rca("register", "export", "--format", "jira"))
    assert "[tickets] jira_project is not set in rca.toml" in line
    line = one_line_error(rca("register", "export", "--format", "csv", "--post"))
    assert "--post works with --format github or jira" in line
    line = one_line_error(rca("register", "link", first, "--external", "not a key"))
    assert "'not a key' is neither a GitHub issue" in line
    line = one_line_error(rca("register", "link", first, "--external", "org/repo12"))
    assert "'org/repo12' is neither" in line  # the exporter could never update it
    line = one_line_error(rca("register", "link", first, "--external", "#4", "--system", "jira"))
    assert "'#4' is not a jira key" in line

    append(workspace_dir, '[tickets]\njira_project = "OPS"')
    linked = ok(rca, "register", "link", first, "--external", "OPS-7")
    assert linked == f"{first}: linked to jira OPS-7\n"
    ok(rca, "register", "export", "--format", "jira", "-o", "jira.json")
    update, create = json.loads((workspace_dir / "jira.json").read_text())
    assert (update["task_id"], update["action"], update["external_key"]) == (
        first,
        "update",
        "OPS-7",
    )
    assert "project" not in update["payload"]["fields"]  # Jira's edit call refuses it
    assert (create["task_id"], create["action"], create["external_key"]) == (second, "create", None)
    assert create["payload"]["fields"]["project"] == {"key": "OPS"}
    task, _ = stored(workspace_dir, first)
    assert task["external"] == {"jira": "OPS-7"}
    assert task["audit"][-1]["action"] == "task.linked_external"


@pytest.fixture
def tracker(workspace_dir: Path) -> Iterator[Tracker]:
    """A GitHub-like server on 127.0.0.1 that the workspace's [tickets] section points at; a
    refusal echoes the token back, as a careless server might."""
    with running() as state:
        state.fail_body = json.dumps({"message": "Validation Failed", "echo": TOKEN})
        append(workspace_dir, f'[tickets]\ngithub_url = "{state.url}"\ngithub_repo = "acme/shop"')
        yield state


def post(workspace_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`rca register export --format github --post` with exactly the given token variables."""
    dropped = ("RCA_WORKSPACE", "RCA_DATABASE_URL", "GITHUB_TOKEN", "JIRA_TOKEN")
    base = {
        k: v for k, v in os.environ.items() if k not in dropped and not k.lower().endswith("_proxy")
    }
    return subprocess.run(
        [RCA, "register", "export", "--format", "github", "--post"],
        cwd=workspace_dir,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_post_creates_links_then_updates(workspace_dir: Path, tracker: Tracker) -> None:
    """--post creates issues and links them; the next --post PATCHes them; no token is shown."""
    _, _, [scale, watch] = seed(workspace_dir, tasks=TWO_TASKS)
    line = one_line_error(post(workspace_dir))
    assert "environment variable GITHUB_TOKEN is not set" in line
    assert tracker.requests == []

    first = post(workspace_dir, GITHUB_TOKEN=TOKEN)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "posted 2 tickets to github: 2 created, 0 updated\n"
    assert [(r["method"], r["path"]) for r in tracker.requests] == [
        ("POST", "/repos/acme/shop/issues"),
        ("POST", "/repos/acme/shop/issues"),
    ]
    assert {r["headers"]["authorization"] for r in tracker.requests} == {f"Bearer {TOKEN}"}
    assert tracker.requests[0]["body"]["title"] == "Scale out orders-consumer"
    links = {t: stored(workspace_dir, t)[0] for t in (scale, watch)}
    assert {t: row["external"] for t, row in links.items()} == {
        scale: {"github": "42"},
        watch: {"github": "43"},
    }

    second = post(workspace_dir, GITHUB_TOKEN=TOKEN)
    assert second.returncode == 0, second.stderr
    assert second.stdout == "posted 2 tickets to github: 0 created, 2 updated\n"
    assert [(r["method"], r["path"]) for r in tracker.requests[2:]] == [
        ("PATCH", "/repos/acme/shop/issues/42"),
        ("PATCH", "/repos/acme/shop/issues/43"),
    ]
    for done in (first, second):
        assert TOKEN not in done.stdout + done.stderr
    task, _ = stored(workspace_dir, scale)  # reading it back verifies the audit chain too
    assert task["audit"][-1]["action"] == "task.linked_external"


def test_a_refused_post_keeps_the_links_it_made(workspace_dir: Path, tracker: Tracker) -> None:
    """A refused issue stops the post: exit 1, one line, no token; earlier creates stay linked."""
    _, _, [scale, watch] = seed(workspace_dir, tasks=TWO_TASKS)
    tracker.fail_at = 2
    done = post(workspace_dir, GITHUB_TOKEN=TOKEN)
    line = one_line_error(done, code=1)
    assert "POST /repos/acme/shop/issues failed: HTTP 422" in line
    assert "1 of 2 items were posted before this one" in line
    assert TOKEN not in done.stdout + done.stderr
    assert stored(workspace_dir, scale)[0]["external"] == {"github": "42"}
    assert stored(workspace_dir, watch)[0]["external"] is None

    tracker.fail_at = None
    retry = post(workspace_dir, GITHUB_TOKEN=TOKEN)
    assert retry.stdout == "posted 2 tickets to github: 1 created, 1 updated\n"
    assert [(r["method"], r["path"]) for r in tracker.requests[2:]] == [
        ("PATCH", "/repos/acme/shop/issues/42"),
        ("POST", "/repos/acme/shop/issues"),
    ]
    assert stored(workspace_dir, watch)[0]["external"] == {"github": "45"}  # the 4th request


def test_a_task_keeps_one_ticket_per_tracker(workspace_dir: Path, tracker: Tracker) -> None:
    """Posting a Jira-linked task to GitHub adds a GitHub link and keeps the Jira one."""
    _, _, [task] = seed(workspace_dir)
    reg = open_register(workspace_dir)
    try:
        reg.link(task, "jira", "OPS-7")
    finally:
        reg.close()
    done = post(workspace_dir, GITHUB_TOKEN=TOKEN)
    assert done.returncode == 0, done.stderr
    assert stored(workspace_dir, task)[0]["external"] == {"jira": "OPS-7", "github": "42"}


def test_labels_cannot_forge_rows_or_reach_the_terminal(rca: Rca, workspace_dir: Path) -> None:
    """A service label with a newline and ANSI escapes prints as one inert row."""
    hostile = "orders\n  2   99.9  task-forged  open\x1b[2J\x1b]0;pwned\x07"
    seed(workspace_dir, service=hostile)
    listed = ok(rca, "register", "list")
    assert len(listed.splitlines()) == 1
    assert "\x1b" not in listed
    assert "\x07" not in listed
    shown = ok(rca, "register", "show", json.loads(ok(rca, "register", "list", "--json"))[0]["id"])
    assert "\x1b" not in shown
    assert not any(line.lstrip().startswith("2   99.9") for line in shown.splitlines())


def test_audit_anchor_from_the_command_line(rca: Rca, workspace_dir: Path) -> None:
    """`rca audit anchor FILE` saves the head; `verify --anchor FILE` checks the chain holds it."""
    seed(workspace_dir)
    saved = ok(rca, "audit", "anchor", "head.json")
    assert "anchored event" in saved
    verified = ok(rca, "audit", "verify", "--anchor", "head.json")
    assert "audit chain intact" in verified
    assert "contains the anchor at event" in verified
    (workspace_dir / "bad.json").write_text("{")
    assert "not an audit anchor" in one_line_error(rca("audit", "verify", "--anchor", "bad.json"))
