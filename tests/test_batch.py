"""Alert storms: `rca investigate --batch` runs one investigation per distinct alert, exactly
one outcome per (investigation, hypothesis), and a batch killed mid-way finishes when run again."""

from __future__ import annotations

import copy
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rca_kit.batch import expand, gather
from rca_kit.config import Workspace
from rca_kit.pipeline import open_register
from rca_kit.testing import one_line_error

RCA = str(Path(sys.executable).parent / "rca")
Rca = Callable[..., subprocess.CompletedProcess[str]]
# names every bundled hypothesis applies to (backpressure wants lag, backlog, queue…)
EXAMPLE = "examples/alerts/consumer-lag.json"
NAMES = ("ConsumerLagHigh", "ConsumerLagRising", "OrdersBacklog", "QueueDepthHigh", "LagCritical")


def write_storm(workspace_dir: Path, folder: str = "storm") -> Path:
    """Two Alertmanager payloads, six alerts: five distinct ones and an identical copy of one."""
    base = json.loads((workspace_dir / "examples/alerts/consumer-lag.json").read_text())

    def payload(names: tuple[str, ...]) -> str:
        body = copy.deepcopy(base)
        first = body["alerts"][0]
        body["alerts"] = []
        for name in names:
            alert = copy.deepcopy(first)
            alert["labels"]["alertname"] = name
            body["alerts"].append(alert)
        return json.dumps(body)

    storm = workspace_dir / folder
    storm.mkdir()
    (storm / "a.json").write_text(payload(NAMES[:3]))
    (storm / "b.json").write_text(payload((*NAMES[3:], NAMES[0])))
    return storm


def _db(workspace_dir: Path, query: str) -> list[tuple[object, ...]]:
    try:
        conn = sqlite3.connect(f"file:{workspace_dir}/rca.db?mode=ro", uri=True, timeout=30)
    except sqlite3.OperationalError:  # not created yet
        return []
    try:
        return conn.execute(query).fetchall()
    except sqlite3.OperationalError:  # not migrated yet
        return []
    finally:
        conn.close()


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("RCA_WORKSPACE", "RCA_DATABASE_URL")}


def kill_mid_way(command: list[str], workspace_dir: Path) -> None:
    """Run `command` and SIGKILL it once one investigation is done and another is running."""
    first = subprocess.Popen(
        command, cwd=workspace_dir, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and first.poll() is None:
            statuses = [s for (s,) in _db(workspace_dir, "SELECT status FROM investigations")]
            if "done" in statuses and "running" in statuses:
                break
            time.sleep(0.05)
        assert first.poll() is None, "the batch ended before it could be killed mid-way"
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()


@pytest.mark.slow
def test_a_storm_killed_mid_way_completes_when_run_again(workspace_dir: Path, rca: Rca) -> None:
    """Six alerts (two identical) make five investigations of nine outcomes each, even when
    the first batch is SIGKILLed mid-way: the same command finishes, nothing lost or doubled."""
    write_storm(workspace_dir)
    command = [RCA, "investigate", "--batch", "storm", "--json"]
    kill_mid_way(command, workspace_dir)
    statuses = [str(s) for (s,) in _db(workspace_dir, "SELECT status FROM investigations")]
    assert "done" in statuses
    assert "running" in statuses  # killed mid-way indeed

    again = rca("investigate", "--batch", "storm", "--json")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["counts"]["investigations"] == 5
    assert result["counts"]["done"] == 5
    assert result["counts"]["alerts"] == 5  # the identical copy is the same stored alert
    assert again.stderr.startswith("batch: 5/5 investigations, 0 not done")
    assert "\r" not in again.stderr  # not a terminal: no bar, only the summary

    alerts = _db(workspace_dir, "SELECT count(*) FROM alerts")
    assert alerts == [(5,)]
    per_alert = _db(
        workspace_dir,
        "SELECT alert_id, count(*) FROM investigations WHERE status='done' GROUP BY alert_id",
    )
    assert len(per_alert) == 5
    assert all(n == 1 for _, n in per_alert)
    runs = _db(
        workspace_dir,
        "SELECT r.investigation_id, r.hypothesis_id FROM runs r "
        "JOIN investigations i ON i.id = r.investigation_id WHERE i.status = 'done'",
    )
    assert len(runs) == 5 * 9
    assert len(set(runs)) == len(runs)  # one outcome per (investigation, hypothesis)
    assert {i for i, _ in runs} == {item["investigation_id"] for item in result["investigations"]}
    # the killed batch's investigations were resumed in place, not started over
    assert _db(workspace_dir, "SELECT count(*) FROM investigations") == [(5,)]
    assert _db(workspace_dir, "SELECT count(*) FROM runs") == [(45,)]
    assert rca("audit", "verify").returncode == 0


def test_storm_alerts_are_stored_once_and_copies_share(workspace: Workspace) -> None:
    """An identical alert is the stored one; a copy (same name and service, another instance)
    shares its investigation; a payload that cannot be read is named, the others still count."""
    storm = write_storm(workspace.root)
    base = json.loads((storm / "a.json").read_text())
    base["alerts"] = [copy.deepcopy(base["alerts"][0])]
    base["alerts"][0]["labels"]["instance"] = "consumer-7"
    (storm / "c.json").write_text(json.dumps(base))
    (storm / "d.json").write_text("{not json")
    (storm / ".hidden.json").write_text("{not json")
    assert [p.name for p in expand(str(storm))] == ["a.json", "b.json", "c.json", "d.json"]
    assert [p.name for p in expand(f"{storm}/[ab].json")] == ["a.json", "b.json"]
    register = open_register(workspace)
    try:
        items, problems = gather(workspace, register, expand(str(storm)), None)
    finally:
        register.close()
    assert len(items) == 5
    [shared] = [item for item in items if item.copies]
    assert len(shared.copies) == 1
    [(bad, why)] = problems
    assert bad.endswith("d.json")
    assert why


def test_batch_without_files_is_one_line_and_exit_2(rca: Rca) -> None:
    """A folder or glob that names no file is bad input: one line, exit 2."""
    assert "no alert files match" in one_line_error(rca("investigate", "--batch", "nothing/*.json"))
    assert "--batch" in one_line_error(
        rca("investigate", "--batch", "x", "examples/alerts/consumer-lag.json")
    )


def test_a_failed_investigation_fails_the_batch_with_exit_1(rca: Rca, workspace_dir: Path) -> None:
    """An alert that cannot be investigated (it names no service) is reported as failed in the
    summary and JSON, and the batch exits 1."""
    base = json.loads((workspace_dir / "examples/alerts/consumer-lag.json").read_text())
    alert = base["alerts"][0]
    del alert["labels"]["service"]
    base["commonLabels"].pop("service")
    (workspace_dir / "noservice.json").write_text(json.dumps(base))
    done = rca("investigate", "--batch", "noservice.json", "--json")
    assert done.returncode == 1, done.stderr
    [item] = json.loads(done.stdout)["investigations"]
    assert item["status"] == "failed"
    assert "names no service" in item["error"]
    assert item["investigation_id"] is None
    assert "1 of 1 investigations not done" in done.stderr


def test_the_local_backend_never_imports_dask(workspace: Workspace) -> None:
    """Running a batch's local backend (and the investigate command) loads no dask module."""
    code = (
        "import sys; from rca_kit.batch import backend; import rca_kit.cli.commands\n"
        "from rca_kit.config import find_workspace\n"
        f"with backend(find_workspace({str(workspace.root)!r})) as plan: plan(3)\n"
        "assert not {'dask', 'distributed'} & set(sys.modules), 'dask imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=_env())


def test_an_investigation_killed_after_recording_its_verdicts_is_ended_from_them(
    rca: Rca, workspace: Workspace
) -> None:
    """Killed between recording its runs and its end: the batch proposes its tasks, names its
    leading hypothesis and renders its report from the runs on record; nothing runs again."""
    from rca_kit.ingest import ingest_file
    from rca_kit.models import Outcome

    register = open_register(workspace)
    try:
        [alert_id] = ingest_file(workspace, register, workspace.root / EXAMPLE)
        investigation_id, _ = register.create_investigation(alert_id, workspace.investigations_dir)
        outcomes = [
            Outcome("backpressure", "supported", 0.95, "ingest outgrew processing", "c"),
            Outcome("recent-change", "refuted", 0.8, "no change", "c"),
        ]
        register.record_outcomes(investigation_id, outcomes, {"backpressure": 1})
        register.update_investigation(investigation_id, action="test.killed", status="abandoned")
    finally:
        register.close()
    done = rca("investigate", "--batch", EXAMPLE, "--json")
    assert done.returncode == 0, done.stderr
    [item] = json.loads(done.stdout)["investigations"]
    assert item["investigation_id"] == investigation_id
    assert (item["status"], item["leading_hypothesis"]) == ("done", "backpressure")
    assert Path(item["report"]).is_file()
    assert json.loads(done.stdout)["counts"]["notebooks"] == 0
    assert _db(workspace.root, "SELECT count(*) FROM runs") == [(2,)]
    tasks = _db(workspace.root, "SELECT hypothesis_id FROM tasks")
    assert {t for (t,) in tasks} == {"backpressure"}
    again = rca("investigate", "--batch", EXAMPLE, "--json")  # done: reported as it is
    assert again.returncode == 0, again.stderr
    assert _db(workspace.root, "SELECT count(*) FROM tasks") == [(len(tasks),)]
