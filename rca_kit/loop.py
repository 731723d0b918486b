"""The flows that close the loop: verify a fix with the test that found it; review an incident.

`verify_task` reads top-down like `investigate`: find the originating run, choose the post-fix
window, freeze fresh evidence, re-run the same template with the same parameters, judge the
spec's check against the pre-incident baseline, record the outcome and move the task.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from . import figures, provenance, verification
from .config import Workspace, parse_duration
from .evidence.load import Evidence, load_evidence
from .evidence.snapshot import freeze
from .exceptions import InputError, RcaKitError
from .library import library_digest, load_library, parse_spec
from .models import HypothesisSpec, Outcome, VerificationCheck, Window
from .outcome import harvest
from .pipeline import job_parameters, open_register
from .register import Register
from .report import evidence_pages, render_investigation
from .runner import Job, run_all

RETRY_AFTER = timedelta(hours=6)  # before `verify --due` tries a pending verification again


@dataclass
class VerificationResult:
    """What `rca verify` reports for one task."""

    task_id: str
    result: str  # verified | reopened | pending | errored
    reason: str
    window_start: str
    window_end: str
    pending_until: str | None = None
    investigation_id: str | None = None
    outcome: Outcome | None = None
    check: verification.CheckResult | None = None
    report: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "result": self.result,
            "reason": self.reason,
            "window": {"start": self.window_start, "end": self.window_end},
            "pending_until": self.pending_until,
            "investigation_id": self.investigation_id,
            "verdict": self.outcome.verdict if self.outcome else None,
            "confidence": self.outcome.confidence if self.outcome else None,
            "notebook": str(self.outcome.notebook)
            if self.outcome and self.outcome.notebook
            else None,
            "check": asdict(self.check) if self.check else None,
            "report": str(self.report) if self.report else None,
        }


def _when(value: str | datetime | None, what: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{what} {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise InputError(f"{what} {value!r} has no time zone", hint="add Z or +HH:MM")
    return parsed.astimezone(UTC)


def _specs(workspace: Workspace) -> dict[str, HypothesisSpec]:
    library = load_library(
        workspace.library_dir, workspace.templates_dir, workspace.settings.hypotheses
    )
    return {spec.id: spec for spec in library}


def _spec_and_check(
    workspace: Workspace, hypothesis_id: str, version: int
) -> tuple[HypothesisSpec, VerificationCheck]:
    spec = _specs(workspace).get(hypothesis_id)
    if spec is None:
        raise InputError(f"hypothesis {hypothesis_id!r} is no longer in the library")
    if spec.version != version:
        raise InputError(
            f"library/{hypothesis_id} is version {spec.version} but the task was found by "
            f"version {version}; verification re-runs the same test",
            hint="restore that version of the spec, or investigate anew",
        )
    if spec.verification is None:
        raise InputError(f"library/{hypothesis_id} states no verification check")
    return spec, spec.verification


def _series(evidence: Evidence, service: str | None, metrics: tuple[str, ...]) -> dict[str, Any]:
    return {m: evidence.series(service, m) for m in metrics if evidence.has(service, m)}


def _original_evidence(register: Register, original: dict[str, Any]) -> Evidence:
    """The original investigation's snapshot, refused if it is not the one the register recorded."""
    return load_evidence(
        Path(original["folder"]) / "snapshot",
        expected_sha256=register.recorded_manifest(original["id"]),
    )


def _baseline(original: Evidence, service: str | None, check: VerificationCheck) -> dict[str, Any]:
    """The pre-incident level: the original snapshot before its window opened."""
    cut = original.window_start
    return {m: s.loc[s.index < cut] for m, s in _series(original, service, check.metrics).items()}


def verify_task(
    workspace: Workspace,
    task_id: str,
    *,
    window_start: str | datetime | None = None,
    window_end: str | datetime | None = None,
    now: datetime | None = None,
    actor: str = "rca-kit",
) -> VerificationResult:
    """Re-run the hypothesis test behind a done task on a post-fix window and move the task."""
    register = open_register(workspace, actor)
    try:
        return _verify(register, workspace, task_id, window_start, window_end, now)
    finally:
        register.close()


def _verify(
    register: Register,
    workspace: Workspace,
    task_id: str,
    window_start: str | datetime | None,
    window_end: str | datetime | None,
    now: datetime | None,
) -> VerificationResult:
    task = register.task(task_id)
    if task["status"] != "done":
        raise InputError(
            f"is {task['status']}; only done tasks are verified",
            where=task_id,
            hint=f"mark it done when the fix is in place: rca register status {task_id} done",
        )
    origin = next((e for e in task["evidence"] if e["kind"] == "origin" and e["run_id"]), None)
    if origin is None:
        raise InputError("has no originating run to re-run", where=task_id)
    run = register.run(origin["run_id"])
    original = register.investigation(origin["investigation_id"])
    spec, check = _spec_and_check(workspace, run["hypothesis_id"], run["spec_version"])
    done_at = _when(task["done_at"], "done_at")
    start = _when(window_start, "--window-start") or done_at
    end = _when(window_end, "--window-end") or (now or datetime.now(UTC))
    if start is None:
        raise InputError("has no done time: give --window-start", where=task_id)
    if end <= start:
        raise InputError("--window-end must be after the window's start", where=task_id)
    early = done_at is not None and start < done_at  # a replay of exported evidence, say
    judged = start + parse_duration(check.settle)
    needed = judged + parse_duration(check.period)
    result = VerificationResult(task_id, "pending", "", judged.isoformat(), end.isoformat())
    if end < needed:
        result.pending_until = needed.isoformat()
        result.reason = (
            f"verification pending until {needed.isoformat()}: the check needs "
            f"{check.period} of evidence after {check.settle} of settling"
        )
        register.note(task_id, "task.verification_pending", result.reason)
        return result
    alert = register.alert(original["alert_id"])
    investigation_id, folder = register.create_investigation(
        alert.id or "", workspace.investigations_dir, kind="verification", task_id=task_id
    )
    result.investigation_id = investigation_id
    try:
        snapshot = freeze(
            workspace,
            folder / "snapshot",
            window=Window(judged, end),
            lookback_start=judged - parse_duration(spec.lookback),
            context={
                "alert_id": alert.id,
                "investigation_id": investigation_id,
                "alert_name": alert.name,
                "service": alert.service,
                "onset": judged.isoformat(),
                "topology": {k: list(v) for k, v in workspace.settings.topology.items()},
            },
        )
        after = load_evidence(snapshot.path)
        service = task["service"] or None
        check_result = verification.evaluate(
            check,
            _baseline(_original_evidence(register, original), service, check),
            {m: s.loc[judged:end] for m, s in _series(after, service, check.metrics).items()},
            pd.Timestamp(judged),
            pd.Timestamp(end),
        )
        parameters = {
            **(run["parameters"] or job_parameters(spec, workspace, alert, "", snapshot)),
            "investigation_id": investigation_id,
            "window_start": judged.isoformat(),
            "window_end": end.isoformat(),
            "snapshot_path": str(snapshot.path),
        }
        job = Job(
            hypothesis_id=spec.id,
            template=workspace.templates_dir / spec.template,
            output=folder / f"01-{spec.id}.ipynb",
            parameters=parameters,
            timeout_s=min(spec.timeout_s, workspace.settings.execution.timeout_s),
            cwd=folder,
            kernels=workspace.settings.execution.kernels,
            provenance=provenance.describe(
                workspace, spec, snapshot, library_digest(workspace.library_dir)
            ),
        )
        figures.link_plotly(folder, workspace.reports_dir)
        evidence_pages.warm_up()  # while the notebooks run elsewhere
        outcome = harvest(run_all([job], workers=1, kernels=job.kernels)[0])
        result.outcome, result.check = outcome, check_result
        run_ids = register.record_outcomes(
            investigation_id, [outcome], {spec.id: spec.version}, {spec.id: parameters}
        )
        decision = verification.decide(outcome.verdict, check_result, error=outcome.error)
        if early:
            decision = verification.Decision(
                decision.result,
                f"{decision.reason} (window chosen to start before the task was marked done)",
            )
        result.result, result.reason = decision.result, decision.reason
        if decision.result == "pending":
            result.pending_until = None  # more time will not help: data or the test is missing
        register.apply_verification(
            task_id,
            expected_version=task["version"],  # nobody moved the task while its test ran
            result=decision.result,
            reason=decision.reason,
            investigation_id=investigation_id,
            run_id=run_ids[spec.id],
            alert_id=alert.id,
            verdict=outcome.verdict,
            confidence=outcome.confidence,
        )
        register.update_investigation(
            investigation_id,
            action="verification.finished",
            status="done",
            window_start=judged.isoformat(timespec="seconds"),
            window_end=end.isoformat(timespec="seconds"),
            snapshot_sha256=snapshot.sha256,
            audit_details={"manifest_sha256": snapshot.manifest_sha256},
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
            verification={
                "result": decision.result,
                "reason": decision.reason,
                "original_run": run["id"],
                "check": asdict(check_result),
                "description": check.description,
            },
        )
        specs = _specs(workspace)
        result.report = render_investigation(register, original["id"], workspace.reports_dir, specs)
        register.update_investigation(
            investigation_id, action="report.rendered", report=str(result.report)
        )
    except BaseException as exc:
        register.update_investigation(
            investigation_id,
            action="verification.failed",
            status="failed",
            error=str(exc)[:2000],
        )
        raise
    return result


def due(register: Register, workspace: Workspace, now: datetime) -> list[tuple[str, datetime]]:
    """Done tasks whose verification period has passed: (task id, when it became due)."""
    specs = _specs(workspace)
    found = []
    for task in register.tasks(statuses=["done"]):
        spec = specs.get(task["hypothesis_id"])
        if spec is None or spec.verification is None or not task["done_at"]:
            continue
        check = spec.verification
        ready = (
            datetime.fromisoformat(task["done_at"])
            + parse_duration(check.settle)
            + parse_duration(check.period)
        )
        if ready <= now and not _retried_recently(register, str(task["id"]), now):
            found.append((str(task["id"]), ready))
    return found


def _retried_recently(register: Register, task_id: str, now: datetime) -> bool:
    """A verification that ended pending (data missing) is retried after RETRY_AFTER, not on
    every cron run: each attempt freezes a snapshot and runs a notebook."""
    last = register.last_verification(task_id)
    if last is None or (last.get("verification") or {}).get("result") != "pending":
        return False
    return datetime.fromisoformat(last["created_at"]) > now - RETRY_AFTER


def verify_due(
    workspace: Workspace, *, now: datetime | None = None, actor: str = "rca-kit"
) -> list[VerificationResult]:
    """Verify every done task whose verification period has passed (for cron)."""
    moment = now or datetime.now(UTC)
    register = open_register(workspace, actor)
    try:
        ready = due(register, workspace, moment)
    finally:
        register.close()
    results = []
    for task_id, _ in ready:  # one task's failure must not stop the others (this runs in cron)
        try:
            results.append(verify_task(workspace, task_id, now=moment, actor=actor))
        except RcaKitError as exc:
            stamp = moment.isoformat()
            results.append(VerificationResult(task_id, "errored", str(exc), stamp, stamp))
    return results


def verify_after(workspace: Workspace, hypothesis_id: str, done_at: datetime) -> str | None:
    """When a fix marked done now can first be verified (None: the spec states no check)."""
    try:  # this spec only: marking a task done should not parse the whole library
        spec = parse_spec(workspace.library_dir / f"{hypothesis_id}.yaml")
    except InputError:
        return None
    if spec.verification is None:
        return None
    check = spec.verification
    ready = done_at + parse_duration(check.settle) + parse_duration(check.period)
    return ready.isoformat(timespec="seconds")


def review_incident(
    workspace: Workspace,
    investigation_id: str,
    *,
    root_cause: str,
    notes: str | None = None,
    worked: str | None = None,
    did_not_work: str | None = None,
    reviewer: str | None = None,
    actor: str = "rca-kit",
) -> tuple[dict[str, Any], Path]:
    """Record the confirmed cause and lessons of an incident; re-render its review."""
    specs = _specs(workspace)
    register = open_register(workspace, actor)
    try:
        review = register.record_review(
            investigation_id,
            root_cause=root_cause,
            explains={s.id: s.explains for s in specs.values()},
            notes=notes,
            worked=worked,
            did_not_work=did_not_work,
            reviewer=reviewer,
        )
        report = render_investigation(register, investigation_id, workspace.reports_dir, specs)
        register.update_investigation(
            investigation_id, action="report.rendered", report=str(report)
        )
    finally:
        register.close()
    return review, report
