"""The flows: investigate() reads top-down as the sequence of named steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import figures, ownership, provenance, recovery, scoring, selection
from .config import Workspace
from .evidence.load import load_evidence, verify_snapshot
from .evidence.window import freeze_evidence
from .exceptions import BusyError, InputError
from .library import library_digest, load_library
from .models import Alert, HypothesisSpec, Outcome, RunResult, Snapshot
from .outcome import harvest
from .pool import start_runner
from .register import Register
from .report import evidence_pages, render_investigation
from .report.evidence_links import PagesAhead
from .runner import Job
from .suspects import rank_suspects

# runs an investigation's notebooks: (jobs, progress) -> results in job order; by default a
# Pool of `[execution] workers` (pool.start_runner: that or Dask; rca_kit.batch: pools shared
# by concurrent investigations)
RunJobs = Callable[[list[Job], Callable[[RunResult], None] | None], list[RunResult]]


@dataclass
class InvestigationResult:
    """What `rca investigate --json` prints (docs/cli.md, `rca investigate`)."""

    investigation_id: str
    alert_id: str
    status: str
    outcomes: list[Outcome]
    leading: Outcome | None
    tasks: list[dict[str, Any]]
    report: Path
    extra: dict[str, Any] = field(default_factory=dict)
    # rows per kind and each source's outcome (rca_kit.evidence.coverage.summary)
    evidence: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # why a `partial` investigation is not done

    def to_json(self) -> dict[str, Any]:
        return {
            "investigation_id": self.investigation_id,
            "alert_id": self.alert_id,
            "status": self.status,
            "hypotheses": [
                {
                    "id": o.hypothesis_id,
                    "verdict": o.verdict,
                    "confidence": round(o.confidence, 4),
                    "notebook": str(o.notebook) if o.notebook else None,
                    "duration_s": o.duration_s,
                }
                for o in self.outcomes
            ],
            "leading_hypothesis": self.leading.hypothesis_id if self.leading else None,
            "tasks": [
                {
                    "id": t["id"],
                    "title": t["title"],
                    "hypothesis": t["hypothesis_id"],
                    "score": t["score"],
                    "rank": t["rank"],
                }
                for t in self.tasks
            ],
            "report": str(self.report),
            "evidence": self.evidence,
        }


def open_register(workspace: Workspace, actor: str = "rca-kit") -> Register:
    return Register(workspace.database_url, workspace.settings, actor=actor)


def learned_priors(
    register: Register, alert: Alert, specs: list[HypothesisSpec]
) -> dict[str, float] | None:
    """Smoothed confirmed-cause rates from reviews of earlier alerts with this name and
    service (None without such history: the specs' own priors order the run)."""
    from . import learning
    from .register import history

    with register.engine.connect() as conn:
        reviews = history.earlier_reviews(
            conn, alert.name, alert.service, alert.starts_at.isoformat()
        )
    if not reviews:
        return None
    return learning.priors(reviews, {s.id: s.prior for s in specs})


def job_parameters(
    spec: HypothesisSpec,
    workspace: Workspace,
    alert: Alert,
    investigation_id: str,
    snapshot: Snapshot,
) -> dict[str, Any]:
    """The spec's parameters, the workspace's overrides, then the fixed names (JSON values)."""
    return {
        **spec.parameters,
        **workspace.settings.hypotheses.get(spec.id, {}),
        "alert_id": alert.id,
        "investigation_id": investigation_id,
        "service": alert.service or "",
        "window_start": snapshot.window.start.isoformat(),
        "window_end": snapshot.window.end.isoformat(),
        "snapshot_path": str(snapshot.path),
    }


def _jobs(
    specs: list[HypothesisSpec],
    workspace: Workspace,
    alert: Alert,
    investigation_id: str,
    folder: Path,
    snapshot: Snapshot,
) -> list[Job]:
    timeout = workspace.settings.execution.timeout_s
    library_sha256 = library_digest(workspace.library_dir)
    return [
        Job(
            hypothesis_id=spec.id,
            template=workspace.templates_dir / spec.template,
            output=folder / f"{index:02d}-{spec.id}.ipynb",
            parameters=job_parameters(spec, workspace, alert, investigation_id, snapshot),
            timeout_s=min(spec.timeout_s, timeout),
            cwd=folder,
            kernels=workspace.settings.execution.kernels,
            provenance=provenance.describe(workspace, spec, snapshot, library_sha256),
        )
        for index, spec in enumerate(specs, start=1)
    ]


def investigate(
    workspace: Workspace,
    alert_id: str,
    *,
    now: datetime | None = None,
    progress: Callable[[RunResult], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    run_jobs: RunJobs | None = None,
) -> InvestigationResult:
    """Snapshot, select, run, harvest, score, record and report one stored alert."""
    register = open_register(workspace)
    try:
        recovery.mark_abandoned(register)
        alert = register.alert(alert_id)
        _require_service(workspace, alert)
        investigation_id, folder = register.create_investigation(
            alert_id, workspace.investigations_dir
        )
        step = Step(workspace, register, alert, investigation_id, folder, run_jobs)
        return step.carry_out(now or datetime.now(UTC), progress, on_start)
    finally:
        register.close()


def resume(
    workspace: Workspace,
    investigation_id: str,
    *,
    progress: Callable[[RunResult], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    run_jobs: RunJobs | None = None,
) -> InvestigationResult:
    """Finish an abandoned or failed investigation (one that stopped before recording its
    verdicts) in its own folder, reusing the snapshot it had frozen, else freezing one now."""
    register = open_register(workspace)
    try:
        recovery.mark_abandoned(register)
        row = register.investigation(investigation_id)
        if row["kind"] != "incident":
            raise InputError(
                f"{investigation_id} is a {row['kind']} investigation",
                hint="run `rca verify` again",
            )
        if row["status"] not in ("abandoned", "failed"):
            raise InputError(
                f"investigation {investigation_id} is {row['status']}; only an abandoned or "
                "failed investigation can be resumed",
                hint=f"investigate its alert again: `rca investigate {row['alert_id']}`",
            )
        if register.runs(investigation_id):  # its verdicts are on record: they stay as they are
            raise InputError(
                f"investigation {investigation_id} recorded its verdicts before it stopped",
                hint=f"investigate its alert again: `rca investigate {row['alert_id']}`",
            )
        alert = register.alert(row["alert_id"])
        _require_service(workspace, alert)
        step = Step(workspace, register, alert, investigation_id, Path(row["folder"]), run_jobs)
        if not register.update_investigation(
            investigation_id,
            action="investigation.resumed",
            only_if=row["status"],
            status="running",
            error=None,
        ):
            raise BusyError(f"investigation {investigation_id} changed meanwhile; try again")
        return step.carry_out(datetime.now(UTC), progress, on_start, resuming=True)
    finally:
        register.close()


def _why(exc: BaseException) -> str:
    """What a failed investigation records: the error's one line, or the signal that ended it."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (SIGINT)"
    return (str(exc) or type(exc).__name__)[:2000]


def _require_service(workspace: Workspace, alert: Alert) -> None:
    if not alert.service:  # notebooks could test nothing: every one needs the service
        tried = ", ".join(workspace.settings.alerts.service_labels) or "none"
        raise InputError(
            f"alert {alert.id} names no service (labels tried: {tried}); "
            "set [alerts] service_labels or add a service label"
        )


@dataclass
class Step:
    """One investigation being carried out in its folder (held by this process meanwhile)."""

    workspace: Workspace
    register: Register
    alert: Alert
    investigation_id: str
    folder: Path
    run_jobs: RunJobs | None = None

    def carry_out(
        self,
        now: datetime,
        progress: Callable[[RunResult], None] | None,
        on_start: Callable[[int], None] | None,
        *,
        resuming: bool = False,
    ) -> InvestigationResult:
        claim = stop = None
        try:
            claim = ownership.claim(self.folder)  # a folder it cannot make fails it too
            if self.run_jobs is None:  # workers and their kernels load while evidence freezes
                self.run_jobs, stop = start_runner(self.workspace)
            return self._carry_out(now, progress, on_start, resuming)
        except BusyError:  # another process runs it: its record is not ours to change
            raise
        except BaseException as exc:
            self.register.update_investigation(
                self.investigation_id,
                action="investigation.failed",
                status="failed",
                error=_why(exc),
            )
            raise
        finally:
            if stop is not None:
                stop()
            if claim is not None:
                claim.release()

    def _carry_out(
        self,
        now: datetime,
        progress: Callable[[RunResult], None] | None,
        on_start: Callable[[int], None] | None,
        resuming: bool,
    ) -> InvestigationResult:
        workspace, register, alert = self.workspace, self.register, self.alert
        investigation_id, folder = self.investigation_id, self.folder
        specs = load_library(
            workspace.library_dir, workspace.templates_dir, workspace.settings.hypotheses
        )
        priors = learned_priors(register, alert, specs)
        chosen = selection.select(specs, alert, priors)
        snapshot = None
        if resuming:
            snapshot = recovery.frozen_snapshot(
                folder / "snapshot", register.recorded_manifest(investigation_id)
            )
        if snapshot is None:
            snapshot = freeze_evidence(
                workspace, alert, chosen, investigation_id, folder / "snapshot", now
            )
        window = snapshot.window
        evidence = load_evidence(snapshot.path)
        suspects = rank_suspects(
            evidence.metrics, evidence.window_start, evidence.data_end, evidence.onset
        )
        register.update_investigation(
            investigation_id,
            action="investigation.snapshot_frozen",
            window_start=window.start.isoformat(timespec="seconds"),
            window_end=window.end.isoformat(timespec="seconds"),
            snapshot_sha256=snapshot.sha256,
            suspects=suspects,
            audit_details={"manifest_sha256": snapshot.manifest_sha256},
        )
        if on_start:
            on_start(len(chosen))
        jobs = _jobs(chosen, workspace, alert, investigation_id, folder, snapshot)
        if resuming:
            recovery.discard_unrecorded([job.output for job in jobs])
        figures.link_plotly(folder, workspace.reports_dir)
        evidence_pages.warm_up()  # while the notebooks run elsewhere
        pages = PagesAhead(workspace.reports_dir, investigation_id)

        def finished(result: RunResult) -> None:
            pages.add(result.hypothesis_id, result.notebook)  # while the others still run
            if progress is not None:
                progress(result)

        try:
            assert self.run_jobs is not None  # set by carry_out
            results = self.run_jobs(jobs, finished)
        finally:
            pages.wait()
        # scored only against the very snapshot the register recorded (one edited meanwhile
        # fails the investigation)
        verify_snapshot(snapshot.path, register.recorded_manifest(investigation_id))
        outcomes = [harvest(result) for result in results]
        run_ids = register.record_outcomes(
            investigation_id,
            outcomes,
            {s.id: s.version for s in chosen},
            {job.hypothesis_id: job.parameters for job in jobs},
        )
        by_id = {s.id: s for s in specs}
        leading = selection.leading(outcomes, by_id, priors)
        weights = workspace.settings.scoring.model_dump()
        register.create_tasks(
            investigation_id, scoring.plan(outcomes, by_id, alert.service, weights), run_ids
        )
        broken = recovery.environment_failures(outcomes)
        status = "partial" if broken else "done"
        register.update_investigation(
            investigation_id,
            action="investigation.harvested",
            status=status,
            error=recovery.describe(broken) if broken else None,
            leading_hypothesis=leading.hypothesis_id if leading else None,
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        report = render_investigation(register, investigation_id, workspace.reports_dir, by_id)
        register.update_investigation(
            investigation_id, action="report.rendered", report=str(report)
        )
        return InvestigationResult(
            investigation_id=investigation_id,
            alert_id=str(alert.id),
            status=status,
            outcomes=outcomes,
            leading=leading,
            tasks=register.tasks(investigation_id=investigation_id),
            report=report,
            evidence=evidence.summary(),
            problem=recovery.describe(broken) if broken else None,
        )
