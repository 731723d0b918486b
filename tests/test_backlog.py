"""The register as a backlog: lifecycle, governance, recurrence, rescoring, locking, migration.

Every test runs against SQLite and against a real PostgreSQL server (fixture `database_url`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from rca_kit.config import RcaToml
from rca_kit.exceptions import (
    AuditChainError,
    ConflictError,
    InputError,
    LifecycleError,
    NotAuthorizedError,
)
from rca_kit.register import Register
from rca_kit.register.migrate import HEAD, migrate
from rca_kit.scoring import score
from rca_kit.testing import record_investigation

FIXTURE_DB = Path(__file__).parent / "fixtures" / "register" / "rca-0.1.0.db"
SETTINGS = RcaToml.model_validate(
    {
        "governance": {
            "authorities": ["head-of-data"],
            "teams": {"data-platform": ["dp-lead"]},
            "severities": {"critical": ["incident-commander"]},
        },
        "register": {"due_days": {"page": 2}},
    }
)


@pytest.fixture
def reg(database_url: str) -> Iterator[Register]:
    register = Register(database_url, SETTINGS, actor="tester")
    yield register
    register.close()


def events(reg: Register) -> int:
    return reg.verify_audit()[0]


def test_lifecycle_walks_open_to_done_and_refuses_illegal_moves(reg: Register) -> None:
    """Legal moves bump the version; an illegal move names task, state and allowed moves and
    writes nothing."""
    _, _, [task] = record_investigation(reg)
    assert reg.set_status(task, "in_progress")["version"] == 2
    done = reg.set_status(task, "done")
    assert (done["status"], done["version"]) == ("done", 3)
    assert done["done_at"]
    before = events(reg)
    with pytest.raises(LifecycleError) as refused:
        reg.set_status(task, "wont_do", reason="too late")
    assert str(refused.value) == (f"{task}: is done and cannot move to wont_do (allowed: reopened)")
    with pytest.raises(LifecycleError, match=r"by hand .* verifies a done task"):
        reg.set_status(task, "verified")
    with pytest.raises(LifecycleError, match="needs a reason"):
        reg.set_status(task, "reopened")
    assert events(reg) == before
    assert reg.task(task)["version"] == 3
    reopened = reg.set_status(task, "reopened", reason="lag is back")
    assert (reopened["status"], reopened["status_reason"]) == ("reopened", "lag is back")


def test_owner_team_due_date_and_filters(reg: Register) -> None:
    """Assignment sets owner and team; due dates follow severity; filters choose ranked rows."""
    _, _, [first] = record_investigation(reg, severity="page", team="data-platform")
    _, _, [other] = record_investigation(
        reg, service="billing", name="BillingLate", severity="info"
    )
    reg.assign(first, "alice", "data-platform")
    rows = {r["id"]: r for r in reg.tasks()}
    assert rows[first]["owner"] == "alice"
    assert rows[first]["severity"] == "page"
    created = date.fromisoformat(rows[first]["created_at"][:10])
    # page: min(template 7 days, configured 2 days); info: min(template 7, default 30 days)
    assert rows[first]["due_date"] == (created + timedelta(days=2)).isoformat()
    assert rows[other]["due_date"] == (created + timedelta(days=7)).isoformat()
    assert [r["id"] for r in reg.tasks(owner="alice")] == [first]
    assert [r["id"] for r in reg.tasks(team="data-platform")] == [first]
    assert [r["id"] for r in reg.tasks(service="billing")] == [other]
    assert reg.tasks(overdue=True) == []
    assert {r["id"] for r in reg.tasks(overdue=True, today="2999-01-01")} == {first, other}
    reg.set_status(first, "done")
    assert [r["id"] for r in reg.tasks(statuses=["done"])] == [first]
    assert [r["id"] for r in reg.tasks(overdue=True, today="2999-01-01")] == [other]
    with pytest.raises(InputError, match="unknown status"):
        reg.tasks(statuses=["finished"])


def test_reprioritize_needs_a_decision_authority_and_is_audited(reg: Register) -> None:
    """Only configured authorities may override; the computed score stays beside the override
    and the audit event carries old and new values, rationale and authority."""
    _, _, [task] = record_investigation(reg, team="data-platform", severity="critical")
    computed = reg.task(task)["score"]
    with pytest.raises(NotAuthorizedError, match="'mallory' is not a decision authority"):
        reg.reprioritize(task, override={"score": 10}, rationale="why not", authority="mallory")
    with pytest.raises(InputError, match="rationale"):
        reg.reprioritize(task, override={"score": 10}, rationale=" ", authority="dp-lead")
    row = reg.reprioritize(task, override={"score": 42}, rationale="budget", authority="dp-lead")
    assert (row["score"], row["computed_score"]) == (42, computed)
    assert row["override"]["authority"] == "dp-lead"
    event = reg.task(task)["audit"][-1]
    assert event["action"] == "task.reprioritized"
    assert (event["rationale"], event["authority"]) == ("budget", "dp-lead")
    assert event["details"]["changes"]["score"] == [computed, 42]
    with pytest.raises(NotAuthorizedError, match="only they"):
        reg.reprioritize(task, override=None, rationale="undo", authority="incident-commander")
    cleared = reg.reprioritize(task, override=None, rationale="undo", authority="head-of-data")
    assert cleared["score"] == computed
    assert cleared["override"] is None


def test_factor_override_moves_with_evidence_a_score_override_does_not(reg: Register) -> None:
    """New evidence updates the computed score always, the effective one only for factors."""
    _, _, [task] = record_investigation(reg, confidence=0.6, team="data-platform")
    reg.reprioritize(task, override={"impact": 1}, rationale="minor", authority="dp-lead")
    record_investigation(reg, confidence=0.9, starts_at="2026-11-21T10:00:00Z")
    row = reg.task(task)
    assert row["score"] == score(1, 0.9, 2, 2, occurrences=2)[0]
    assert row["computed_score"] == score(5, 0.9, 2, 2, occurrences=2)[0]
    reg.reprioritize(task, override={"score": 30}, rationale="park it", authority="dp-lead")
    record_investigation(reg, confidence=0.95, starts_at="2026-11-22T10:00:00Z")
    row = reg.task(task)
    assert row["score"] == 30
    assert row["computed_score"] == score(5, 0.95, 2, 2, occurrences=3)[0]


def test_recurrence_links_raises_score_and_reopens_a_done_task(reg: Register) -> None:
    """The same remediation from another alert links to the task (no duplicate), raises its
    score by the documented term and reopens it when it was done."""
    _, first_inv, [task] = record_investigation(reg, confidence=0.8)
    base = reg.task(task)["score"]
    _, rerun_inv, [same] = record_investigation(reg, confidence=0.8)  # the same alert again
    assert same == task
    assert reg.task(task)["occurrences"] == 1
    reg.set_status(task, "done")
    _, second_inv, [again] = record_investigation(
        reg, confidence=0.8, starts_at="2026-11-21T10:00:00Z"
    )
    assert again == task
    assert len(reg.tasks()) == 1
    row = reg.task(task)
    assert row["occurrences"] == 2
    expected = score(5, 0.8, 2, 2, occurrences=2)[0]
    assert row["score"] == expected
    assert row["score"] == pytest.approx(base + (100 - base) * 0.25, abs=0.02)
    assert row["status"] == "reopened"
    assert second_inv in row["status_reason"]
    kinds = [(e["kind"], e["investigation_id"]) for e in row["evidence"]]
    assert kinds == [("origin", first_inv), ("rerun", rerun_inv), ("recurrence", second_inv)]
    reopened = row["audit"][-1]
    assert reopened["action"] == "task.reopened"
    assert reopened["details"]["cause"]["investigation_id"] == second_inv
    assert reopened["details"]["changes"]["score"] == [base, expected]
    assert [r["id"] for r in reg.tasks(investigation_id=second_inv)] == [task]


def test_agenda_lists_what_needs_a_decision_since_the_last_review(reg: Register) -> None:
    """New, reopened and moved tasks appear until a review; overdue ones always do."""
    _, _, [task] = record_investigation(reg)
    assert [i["reasons"] for i in reg.agenda()["items"]] == [["new"]]
    with pytest.raises(NotAuthorizedError):
        reg.reviewed("dp-lead")  # a team authority cannot chair the register review
    review = reg.reviewed("head-of-data", "weekly")
    assert review["items"] == 1
    agenda = reg.agenda()
    assert agenda["items"] == []
    assert agenda["since"]["authority"] == "head-of-data"
    reg.set_status(task, "done")
    record_investigation(reg, confidence=0.7, starts_at="2026-11-21T10:00:00Z")
    [item] = reg.agenda()["items"]
    assert item["id"] == task
    assert any(r.startswith("computed score") for r in item["reasons"])
    assert any(r.startswith("reopened") for r in item["reasons"])


def test_a_stale_version_is_a_conflict_and_overwrites_nothing(reg: Register) -> None:
    """The second of two edits made from the same version fails, naming the current one."""
    _, _, [task] = record_investigation(reg)
    version = reg.task(task)["version"]
    reg.assign(task, "alice", expected_version=version)
    with pytest.raises(ConflictError) as conflict:
        reg.assign(task, "bob", expected_version=version)
    assert conflict.value.task_id == task
    assert conflict.value.version == version + 1
    assert f"task {task} was changed by someone else (now version {version + 1}" in str(
        conflict.value
    )
    assert reg.task(task)["owner"] == "alice"


@pytest.mark.parametrize(
    ("table", "column", "value", "entity"),
    [
        ("tasks", "score", "99.5", "task"),
        ("runs", "verdict", "'refuted'", "run"),
        ("alerts", "service", "'elsewhere'", "alert"),
        ("investigations", "leading_hypothesis", "'recent-change'", "investigation"),
    ],
)
def test_audit_verify_catches_rows_edited_behind_the_register(
    reg: Register, table: str, column: str, value: str, entity: str
) -> None:
    """An alert, investigation, run or task changed outside rca-kit no longer matches its
    last audited state."""
    record_investigation(reg)
    reg.verify_audit()
    with reg.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {table} SET {column} = {value}"))  # noqa: S608 - fixed
    with pytest.raises(AuditChainError, match=f"{entity} .* differs from its last audited"):
        reg.verify_audit()


def _fixture_rows(url: str) -> dict[str, list[dict[str, object]]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        tables = ("alerts", "dead_letters", "investigations", "runs", "tasks", "audit_events")
        rows = {
            t: [dict(r) for r in conn.execute(sa.text(f"SELECT * FROM {t}")).mappings()]  # noqa: S608
            for t in tables
        }
    engine.dispose()
    return rows


def _load_release_0_1_0(url: str, tmp_path: Path) -> str:
    """The fixture database as release 0.1.0 wrote it, at `url` (copied, or replayed)."""
    if url.startswith("sqlite"):
        target = tmp_path / "old.db"
        shutil.copyfile(FIXTURE_DB, target)
        return f"sqlite:///{target}"
    from alembic import command

    from rca_kit.register.migrate import alembic_config

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(sa.text("DROP TABLE alembic_version"))  # 0.1.0 had no Alembic
        metadata = sa.MetaData()
        metadata.reflect(conn)
        for table, rows in _fixture_rows(f"sqlite:///{FIXTURE_DB}").items():
            for row in rows:
                conn.execute(metadata.tables[table].insert().values(**row))
    engine.dispose()
    return url


def test_a_release_0_1_0_database_upgrades_in_place(database_url: str, tmp_path: Path) -> None:
    """Every row written by 0.1.0 survives the migration, the chain and rows verify, and the
    migrated schema is exactly the current one."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from rca_kit.register.schema import metadata

    url = _load_release_0_1_0(database_url, tmp_path)
    before = _fixture_rows(f"sqlite:///{FIXTURE_DB}")
    reg = Register(url, SETTINGS)
    try:
        after = _fixture_rows(url)
        for table, rows in before.items():
            kept = {r.get("id", r.get("seq")): r for r in after[table]}
            for row in rows:
                old = {k: v for k, v in row.items() if k not in ("labels", "annotations", "raw")}
                new = kept[row.get("id", row.get("seq"))]
                assert {k: new[k] for k in old if k != "payload"} == {
                    k: v for k, v in old.items() if k != "payload"
                }, table
        count, _ = reg.verify_audit()
        sealed = ("alerts", "investigations", "runs", "tasks")  # one *.migrated event each
        assert count == len(before["audit_events"]) + sum(len(before[t]) for t in sealed)
        [top, second] = reg.tasks()
        assert (top["score"], top["computed_score"], top["service"]) == (
            91.0,
            91.0,
            "orders-consumer",
        )
        assert second["team"] == "data-platform"
        assert reg.task(top["id"])["evidence"][0]["kind"] == "origin"
        reg.assign(top["id"], "alice")  # and the migrated task is editable
        _, _, [again] = record_investigation(
            reg,
            starts_at="2026-11-25T10:00:00Z",
            tasks=(("Scale out {service} to restore processing headroom", 5, 2, 2),),
        )
        assert again == top["id"]  # a recurrence links to the task 0.1.0 wrote
        assert reg.task(again)["occurrences"] == 2
        with reg.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), metadata)
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD
        assert [d for d in diffs if not _benign(d)] == []
        assert migrate(reg.engine) == HEAD  # idempotent
    finally:
        reg.close()


def _benign(diff: object) -> bool:
    """Type differences the databases report for the same declared type (JSON on SQLite)."""
    return isinstance(diff, list) and all(d[0] == "modify_type" for d in diff)


def test_a_resolved_notice_is_the_same_occurrence_not_a_recurrence(reg: Register) -> None:
    """Investigating an alert's resolved notification neither counts nor reopens anything."""
    _, _, [task] = record_investigation(reg)
    reg.set_status(task, "done")
    _, _, [same] = record_investigation(reg, status="resolved", ends_at="2026-11-20T13:00:00Z")
    row = reg.task(same)
    assert same == task
    assert (row["status"], row["occurrences"]) == ("done", 1)
    assert row["evidence"][-1]["kind"] == "rerun"


def test_a_verification_never_moves_a_task_changed_while_it_ran(reg: Register) -> None:
    """A stale version is a conflict; a task no longer done cannot be verified or reopened."""
    _, _, [task] = record_investigation(reg)
    done = reg.set_status(task, "done")
    reg.assign(task, "alice")  # someone edits it while the notebook runs
    outcome = {"investigation_id": None, "run_id": None, "alert_id": None, "verdict": "refuted"}
    with pytest.raises(ConflictError):
        reg.apply_verification(
            task,
            result="verified",
            reason="r",
            confidence=0.9,
            expected_version=done["version"],
            **outcome,
        )
    reg.set_status(task, "reopened", reason="recurred")
    with pytest.raises(LifecycleError, match="only a done task"):
        reg.apply_verification(task, result="reopened", reason="r", confidence=0.9, **outcome)
    assert reg.task(task)["status"] == "reopened"


def test_untrusted_text_is_bounded_and_non_finite_scores_refused(reg: Register) -> None:
    """Control characters and huge texts never reach the register; NaN is not a score."""
    _, _, [task] = record_investigation(reg, team="data\x1b[31m-platform" + "x" * 500)
    row = reg.task(task)
    assert row["team"].startswith("data[31m-platform")
    assert len(row["team"]) == 200
    with pytest.raises(InputError, match="--score must be a number"):
        reg.reprioritize(
            task, override={"score": float("nan")}, rationale="r", authority="head-of-data"
        )
    moved = reg.set_status(task, "wont_do", reason="no\x07 budget" + "!" * 5000)
    assert moved["status_reason"] == "no budget" + "!" * 1991
    reg.verify_audit()


def test_sqlite_readers_never_block_a_writer(tmp_path: Path) -> None:
    """An open read transaction (a report being rendered) does not make writes wait."""
    import time

    url = f"sqlite:///{tmp_path}/rca.db"
    reader, writer = Register(url, SETTINGS), Register(url, SETTINGS)
    try:
        _, _, [task] = record_investigation(writer)
        with reader.engine.connect() as conn:
            conn.execute(sa.text("SELECT count(*) FROM tasks")).scalar()  # holds a snapshot
            started = time.monotonic()
            writer.assign(task, "alice")
            assert time.monotonic() - started < 2
    finally:
        reader.close()
        writer.close()


def test_moving_a_task_to_another_team_is_a_governed_decision(reg: Register) -> None:
    """A task leaves its team only by the decision of an authority for that team."""
    _, _, [task] = record_investigation(reg, team="data-platform")
    reg.assign(task, "alice", "data-platform")  # the same team: no decision needed
    with pytest.raises(InputError, match="is a decision"):
        reg.assign(task, "bob", "payments")
    with pytest.raises(NotAuthorizedError):
        reg.assign(task, "bob", "payments", authority="incident-commander")
    moved = reg.assign(task, "bob", "payments", authority="dp-lead")
    assert (moved["owner"], moved["team"]) == ("bob", "payments")
    assert reg.task(task)["audit"][-1]["authority"] == "dp-lead"


def test_an_anchor_kept_outside_exposes_a_truncated_or_rewritten_chain(
    reg: Register, tmp_path: Path
) -> None:
    """Dropping the newest events, or rewriting the whole chain, fails against the anchor."""
    from rca_kit.register.audit import GENESIS, event_hash

    record_investigation(reg)
    anchor = reg.verify_audit()
    record_investigation(reg, starts_at="2026-11-21T10:00:00Z")
    assert reg.verify_audit(anchor=anchor)[0] > anchor[0]
    with reg.engine.begin() as conn:  # forge: rehash the whole chain after editing event 1
        rows = [
            dict(r)
            for r in conn.execute(sa.text("SELECT * FROM audit_events ORDER BY seq")).mappings()
        ]
        previous = GENESIS
        for row in rows:
            row["actor"] = "mallory" if row["seq"] == 1 else row["actor"]
            row["prev_hash"] = previous
            row["hash"] = previous = event_hash(row)
            conn.execute(
                sa.text(
                    "UPDATE audit_events SET actor = :actor, prev_hash = :prev_hash, "
                    "hash = :hash WHERE seq = :seq"
                ),
                row,
            )
    reg.verify_audit()  # a consistent forgery passes on its own…
    with pytest.raises(AuditChainError, match="differs from the anchor"):
        reg.verify_audit(anchor=anchor)  # …but not against the head kept elsewhere
    with reg.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events WHERE seq >= :seq"), {"seq": anchor[0]})
    with pytest.raises(AuditChainError, match="truncated"):
        reg.verify_audit(anchor=anchor)
