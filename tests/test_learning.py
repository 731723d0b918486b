"""Learning from the register: library statistics, learned priors, alert history, incident timings.

Formula tests are pure; register tests run on SQLite and on PostgreSQL (the `register` fixture).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rca_kit import learning
from rca_kit.config import Workspace
from rca_kit.intake import parse_alerts
from rca_kit.models import Outcome
from rca_kit.register import Register, history
from rca_kit.register import tasks as task_ops
from rca_kit.testing import alertmanager_payload, one_line_error, record_investigation

Rca = Callable[..., subprocess.CompletedProcess[str]]


def ago(**delta: float) -> datetime:
    """A moment before now (computed when called: the suite may run long before a test)."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(**delta)


def stats_of(rows: list[dict[str, object]], hypothesis: str) -> dict[str, object]:
    [row] = [r for r in rows if r["hypothesis_id"] == hypothesis]
    return row


def verify_task(register: Register, task_id: str) -> None:
    """Mark a task done, then verified as `rca verify` would (verified is never set by hand)."""
    register.set_status(task_id, "done")
    with register.transaction() as conn:
        task_ops.set_status(
            conn, task_id, "verified", reason=None, actor="test", by_verification=True
        )


# pure formulas ------------------------------------------------------------------------------
def test_smoothed_rate_is_the_spec_prior_worth_strength_reviews() -> None:
    """With no reviews the rate is the prior; each review pulls it toward what was observed."""
    assert learning.smoothed_rate(0, 0, 0.3) == pytest.approx(0.3)
    assert learning.smoothed_rate(3, 4, 0.5) == pytest.approx((3 + 1) / (4 + 2))
    assert learning.smoothed_rate(0, 8, 0.5, strength=2.0) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="strength"):
        learning.smoothed_rate(0, 0, 0.5, strength=0)
    with pytest.raises(ValueError, match="confirmed"):
        learning.smoothed_rate(3, 2, 0.5)


def test_precision_is_none_when_never_judged_and_never_nan() -> None:
    """Precision is confirmed/(confirmed+false positives), None (not NaN) when both are zero."""
    assert learning.precision(0, 0) is None
    assert learning.precision(1, 3) == pytest.approx(0.25)
    rows = learning.library_stats(
        [{"hypothesis_id": "a", "verdict": "refuted", "duration_s": 2.0, "kind": "incident"}],
        [],
        [],
        ids=["b"],
    )
    for row in rows:
        for value in row.values():
            assert not (isinstance(value, float) and math.isnan(value))
    assert stats_of(rows, "a")["precision"] is None
    never_ran = stats_of(rows, "b")
    assert (never_ran["runs"], never_ran["precision"]) == (0, None)
    assert never_ran["median_time_to_verdict_s"] is None


def test_library_stats_count_incident_runs_latest_reviews_and_fixes() -> None:
    """Verification runs are not counted, only an investigation's latest review counts, and
    fixes count verified tasks and verifications that reopened."""
    runs = [
        {"hypothesis_id": "a", "verdict": "supported", "duration_s": 1.0, "kind": "incident"},
        {"hypothesis_id": "a", "verdict": "supported", "duration_s": 3.0, "kind": "incident"},
        {"hypothesis_id": "a", "verdict": "errored", "duration_s": 8.0, "kind": "incident"},
        {"hypothesis_id": "a", "verdict": "refuted", "duration_s": 99.0, "kind": "verification"},
    ]
    reviews = [
        {"id": 1, "investigation_id": "i1", "root_cause": "b", "false_positives": ["a"],
         "created_at": "2026-11-01T00:00:00+00:00"},
        {"id": 2, "investigation_id": "i1", "root_cause": "a", "false_positives": [],
         "created_at": "2026-11-02T00:00:00+00:00"},
        {"id": 3, "investigation_id": "i2", "root_cause": "other", "false_positives": ["a"],
         "created_at": "2026-11-02T00:00:00+00:00"},
    ]  # fmt: skip
    verifications = [
        {"hypothesis_id": "a", "verification": {"result": "reopened"}},
        {"hypothesis_id": "a", "verification": {"result": "verified"}},
        {"hypothesis_id": "a", "verification": None},
    ]
    rows = learning.library_stats(runs, reviews, verifications)
    assert [r["hypothesis_id"] for r in rows] == ["a"]  # "other" is no hypothesis; b was revised
    a = rows[0]
    assert (a["runs"], a["supported"], a["errored"], a["refuted"]) == (3, 2, 1, 0)
    assert (a["confirmed"], a["false_positives"], a["precision"]) == (1, 1, 0.5)
    assert a["median_time_to_verdict_s"] == 3.0
    assert (a["fixes_verified"], a["fixes_reopened"]) == (1, 1)


def test_priors_without_history_are_the_spec_priors() -> None:
    """An alert never reviewed keeps each spec's prior; a confirmed cause rises, others fall."""
    specs = {"a": 0.4, "b": 0.2}
    assert learning.priors([], specs) == pytest.approx(specs)
    reviews = [{"id": 1, "investigation_id": "i1", "root_cause": "a", "created_at": "x"}]
    learned = learning.priors(reviews, specs)
    assert learned["a"] == pytest.approx((1 + 0.8) / 3)
    assert learned["b"] == pytest.approx(0.4 / 3)


def test_durations_are_none_when_missing_or_negative() -> None:
    """Clock skew (end before start) and missing or bad timestamps give None, never < 0."""
    assert learning.duration_s("2026-11-20T12:00:00+00:00", "2026-11-20T14:00:00+02:00") == 0
    assert learning.duration_s("2026-11-20T12:00:00Z", "2026-11-20T12:04:00+00:00") == 240
    assert learning.duration_s("2026-11-20T12:00:05+00:00", "2026-11-20T12:00:00+00:00") is None
    assert learning.duration_s(None, "2026-11-20T12:00:00+00:00") is None
    assert learning.duration_s("yesterday", "2026-11-20T12:00:00+00:00") is None


def test_weeks_are_iso_weeks_in_utc() -> None:
    """Incidents bucket by ISO 8601 week of their start in UTC, across year boundaries."""
    assert learning.iso_week("2024-12-30T10:00:00+00:00") == "2025-W01"
    assert learning.iso_week("2026-01-04T23:59:59+00:00") == "2026-W01"  # a Sunday
    assert learning.iso_week("2026-01-05T00:00:00+00:00") == "2026-W02"  # the Monday after
    assert learning.iso_week("2026-01-05T00:30:00+02:00") == "2026-W01"  # still Sunday in UTC
    assert learning.iso_week(None) is None


def nov(day_time: str) -> str:
    """A timestamp in November 2026 from "DDTHH:MM"."""
    return f"2026-11-{day_time}:00+00:00"


def alert_row(
    alert_id: str,
    fingerprint: str,
    starts: str,
    *,
    received: str,
    status: str = "firing",
    ends: str | None = None,
    name: str = "X",
    service: str = "s",
) -> dict[str, object]:
    return {
        "id": alert_id,
        "name": name,
        "service": service,
        "status": status,
        "fingerprint": fingerprint,
        "starts_at": nov(starts),
        "ends_at": nov(ends) if ends else None,
        "received_at": nov(received),
    }


def test_incident_metrics_skip_skewed_durations_in_medians() -> None:
    """A negative MTTD is None and left out of the median; resolved notifications give MTTR."""
    alerts = [
        alert_row("al1", "f1", "16T12:00", received="16T12:02"),
        alert_row("al2", "f1", "16T12:00", received="16T13:00", status="resolved", ends="16T13:00"),
        alert_row("al3", "f2", "17T12:00", received="17T11:59"),
        alert_row("al4", "f3", "24T00:00", received="24T00:04", name="Y", service="t"),
    ]
    investigations = [
        {"id": "inv1", "alert_id": "al1", "kind": "incident", "created_at": nov("16T12:02")},
        {"id": "inv3", "alert_id": "al3", "kind": "incident", "created_at": nov("17T12:00")},
        {"id": "ver1", "alert_id": "al4", "kind": "verification", "created_at": nov("24T00:05")},
    ]
    first_runs = {"inv1": nov("16T12:03")}
    fixes = [{"investigation_id": "inv1", "verified_at": nov("18T12:00")}]
    metrics = learning.incident_metrics(alerts, investigations, first_runs, fixes)
    by_alert = {r["alert_id"]: r for r in metrics["incidents"]}
    assert set(by_alert) == {"al1", "al3"}  # al4 only has a verification investigation
    first = by_alert["al1"]
    assert (first["mttd_s"], first["time_to_first_verdict_s"], first["mttr_s"]) == (120, 60, 3600)
    assert first["time_to_verified_fix_s"] == 2 * 86400
    assert by_alert["al3"]["mttd_s"] is None  # received before it started: clock skew
    [week] = metrics["by_week"]
    assert week["week"] == "2026-W47"
    assert week["incidents"] == 2
    assert week["mttd_s"] == {"median": 120, "count": 1}
    assert metrics["by_service"][0]["service"] == "s"


# register -----------------------------------------------------------------------------------
def test_a_false_positive_review_lowers_precision(register: Register) -> None:
    """A review naming a supported hypothesis that was not the cause lowers its precision."""
    _, confirmed, _ = record_investigation(register, starts_at=ago(days=3))
    register.record_review(confirmed, root_cause="backpressure", explains={})
    with register.engine.connect() as conn:
        before = stats_of(history.library_stats(conn), "backpressure")
    assert (before["confirmed"], before["precision"]) == (1, 1.0)

    _, wrong, _ = record_investigation(register, starts_at=ago(days=2))
    register.record_review(wrong, root_cause="other", notes="it was DNS")
    with register.engine.connect() as conn:
        after = stats_of(history.library_stats(conn), "backpressure")
        elsewhere = history.library_stats(conn, service="payments")
    assert (after["runs"], after["supported"], after["false_positives"]) == (2, 2, 1)
    assert after["precision"] == pytest.approx(0.5)
    assert elsewhere == []


def test_verification_runs_and_results_count_as_fixes_not_runs(register: Register) -> None:
    """A verification's re-run is not a diagnosis; its "reopened" result counts against the fix."""
    alert_id, _, [task_id] = record_investigation(register, starts_at=ago(days=3))
    verification, _ = register.create_investigation(
        alert_id, Path("/tmp/rca-verifications"), kind="verification", task_id=task_id
    )
    outcome = Outcome("backpressure", "supported", 0.8, "still lagging", "c")
    register.record_outcomes(verification, [outcome], {"backpressure": 1})
    register.update_investigation(
        verification, action="investigation.verified", verification={"result": "reopened"}
    )
    with register.engine.connect() as conn:
        row = stats_of(history.library_stats(conn), "backpressure")
    assert (row["runs"], row["fixes_reopened"], row["fixes_verified"]) == (1, 1, 0)


def test_priors_move_toward_the_confirmed_cause_of_the_same_alert(register: Register) -> None:
    """Confirmed causes raise that hypothesis' prior for the same alert and service only."""
    specs = {"backpressure": 0.3, "bad_deploy": 0.3}
    for days in (5, 4):
        _, investigation, _ = record_investigation(register, starts_at=ago(days=days))
        register.record_review(investigation, root_cause="backpressure", explains={})
    with register.engine.connect() as conn:
        same = history.priors(conn, "ConsumerLagHigh", "orders-consumer", specs)
        other = history.priors(conn, "ConsumerLagHigh", "payments", specs)
        earlier = history.priors(
            conn, "ConsumerLagHigh", "orders-consumer", specs, before=ago(days=4.5).isoformat()
        )
    assert same["backpressure"] == pytest.approx((2 + 0.6) / 4)
    assert same["bad_deploy"] == pytest.approx(0.6 / 4)
    assert same["backpressure"] > specs["backpressure"] > same["bad_deploy"]
    assert other == pytest.approx(specs)
    assert earlier["backpressure"] == pytest.approx((1 + 0.6) / 3)


def test_alert_history_counts_recent_alerts_and_remembers_the_last_cause(
    register: Register,
) -> None:
    """An alert's recent occurrences are counted; its last cause, fix and lessons are kept."""
    _, old, [task_id] = record_investigation(register, starts_at=ago(days=40))
    register.record_review(old, root_cause="other", notes="a noisy neighbour, not backpressure")
    verify_task(register, task_id)
    _, recent, _ = record_investigation(register, starts_at=ago(days=10))
    register.record_review(recent, root_cause="backpressure")
    _, elsewhere, _ = record_investigation(register, service="payments", starts_at=ago(days=1))
    register.record_review(elsewhere, root_cause="other")  # a false positive, no note
    current = ago(hours=1)
    record_investigation(register, starts_at=current)
    with register.engine.connect() as conn:
        found = history.alert_history(
            conn, "ConsumerLagHigh", "orders-consumer", before=current.isoformat()
        )
        never = history.alert_history(conn, "Unknown", None, before=current.isoformat())
    assert found["seen"] == 2  # the one 10 days ago and the current one; not 40 days ago
    last = found["last_root_cause"]
    assert (last["root_cause"], last["investigation_id"]) == ("backpressure", recent)
    assert found["last_verified_fix"]["task_id"] == task_id
    assert found["last_verified_fix"]["verified_at"]
    notes = found["false_positive_notes"]["backpressure"]
    assert notes == {"count": 2, "latest_note": "a noisy neighbour, not backpressure"}
    assert [r["investigation_id"] for r in found["reviews"]] == [old, recent]
    assert never["seen"] == 0
    assert never["last_root_cause"] is None
    assert never["last_verified_fix"] is None


def test_incident_metrics_on_stored_alerts(register: Register) -> None:
    """Timings come from the stored alert, its resolved notification, runs and verified fixes."""
    started = ago(hours=3)
    _, investigation, [task_id] = record_investigation(register, starts_at=started)
    resolved = alertmanager_payload(
        "ConsumerLagHigh",
        service="orders-consumer",
        starts_at=started,
        status="resolved",
        ends_at=(started + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    [notice] = parse_alerts(json.dumps(resolved))
    register.store_alert(notice)
    verify_task(register, task_id)
    with register.engine.connect() as conn:
        metrics = history.incident_metrics(conn)
    [incident] = metrics["incidents"]
    assert incident["investigation_id"] == investigation
    assert incident["mttr_s"] == 3600
    assert 3 * 3600 - 5 <= incident["mttd_s"] <= 3 * 3600 + 60
    assert 0 <= incident["time_to_first_verdict_s"] <= 60
    assert incident["time_to_verified_fix_s"] >= incident["mttd_s"]
    assert [s["service"] for s in metrics["by_service"]] == ["orders-consumer"]
    assert metrics["by_week"][0]["week"] == learning.iso_week(started.isoformat())
    assert metrics["overall"]["mttr_s"] == {"median": 3600, "count": 1}


# command line -------------------------------------------------------------------------------


def test_library_stats_and_report_from_the_command_line(rca: Rca, workspace: Workspace) -> None:
    """`rca library stats --json` and `rca report --library` show the register's track record."""
    register = Register(workspace.database_url, workspace.settings)
    try:
        _, investigation, _ = record_investigation(
            register, starts_at=ago(hours=2), service="<b>orders</b>"
        )
        register.record_review(investigation, root_cause="backpressure")
    finally:
        register.close()

    rows = json.loads(rca("library", "stats", "--json", check=True).stdout)
    backpressure = stats_of(rows, "backpressure")
    assert (backpressure["runs"], backpressure["confirmed"], backpressure["precision"]) == (1, 1, 1)
    assert len(rows) > 1  # the library's other hypotheses, with zeros
    assert all(r["precision"] is None for r in rows if r["hypothesis_id"] != "backpressure")
    table = rca("library", "stats", check=True).stdout
    assert re.search(r"^backpressure\s+1\s+1\s+0\s+0\s+0\s+1\s+0\s+1\.00", table, re.M), table
    assert (
        json.loads(rca("library", "stats", "--service", "payments", "--json").stdout)[0]["runs"]
        == 0
    )

    done = rca("report", "--library", check=True)
    page = Path(done.stdout.strip())
    assert page == workspace.reports_dir / "library.html"
    html = page.read_text(encoding="utf-8")
    assert 'id="hypothesis-stats"' in html
    assert "<code>backpressure</code>" in html
    assert "&lt;b&gt;orders&lt;/b&gt;" in html
    assert "<b>orders</b>" not in html
    assert "<script src=" not in html
    assert not re.search(r"https?://", html)

    assert "exactly one" in one_line_error(rca("report"))
    assert "exactly one" in one_line_error(rca("report", investigation, "--library"))
