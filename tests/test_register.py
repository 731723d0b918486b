"""The register: dedupe, dead letters, tasks and the tamper-evident audit chain.

Every test runs on SQLite and on PostgreSQL (the `register` fixture in conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from rca_kit.exceptions import AuditChainError, NotFoundError
from rca_kit.intake import parse_alerts
from rca_kit.models import Outcome, ScoredTask
from rca_kit.register import Register
from rca_kit.testing import alertmanager_payload


def an_alert(status: str = "firing", name: str = "X"):  # type: ignore[no-untyped-def]
    ends = "2026-11-20T13:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z"
    return parse_alerts(json.dumps(alertmanager_payload(name, status=status, ends_at=ends)))[0]


def test_repeats_are_deduplicated_on_fingerprint_and_start(register: Register) -> None:
    """The same (fingerprint, startsAt) is stored once; its resolved notice resolves it."""
    first, created = register.store_alert(an_alert())
    again, created_again = register.store_alert(an_alert())
    resolved, created_resolved = register.store_alert(an_alert("resolved"))
    assert created
    assert not created_again
    assert not created_resolved
    assert first == again == resolved
    assert register.alert(first).status == "resolved"
    assert register.alert(first).name == "X"
    with pytest.raises(NotFoundError):
        register.alert("al-nope")


def test_dead_letters_keep_the_raw_bytes(register: Register) -> None:
    """A payload that failed to parse is kept byte for byte with its reason."""
    register.dead_letter(b"\xffnot json", source="file:x.json", error="not valid JSON")
    [letter] = register.dead_letters()
    assert letter["payload"] == b"\xffnot json"
    assert letter["error"] == "not valid JSON"


def test_every_write_is_audited_and_the_chain_verifies(register: Register, tmp_path: Path) -> None:
    """Each step appends a chained event; verify walks the whole chain."""
    alert_id, _ = register.store_alert(an_alert())
    inv, _ = register.create_investigation(alert_id, tmp_path)
    outcome = Outcome("h", "supported", 0.9, "s", "c")
    run_ids = register.record_outcomes(inv, [outcome], {"h": 1})
    task = ScoredTask("h", "Fix it", "", 4, 2, 2, 0.9, 80.0, {"impact": 30.0}, "e", 3)
    [task_id] = register.create_tasks(inv, [task], run_ids)
    count, head = register.verify_audit()
    assert count == 4
    assert len(head) == 64
    assert register.tasks()[0]["id"] == task_id
    assert register.tasks()[0]["rank"] == 1


def test_editing_an_event_is_detected(register: Register) -> None:
    """Changing any field of a past event breaks the chain at that event."""
    for name in ("A", "B", "C"):
        register.store_alert(an_alert(name=name))
    with register.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"))
    with pytest.raises(AuditChainError, match="event 2 was modified"):
        register.verify_audit()


def test_deleting_an_event_is_detected(register: Register) -> None:
    """Removing an event from the middle breaks the sequence."""
    for name in ("A", "B", "C"):
        register.store_alert(an_alert(name=name))
    with register.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events WHERE seq = 2"))
    with pytest.raises(AuditChainError, match="event 2 is missing"):
        register.verify_audit()


def test_rewriting_a_hash_is_detected_downstream(register: Register) -> None:
    """Recomputing one event's hash after an edit still breaks the link to the next."""
    from rca_kit.register.audit import event_hash

    for name in ("A", "B", "C"):
        register.store_alert(an_alert(name=name))
    with register.engine.begin() as conn:
        row = dict(
            conn.execute(sa.text("SELECT * FROM audit_events WHERE seq = 2")).mappings().one()
        )
        row["actor"] = "mallory"
        conn.execute(
            sa.text("UPDATE audit_events SET actor = :a, hash = :h WHERE seq = 2"),
            {"a": "mallory", "h": event_hash(row)},
        )
    with pytest.raises(AuditChainError, match="event 3 does not follow"):
        register.verify_audit()
