"""Closing the loop, as a team lives it, through the real `rca` command and real kernels:
incident → tasks → fix → verification; a fix that did not work; a repeat incident."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rca_kit.scaffold import bundled
from rca_kit.scenarios import Scenario, aftermath, write_scenario

RCA = str(Path(sys.executable).parent / "rca")

pytestmark = pytest.mark.slow
FMT = "%Y-%m-%dT%H:%M:%S%z"


class Team:
    """Runs `rca` in one workspace, as a person at a terminal would."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RCA_")}
        env["RCA_ACTOR"] = "sam"
        done = subprocess.run(
            [RCA, *args], cwd=self.root, env=env, capture_output=True, text=True, timeout=600
        )
        if ok:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


def workspace(root: Path, *scenarios: Scenario) -> Team:
    """A workspace whose evidence is the scenarios' files (one files source each)."""
    sources = ""
    for index, scenario in enumerate(scenarios):
        folder = f"incident-{index}"
        write_scenario(scenario, root / folder)
        sources += (
            f'\n[[sources]]\nkind = "files"\nmetrics = "{folder}/data/metrics.csv"\n'
            f'logs = "{folder}/data/logs.jsonl"\nchanges = "{folder}/data/changes.jsonl"\n'
        )
    topology = "\n".join(f'"{s}" = {json.dumps(u)}' for s, u in scenarios[0].topology.items())
    (root / "rca.toml").write_text(
        f'[workspace]\nlibrary = "{bundled("library")}"\ntemplates = "{bundled("templates")}"\n'
        f'{sources}\n[topology]\n{topology}\n\n[governance]\nauthorities = ["head-of-data"]\n'
    )
    return Team(root)


def fired(scenario: Scenario, minutes: int = 20) -> str:
    """'Now' for the incident investigation: a little after the alert fired."""
    starts = datetime.fromisoformat(scenario.alert["alerts"][0]["startsAt"].replace("Z", "+00:00"))
    return (starts + timedelta(minutes=minutes)).strftime(FMT)


def window(start: datetime, hours: float) -> tuple[str, ...]:
    """`rca verify` options for a post-fix window of `hours` from `start`."""
    end = start + timedelta(hours=hours)
    return ("--window-start", start.strftime(FMT), "--window-end", end.strftime(FMT))


def scale_out_task(result: dict[str, Any]) -> str:
    return next(t["id"] for t in result["tasks"] if t["title"].startswith("Scale out"))


def test_a_fix_that_worked_is_verified_when_due(tmp_path: Path) -> None:
    """Demo incident → tasks → the scale-out marked done → `rca verify --due` a day later finds
    the criterion no longer met and lag back to its baseline: verified, with the evidence."""
    fix = datetime.now(UTC).replace(second=0, microsecond=0)
    scenario = aftermath(11, fix_at=fix, fixed=True)
    team = workspace(tmp_path, scenario)
    (tmp_path / "alert.json").write_text(json.dumps(scenario.alert))
    incident = team.json("investigate", "alert.json", "--now", fired(scenario))
    assert incident["leading_hypothesis"] == "backpressure"
    task = scale_out_task(incident)
    team("register", "assign", task, "--owner", "alice")
    team("register", "status", task, "in_progress")
    done = team("register", "status", task, "done").stdout
    assert "verification due after" in done
    early = team("verify", "--due", "--now", (fix + timedelta(hours=3)).strftime(FMT)).stdout
    assert "no done task is due" in early
    [result] = [
        json.loads(line)
        for line in team(
            "verify", "--due", "--json", "--now", (fix + timedelta(hours=25)).strftime(FMT)
        ).stdout.splitlines()
    ]
    assert result["task_id"] == task
    assert result["result"] == "verified", result["reason"]
    assert result["verdict"] == "refuted"
    [lag] = result["check"]["metrics"]
    assert lag["metric"] == "consumer_lag_seconds"
    assert lag["passed"] is True
    assert lag["after"] <= 1.5 * lag["baseline"] + 10
    assert Path(result["notebook"]).is_file()
    shown = team.json("register", "show", task)
    assert shown["status"] == "verified"
    assert [e["kind"] for e in shown["evidence"]] == ["origin", "verification"]
    assert shown["evidence"][1]["snapshot_sha256"]
    html = Path(result["report"]).read_text()
    assert "Verification of fixes" in html
    assert 'data-target="vfig-1-before"' in html
    assert 'data-target="vfig-1-after"' in html
    assert "audit chain intact" in team("audit", "verify").stdout
    assert side_by_side_plots(Path(result["report"]), tmp_path / "review.png") == 2
    print(f"\nstory 1: {task} verified — {result['reason']}")


def side_by_side_plots(report: Path, screenshot: Path) -> int:
    """Open the review in Chromium: no page errors, nothing fetched; count the before/after
    plots drawn in the verification section."""
    from chromium import ARGS, CHROMIUM
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("request", lambda req: requests.append(req.url))
        page.goto(report.as_uri())
        page.wait_for_selector(".pair .plotly .main-svg", timeout=20_000)
        page.locator("#v-1").screenshot(path=str(screenshot))
        drawn = page.locator(".pair .js-plotly-plot").count()
        browser.close()
    assert errors == []
    assert all(url.startswith("file://") for url in requests), requests
    return drawn


def test_a_fix_that_did_not_work_is_reopened_with_the_new_evidence(tmp_path: Path) -> None:
    """The same incident where the scale-out changed nothing: verifying a day of post-fix
    evidence finds the backlog still growing, and the task is reopened and rescored."""
    fix = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    scenario = aftermath(12, fix_at=fix, fixed=False)
    team = workspace(tmp_path, scenario)
    (tmp_path / "alert.json").write_text(json.dumps(scenario.alert))
    incident = team.json("investigate", "alert.json", "--now", fired(scenario))
    task = scale_out_task(incident)
    team("register", "status", task, "done")
    short = team("verify", task, *window(fix, 6)).stdout
    assert "pending until" in short
    assert team.json("register", "show", task)["status"] == "done"
    result = team.json("verify", task, *window(fix, 25))
    assert result["result"] == "reopened", result["reason"]
    assert result["check"]["metrics"][0]["passed"] is False
    shown = team.json("register", "show", task)
    assert shown["status"] == "reopened"
    assert result["investigation_id"] in {e["investigation_id"] for e in shown["evidence"]}
    last = shown["audit"][-1]
    assert last["action"] == "task.reopened"
    assert last["details"]["cause"]["kind"] == "verification"
    assert "old_score" in last["details"]
    listed = team("register", "list", "--status", "reopened").stdout
    assert task in listed
    assert "audit chain intact" in team("audit", "verify").stdout
    print(f"\nstory 2: {task} reopened — {result['reason']}")


def test_invalid_verification_requests_are_one_line_errors(tmp_path: Path) -> None:
    """Verifying an open task, an unknown task, or both a task and --due is a usage error."""
    from rca_kit.config import find_workspace
    from rca_kit.register import Register
    from rca_kit.testing import record_investigation

    scenario = aftermath(13, fix_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC), fixed=True)
    team = workspace(tmp_path, scenario)
    ws = find_workspace(tmp_path)
    register = Register(ws.database_url, ws.settings)
    _, _, [task] = record_investigation(register)
    register.close()
    for args, expected in (
        ((task,), "only done tasks are verified"),
        (("task-nope",), "no task with id"),
        ((task, "--due"), "not both"),
        (("--window-start", "2026-11-24T09:00:00+0000", "--due"), "--window-start"),
    ):
        done = team("verify", *args, ok=False)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1
        assert expected in lines[0]
        assert "Traceback" not in done.stderr


def test_a_repeat_incident_links_learns_priors_and_a_review_lowers_precision(
    tmp_path: Path,
) -> None:
    """A reviewed, fixed and verified incident; days later the same alert again: the fix's task
    is reopened as a recurrence (one task, higher score), the learned prior runs the confirmed
    cause first and the report remembers; a review naming another cause lowers precision."""
    first_fix = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    first = aftermath(21, fix_at=first_fix, fixed=True)
    second = aftermath(22, fix_at=first_fix + timedelta(days=4), fixed=True)
    team = workspace(tmp_path, first, second)
    (tmp_path / "first.json").write_text(json.dumps(first.alert))
    (tmp_path / "second.json").write_text(json.dumps(second.alert))

    one = team.json("investigate", "first.json", "--now", fired(first))
    assert Path(one["hypotheses"][0]["notebook"]).name == "01-recent-change.ipynb"  # spec prior
    task = scale_out_task(one)
    team("review", one["investigation_id"], "--root-cause", "backpressure", "--notes", "surge")
    team("register", "status", task, "done")
    verified = team.json("verify", task, *window(first_fix, 25))
    assert verified["result"] == "verified", verified["reason"]
    score_before = team.json("register", "show", task)["score"]
    stats = {s["hypothesis_id"]: s for s in team.json("library", "stats")}
    assert stats["backpressure"]["precision"] == 1.0
    assert stats["backpressure"]["fixes_verified"] == 1

    two = team.json("investigate", "second.json", "--now", fired(second))
    assert two["alert_id"] != one["alert_id"]
    assert Path(two["hypotheses"][0]["notebook"]).name == "01-backpressure.ipynb"  # learned
    assert two["leading_hypothesis"] == "backpressure"
    assert scale_out_task(two) == task  # linked, not duplicated
    shown = team.json("register", "show", task)
    assert shown["status"] == "reopened"
    assert shown["occurrences"] == 2
    assert shown["score"] > score_before
    assert [e["kind"] for e in shown["evidence"]] == ["origin", "verification", "recurrence"]
    html = Path(two["report"]).read_text()
    assert "Seen 2 times in 30 days" in html
    assert "confirmed cause last time: <strong>backpressure</strong>" in html
    assert "last fix verified on 2026-" in html

    team(
        "review",
        two["investigation_id"],
        "--root-cause",
        "recent-change",
        "--notes",
        "the lag came from a bad consumer config, not the surge",
    )
    stats = {s["hypothesis_id"]: s for s in team.json("library", "stats")}
    assert stats["backpressure"]["false_positives"] == 1
    assert stats["backpressure"]["precision"] == 0.5
    assert stats["recent-change"]["confirmed"] == 1
    html = Path(
        team.json("review", two["investigation_id"], "--root-cause", "recent-change")["report"]
    ).read_text()
    assert "a false positive in 1 review" in html
    assert "audit chain intact" in team("audit", "verify").stdout
    print(f"\nstory 3: {task} recurred (score {score_before} → {shown['score']}); {stats}")


def test_due_skips_a_pending_verification_for_a_while(tmp_path: Path) -> None:
    """A verification that ended pending is retried by `--due` only after RETRY_AFTER."""
    from rca_kit.config import find_workspace
    from rca_kit.loop import RETRY_AFTER, due
    from rca_kit.register import Register
    from rca_kit.testing import record_investigation

    scenario = aftermath(14, fix_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC), fixed=True)
    workspace(tmp_path, scenario)
    ws = find_workspace(tmp_path)
    register = Register(ws.database_url, ws.settings)
    try:
        alert, _, [task] = record_investigation(register)
        register.set_status(task, "done")
        later = datetime.now(UTC) + timedelta(hours=25)
        assert [t for t, _ in due(register, ws, later)] == [task]
        attempt, _ = register.create_investigation(
            alert, tmp_path, kind="verification", task_id=task
        )
        tried = later - timedelta(hours=1)  # as if `verify --due` ran an hour before `later`
        register.update_investigation(
            attempt,
            action="verification.finished",
            verification={"result": "pending"},
            created_at=tried.isoformat(timespec="seconds"),
        )
        assert due(register, ws, later) == []
        assert [t for t, _ in due(register, ws, tried + RETRY_AFTER + timedelta(minutes=1))] == [
            task
        ]
        register.verify_audit()
    finally:
        register.close()
