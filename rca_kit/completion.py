"""Investigations that stopped after recording their verdicts (killed in the moment between
the runs reaching the register and the investigation's end): their tasks, leading hypothesis,
status and report are made from the runs on record, as the investigation would have; no
notebook runs again, so each (investigation, hypothesis) keeps its one run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from . import ownership, recovery, scoring, selection
from .config import Workspace
from .exceptions import BusyError, InputError
from .library import load_library
from .models import Outcome
from .pipeline import _why, learned_priors, open_register
from .register.schema import task_evidence
from .report import render_investigation

STOPPED = ("abandoned", "failed")


def finish_recorded(workspace: Workspace, investigation_id: str) -> dict[str, Any]:
    """Finish an investigation whose verdicts are recorded; returns its row as it ends."""
    register = open_register(workspace)
    try:
        recovery.mark_abandoned(register)
        row = register.investigation(investigation_id)
        runs = [r for r in register.runs(investigation_id) if not r["rerun_of"]]
        if row["status"] not in STOPPED or not runs:
            raise InputError(f"investigation {investigation_id} has no recorded verdicts to end")
        claim = ownership.claim(Path(row["folder"]))  # BusyError: another process has it
        try:
            _finish(workspace, register, row, runs)
        except BaseException as exc:
            register.update_investigation(
                investigation_id, action="investigation.failed", status="failed", error=_why(exc)
            )
            raise
        finally:
            claim.release()
        return register.investigation(investigation_id)
    finally:
        register.close()


def _finish(
    workspace: Workspace, register: Any, row: dict[str, Any], runs: list[dict[str, Any]]
) -> None:
    investigation_id = str(row["id"])
    alert = register.alert(row["alert_id"])
    specs = load_library(
        workspace.library_dir, workspace.templates_dir, workspace.settings.hypotheses
    )
    by_id = {s.id: s for s in specs}
    outcomes = [_outcome(r) for r in runs]
    priors = learned_priors(register, alert, specs)
    leading = selection.leading(outcomes, by_id, priors)
    if not _proposed(register, investigation_id):  # tasks are proposed once, in one transaction
        weights = workspace.settings.scoring.model_dump()
        register.create_tasks(
            investigation_id,
            scoring.plan(outcomes, by_id, alert.service, weights),
            {r["hypothesis_id"]: str(r["id"]) for r in runs},
        )
    broken = recovery.environment_failures(outcomes)
    if not register.update_investigation(
        investigation_id,
        action="investigation.harvested",
        only_if=row["status"],
        status="partial" if broken else "done",
        error=recovery.describe(broken) if broken else None,
        leading_hypothesis=leading.hypothesis_id if leading else None,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
    ):
        raise BusyError(f"investigation {investigation_id} changed meanwhile; try again")
    report = render_investigation(register, investigation_id, workspace.reports_dir, by_id)
    register.update_investigation(investigation_id, action="report.rendered", report=str(report))


def _outcome(run: dict[str, Any]) -> Outcome:
    return Outcome(
        hypothesis_id=run["hypothesis_id"],
        verdict=run["verdict"],
        confidence=float(run["confidence"]),
        summary=run["summary"],
        criterion=run["criterion"],
        observed=run["observed"] or {},
        missing_data=tuple(run["missing_data"] or ()),
        notebook=Path(run["notebook"]) if run["notebook"] else None,
        duration_s=float(run["duration_s"]),
        error=run["error"],
        notebook_sha256=run["notebook_sha256"],
        provenance=run["provenance"],
    )


def _proposed(register: Any, investigation_id: str) -> bool:
    """Whether the investigation's tasks were proposed (created or linked to ones they repeat)."""
    query = sa.select(task_evidence.c.id).where(
        task_evidence.c.investigation_id == investigation_id,
        task_evidence.c.kind != "verification",
    )
    with register.engine.connect() as conn:
        return conn.execute(query.limit(1)).first() is not None
