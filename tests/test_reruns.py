"""The register's side of a person's triage, on every supported database: a rerun is its own
run naming the one it repeats, an override sits beside the recorded verdict, both sealed in the
audit chain; reruns are no new evidence for learning or for an incident review."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rca_kit.exceptions import InputError, NotFoundError
from rca_kit.models import Outcome
from rca_kit.register import Register
from rca_kit.register.history import library_stats
from rca_kit.register.schema import audit_events
from rca_kit.testing import record_investigation


def recorded(register: Register) -> tuple[str, dict[str, Any]]:
    _, investigation_id, _ = record_investigation(register)
    [run] = register.runs(investigation_id)
    return investigation_id, run


def rerun(register: Register, run: dict[str, Any], verdict: str = "refuted") -> str:
    outcome = Outcome("backpressure", verdict, 0.8, "rerun summary", "c")  # type: ignore[arg-type]
    return register.record_rerun(
        run["id"],
        outcome,
        spec_version=1,
        parameters={"min_minutes": 30},
        edited={"min_minutes": 30},
        notebook_sha256="0" * 64,
        provenance={"rerun_of": run["id"]},
    )


def last_event(register: Register, action: str) -> dict[str, Any]:
    with register.engine.connect() as conn:
        query = audit_events.select().where(audit_events.c.action == action)
        return dict(list(conn.execute(query).mappings())[-1])


def test_a_rerun_is_a_sealed_run_of_its_own(register: Register) -> None:
    """The rerun row names the original, keeps its parameters, and the chain vouches for it;
    the original row is unchanged."""
    investigation_id, run = recorded(register)
    run_id = rerun(register, run)
    new = register.run(run_id)
    assert new["rerun_of"] == run["id"]
    assert new["investigation_id"] == investigation_id
    assert new["verdict"] == "refuted"
    assert new["parameters"] == {"min_minutes": 30}
    assert new["provenance"] == {"rerun_of": run["id"]}
    assert register.run(run["id"]) == run
    event = last_event(register, "run.rerun_recorded")
    assert json.loads(event["details"])["edited"] == {"min_minutes": 30}
    register.verify_audit()


def test_an_override_is_kept_beside_the_recorded_verdict(register: Register) -> None:
    """verdict, rationale, by and at are stored; the recorded verdict stays; the audit event
    carries the rationale and the previous override."""
    register.actor = "amy"
    _, run = recorded(register)
    first = register.override_verdict(run["id"], "refuted", "  dashboards were stale \x1b[2J ")
    assert first["override"]["rationale"] == "dashboards were stale [2J"
    second = register.override_verdict(run["id"], "inconclusive", "not sure any more")
    stored = register.run(run["id"])
    assert stored["verdict"] == "supported"
    assert stored["override"] == second["override"]
    assert stored["override"]["by"] == "amy"
    event = last_event(register, "run.verdict_overridden")
    assert event["rationale"] == "not sure any more"
    assert json.loads(event["details"])["previous"] == "refuted"
    register.verify_audit()


def test_overrides_are_refused_without_a_rationale_or_on_a_rerun(register: Register) -> None:
    """A blank rationale, an unknown verdict, a rerun or an unknown run change nothing."""
    _, run = recorded(register)
    with pytest.raises(InputError, match="needs a rationale"):
        register.override_verdict(run["id"], "refuted", " \n ")
    with pytest.raises(InputError, match="is not one of"):
        register.override_verdict(run["id"], "errored", "why")
    with pytest.raises(InputError, match="is a rerun of"):
        register.override_verdict(rerun(register, run), "supported", "why")
    with pytest.raises(NotFoundError):
        register.override_verdict("run-nope", "refuted", "why")
    assert register.run(run["id"])["override"] is None
    register.verify_audit()


def test_reruns_are_no_new_evidence_for_learning_or_reviews(register: Register) -> None:
    """Library statistics count the investigation's own run only; a review's false positives
    name each hypothesis once, whatever its reruns said."""
    investigation_id, run = recorded(register)
    with register.engine.connect() as conn:
        before = library_stats(conn)
    rerun(register, run, "supported")
    with register.engine.connect() as conn:
        assert library_stats(conn) == before
    review = register.record_review(investigation_id, root_cause="other")
    assert review["false_positives"] == ["backpressure"]
