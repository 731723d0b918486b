"""A person's work on recorded runs: reruns kept beside the run they repeat, and verdict
overrides kept beside the verdict the notebook recorded (never in its place).

Each function runs inside the caller's write transaction and appends one sealed audit event.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..exceptions import InputError, NotFoundError
from ..models import Outcome
from . import audit
from .ids import new_id, now_iso
from .schema import runs
from .tasks import plain

OVERRIDE_VERDICTS = ("supported", "refuted", "inconclusive")
MAX_RATIONALE = 2000


def _run(conn: sa.Connection, run_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no run with id {run_id!r}")
    return dict(row)


def insert_run(
    conn: sa.Connection,
    outcome: Outcome,
    *,
    investigation_id: str,
    spec_version: int,
    parameters: dict[str, Any] | None,
    notebook_sha256: str | None,
    provenance: dict[str, Any] | None,
    rerun_of: str | None = None,
) -> str:
    """Insert one run row for a harvested outcome; return its new id (the caller audits it)."""
    run_id = new_id("run")
    conn.execute(
        runs.insert().values(
            id=run_id,
            investigation_id=investigation_id,
            hypothesis_id=outcome.hypothesis_id,
            spec_version=spec_version,
            verdict=outcome.verdict,
            confidence=outcome.confidence,
            summary=outcome.summary,
            criterion=outcome.criterion,
            observed=outcome.observed,
            missing_data=list(outcome.missing_data),
            notebook=str(outcome.notebook) if outcome.notebook else None,
            duration_s=outcome.duration_s,
            error=outcome.error,
            created_at=now_iso(),
            parameters=parameters,
            notebook_sha256=notebook_sha256,
            provenance=provenance,
            rerun_of=rerun_of,
        )
    )
    return run_id


def record_rerun(
    conn: sa.Connection,
    *,
    rerun_of: str,
    outcome: Outcome,
    spec_version: int,
    parameters: dict[str, Any],
    edited: dict[str, Any],
    notebook_sha256: str | None,
    provenance: dict[str, Any] | None,
    actor: str,
) -> str:
    """Store a rerun of `rerun_of` as a run of its own (same investigation); return its id."""
    original = _run(conn, rerun_of)
    run_id = insert_run(
        conn,
        outcome,
        investigation_id=original["investigation_id"],
        spec_version=spec_version,
        parameters=parameters,
        notebook_sha256=notebook_sha256,
        provenance=provenance,
        rerun_of=rerun_of,
    )
    audit.append(
        conn,
        action="run.rerun_recorded",
        entity="run",
        entity_id=run_id,
        actor=actor,
        seal=True,
        details={
            "investigation_id": original["investigation_id"],
            "hypothesis_id": original["hypothesis_id"],
            "rerun_of": rerun_of,
            "edited": edited,
            "verdict": outcome.verdict,
            "confidence": outcome.confidence,
        },
    )
    return run_id


def override(
    conn: sa.Connection, run_id: str, *, verdict: str, rationale: str, actor: str
) -> dict[str, Any]:
    """Set a person's verdict on a run (the recorded one stays); return the run row."""
    if verdict not in OVERRIDE_VERDICTS:
        raise InputError(
            f"verdict {verdict!r} is not one of {', '.join(OVERRIDE_VERDICTS)}", where=run_id
        )
    reason = plain(rationale or "", MAX_RATIONALE)
    if not reason:
        raise InputError("overriding a verdict needs a rationale", where=run_id)
    before = _run(conn, run_id)
    if before["rerun_of"]:
        raise InputError(
            f"is a rerun of {before['rerun_of']}; override the verdict of the original run",
            where=run_id,
        )
    value = {"verdict": verdict, "rationale": reason, "by": actor, "at": now_iso()}
    conn.execute(runs.update().where(runs.c.id == run_id).values(override=value))
    previous = before["override"] or {}
    audit.append(
        conn,
        action="run.verdict_overridden",
        entity="run",
        entity_id=run_id,
        actor=actor,
        rationale=reason,
        seal=True,
        details={
            "investigation_id": before["investigation_id"],
            "hypothesis_id": before["hypothesis_id"],
            "recorded": before["verdict"],
            "previous": previous.get("verdict"),
            "verdict": verdict,
        },
    )
    return {**before, "override": value}
