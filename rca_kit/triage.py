"""A person's triage of a finished investigation: rerun one hypothesis with edited parameters,
override a verdict with a rationale. The widgets and the CLI are thin layers over these.

What each changes, and what it leaves alone:

- A rerun is a new run kept beside the one it repeats: its own evidence notebook in the
  investigation folder (`02-backpressure.rerun-1.ipynb`, never the original's path), its own
  row naming the original (`rerun_of`), and a sealed audit event with the edited parameters.
  Only the spec's own parameters can be edited (JSON values of the type the spec gives), never
  the fixed ones (alert, window, snapshot). Edited parameters are an experiment, not the
  library's test: the investigation's verdicts, leading hypothesis and tasks stay as they are.
  To act on what a rerun showed, override the original's verdict and cite it.
- An override is a person's verdict beside the recorded one (`runs.override`: verdict,
  rationale, by, at; audited). The leading hypothesis is recomputed from the effective
  verdicts (a person's `supported` counts with confidence 1.0) and a change is audited; tasks
  are neither proposed nor withdrawn (the register changes through its own commands).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from .config import Workspace
from .exceptions import InputError
from .inert import shown
from .models import HypothesisSpec, Outcome, Snapshot, Verdict, Window
from .register import Register

Say = Callable[[str], None]
MAX_PARAMETERS = 64 * 1024  # bytes of JSON an edit may hold
RERUN_LIMIT = 1000  # reruns of one notebook: a bound on the names tried


def current_actor() -> str:
    """Who the audit log names for a person's change: RCA_ACTOR, else the login name."""
    import getpass

    try:
        return os.environ.get("RCA_ACTOR") or getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


def effective_verdict(run: Mapping[str, Any]) -> str:
    """The verdict that counts: a person's override, else the one the notebook recorded."""
    override = run.get("override") or {}
    return str(override.get("verdict") or run["verdict"])


def originals(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs the investigation made (not an analyst's reruns)."""
    return [run for run in runs if not run.get("rerun_of")]


def _register(workspace: Workspace, actor: str) -> Register:
    return Register(workspace.database_url, workspace.settings, actor=actor)


def _specs(workspace: Workspace) -> dict[str, HypothesisSpec]:
    from .library import load_library

    specs = load_library(
        workspace.library_dir, workspace.templates_dir, workspace.settings.hypotheses
    )
    return {spec.id: spec for spec in specs}


def _spec(workspace: Workspace, run: Mapping[str, Any]) -> HypothesisSpec:
    spec = _specs(workspace).get(run["hypothesis_id"])
    if spec is None:
        raise InputError(f"hypothesis {run['hypothesis_id']!r} is no longer in the library")
    if spec.version != run["spec_version"]:
        raise InputError(
            f"library/{spec.id} is version {spec.version} but run {run['id']} used version "
            f"{run['spec_version']}; a rerun repeats the same test",
            hint="restore that version of the spec, or investigate anew",
        )
    return spec


def _finished(register: Register, investigation_id: str) -> dict[str, Any]:
    investigation = register.investigation(investigation_id)
    if investigation["kind"] != "incident":
        raise InputError(f"{investigation_id} is a {investigation['kind']} investigation")
    if investigation["status"] not in ("done", "partial"):
        raise InputError(
            f"investigation {investigation_id} is {investigation['status']}; "
            "only a finished one (done or partial) can be triaged"
        )
    return investigation


def editable_parameters(
    workspace: Workspace, run: Mapping[str, Any], spec: HypothesisSpec | None = None
) -> dict[str, Any]:
    """The parameters a rerun may change (the spec's own), with the values `run` used."""
    spec = spec or _spec(workspace, run)
    used = run.get("parameters") or {}
    defaults = {**spec.parameters, **workspace.settings.hypotheses.get(spec.id, {})}
    return {name: used.get(name, defaults[name]) for name in spec.parameters}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def check_parameters(
    spec: HypothesisSpec, current: Mapping[str, Any], edits: Any
) -> dict[str, Any]:
    """The edits that change something, validated: names of the spec's own parameters only,
    JSON values of the same kind as the spec's (InputError naming the first problem)."""
    if not isinstance(edits, Mapping):
        raise InputError(f"parameters must be a JSON object, got {_kind(edits)}")
    allowed = ", ".join(spec.parameters) or "none"
    changed: dict[str, Any] = {}
    for name, value in edits.items():
        if not isinstance(name, str) or name not in spec.parameters:
            raise InputError(f"{shown(name)} is not a parameter of {spec.id} (editable: {allowed})")
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            raise InputError(f"{name}: the value is not JSON (no NaN or infinity)") from None
        value = json.loads(text)  # plain JSON types from here on
        expected = _kind(spec.parameters[name])
        if expected != "null" and _kind(value) != expected:
            raise InputError(
                f"{name} must be a {expected} like the spec's {shown(spec.parameters[name])}, "
                f"got {_kind(value)}"
            )
        if value != current.get(name):
            changed[name] = value
    if len(json.dumps(changed)) > MAX_PARAMETERS:
        raise InputError(f"the edited parameters exceed {MAX_PARAMETERS // 1024} KiB of JSON")
    return changed


def _original_run(register: Register, investigation_id: str, hypothesis_id: str) -> dict[str, Any]:
    runs = originals(register.runs(investigation_id))
    found = next((run for run in runs if run["hypothesis_id"] == hypothesis_id), None)
    if found is None:
        ran = ", ".join(run["hypothesis_id"] for run in runs) or "nothing"
        raise InputError(
            f"hypothesis {shown(hypothesis_id)} did not run in {investigation_id} (ran: {ran})"
        )
    return found


def _base_parameters(
    workspace: Workspace,
    spec: HypothesisSpec,
    investigation: Mapping[str, Any],
    run: Mapping[str, Any],
    service: str | None,
) -> dict[str, Any]:
    """What the original notebook ran with (rebuilt for a run recorded without them)."""
    if run.get("parameters"):
        return dict(run["parameters"])
    return {
        **spec.parameters,
        **workspace.settings.hypotheses.get(spec.id, {}),
        "alert_id": investigation["alert_id"],
        "investigation_id": investigation["id"],
        "service": service or "",
        "window_start": investigation["window_start"],
        "window_end": investigation["window_end"],
        "snapshot_path": str(Path(investigation["folder"]) / "snapshot"),
    }


def _reserve(folder: Path, original: Mapping[str, Any], template: Path) -> Path:
    """A new notebook path beside the original's, taken at once (O_EXCL) so that no other
    rerun gets it, holding the template until the run writes it."""
    stem = Path(original["notebook"]).stem if original.get("notebook") else original["id"]
    for number in range(1, RERUN_LIMIT + 1):
        path = folder / f"{stem}.rerun-{number}.ipynb"
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as handle:
            handle.write(template.read_bytes())
        return path
    raise InputError(f"{stem} has been rerun {RERUN_LIMIT} times", where=str(folder))


def _snapshot(investigation: Mapping[str, Any], manifest_sha256: str | None) -> Snapshot:
    """The investigation's frozen snapshot as the register recorded it."""
    start = datetime.fromisoformat(investigation["window_start"])
    return Snapshot(
        path=Path(investigation["folder"]) / "snapshot",
        sha256=investigation["snapshot_sha256"] or "",
        window=Window(start, datetime.fromisoformat(investigation["window_end"])),
        lookback_start=start,
        row_counts={},
        manifest_sha256=manifest_sha256,
    )


def _rerender(register: Register, workspace: Workspace, investigation_id: str, tell: Say) -> None:
    """The review shows what the register now holds. The change is recorded whatever happens
    here: a review that fails to render is a warning (`rca report` renders it again)."""
    from .inert import one_line
    from .report import render_investigation

    try:
        report = render_investigation(
            register, investigation_id, workspace.reports_dir, _specs(workspace)
        )
    except Exception as exc:
        reason = one_line(str(exc) or type(exc).__name__, 300)
        tell(
            f"warning: the review was not rendered again ({reason}); "
            f"`rca report {investigation_id}` renders it"
        )
        return
    register.update_investigation(investigation_id, action="report.rendered", report=str(report))


def _quiet(_text: str) -> None:
    return None


def rerun_hypothesis(
    workspace: Workspace,
    investigation_id: str,
    hypothesis_id: str,
    parameters: Mapping[str, Any] | None = None,
    actor: str = "rca-kit",
    *,
    say: Say | None = None,
) -> dict[str, Any]:
    """Run one hypothesis of a finished investigation again on its frozen snapshot, with the
    spec's parameters edited; record it beside the original and return the new run's row."""
    from .evidence.load import verify_snapshot
    from .library import library_digest
    from .outcome import harvest
    from .provenance import describe
    from .runner import Job, run_all

    tell = say or _quiet
    register = _register(workspace, actor)
    try:
        investigation = _finished(register, investigation_id)
        original = _original_run(register, investigation_id, hypothesis_id)
        spec = _spec(workspace, original)
        edits = check_parameters(
            spec, editable_parameters(workspace, original, spec), parameters or {}
        )
        folder = Path(investigation["folder"])
        manifest = register.recorded_manifest(investigation_id)
        verify_snapshot(folder / "snapshot", manifest)  # the very evidence the verdicts used
        service = register.alert(investigation["alert_id"]).service
        run_parameters = {
            **_base_parameters(workspace, spec, investigation, original, service),
            **edits,
        }
        template = workspace.templates_dir / spec.template
        output = _reserve(folder, original, template)
        snapshot = _snapshot(investigation, manifest)
        described = describe(workspace, spec, snapshot, library_digest(workspace.library_dir))
        job = Job(
            hypothesis_id=spec.id,
            template=template,
            output=output,
            parameters=run_parameters,
            timeout_s=min(spec.timeout_s, workspace.settings.execution.timeout_s),
            cwd=folder,
            kernels=workspace.settings.execution.kernels,
            provenance={**described, "rerun_of": original["id"], "edited": edits},
        )
        tell(f"running {spec.id} as {output.name} (up to {job.timeout_s} s)…")
        # the runner sealed it 0444
        outcome: Outcome = harvest(run_all([job], workers=1, kernels=job.kernels)[0])
        run_id = register.record_rerun(
            original["id"],
            outcome,
            spec_version=spec.version,
            parameters=run_parameters,
            edited=edits,
            notebook_sha256=outcome.notebook_sha256,
            provenance=outcome.provenance or job.provenance,
        )
        tell(f"recording {run_id} and rendering the review…")
        _rerender(register, workspace, investigation_id, tell)
        return register.run(run_id)
    finally:
        register.close()


def _recompute_leading(
    register: Register, workspace: Workspace, investigation: Mapping[str, Any], because: str
) -> str | None:
    """Lead with the effective verdicts; audit a change. Returns the leading hypothesis."""
    from .pipeline import learned_priors
    from .selection import leading

    specs = _specs(workspace)
    outcomes = []
    for run in originals(register.runs(investigation["id"])):
        verdict = effective_verdict(run)
        person = bool(run.get("override")) and verdict == "supported"
        confidence = 1.0 if person else float(run["confidence"])
        outcomes.append(Outcome(run["hypothesis_id"], cast(Verdict, verdict), confidence, "", ""))
    alert = register.alert(investigation["alert_id"])
    priors = learned_priors(register, alert, list(specs.values()))
    lead = leading(outcomes, specs, priors)
    lead_id = lead.hypothesis_id if lead else None
    if lead_id != investigation["leading_hypothesis"]:
        register.update_investigation(
            investigation["id"],
            action="investigation.leading_recomputed",
            leading_hypothesis=lead_id,
            audit_details={"because": because, "was": investigation["leading_hypothesis"]},
        )
    return lead_id


def override_verdict(
    workspace: Workspace,
    run_id: str,
    verdict: str,
    rationale: str,
    actor: str = "rca-kit",
    *,
    say: Say | None = None,
) -> dict[str, Any]:
    """Set a person's verdict on a run (the recorded one stays beside it), recompute the
    investigation's leading hypothesis and re-render its review; return the run's row with
    the investigation's `leading_hypothesis` now."""
    register = _register(workspace, actor)
    try:
        run = register.run(run_id)
        investigation = _finished(register, run["investigation_id"])
        row = register.override_verdict(run_id, verdict, rationale)
        lead = _recompute_leading(register, workspace, investigation, run_id)
        _rerender(register, workspace, investigation["id"], say or _quiet)
        return {**row, "leading_hypothesis": lead}
    finally:
        register.close()
