"""Helpers for tests of hypotheses and templates (ours and users'): payloads, snapshots, runs."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from .evidence.rows import Tally
from .evidence.snapshot import write_snapshot
from .evidence.sources import KINDS, empty, normalize
from .exceptions import EvidenceError
from .models import Outcome, Window
from .outcome import from_records, harvest
from .runner import Job, execute


def alertmanager_payload(
    name: str = "TestAlert",
    *,
    service: str = "svc",
    starts_at: datetime | str | None = None,
    ends_at: str = "0001-01-01T00:00:00Z",
    status: str = "firing",
    **labels: str,
) -> dict[str, Any]:
    """An Alertmanager webhook (version 4) carrying one alert."""
    start = starts_at or datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    start_text = start if isinstance(start, str) else start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    all_labels = {"alertname": name, "service": service, **labels}
    alert = {
        "status": status,
        "labels": all_labels,
        "annotations": {"summary": f"{name} on {service}"},
        "startsAt": start_text,
        "endsAt": ends_at,
        "generatorURL": "",
        "fingerprint": "",
    }
    return {
        "version": "4",
        "status": status,
        "receiver": "rca-kit",
        "groupKey": "{}",
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": name},
        "commonLabels": all_labels,
        "commonAnnotations": {},
        "externalURL": "",
        "alerts": [alert],
    }


def _normalized(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """A test's frame in the snapshot schema; a timestamp that cannot be read (or has no zone)
    is refused here rather than left out: a test says what it means."""
    tally = Tally(f"<{kind}>", kind, numbered="row")
    normalized = normalize(frame, kind, f"<{kind}>", tally)
    first = next(iter(tally.examples.values()), [])
    if tally.counts and first:
        raise EvidenceError(
            f"{sum(tally.counts.values())} rows have a timestamp that cannot be read or has no "
            f"zone ({first[0]['at']}: {first[0]['value']!r})",
            where=f"<{kind}>",
        )
    return normalized


def make_snapshot(
    dest: Path,
    *,
    window: tuple[datetime, datetime],
    service: str,
    onset: datetime | None = None,
    metrics: pd.DataFrame | None = None,
    logs: pd.DataFrame | None = None,
    changes: pd.DataFrame | None = None,
    topology: dict[str, list[str]] | None = None,
    lookback: timedelta = timedelta(hours=6),
    provides: tuple[str, ...] = KINDS,
    sources: list[dict[str, Any]] | None = None,
) -> Path:
    """Freeze frames in the vocabulary (docs/evidence.md) as a snapshot folder.

    `sources` replaces the manifest's source records (e.g. one with "status": "failed", as
    rca_kit.evidence.coverage.source_record writes them); by default one test source provides
    each kind in `provides`.
    """
    given = {"metrics": metrics, "logs": logs, "changes": changes}
    frames = {
        kind: _normalized(frame, kind) if frame is not None else empty(kind)
        for kind, frame in given.items()
    }
    start, end = window
    context = {
        "alert_id": "test",
        "investigation_id": "test",
        "alert_name": "TestAlert",
        "service": service,
        "onset": (onset or start).isoformat(),
        "topology": topology or {},
    }
    write_snapshot(
        frames,
        dest,
        window=Window(start, end),
        lookback_start=start - lookback,
        context=context,
        sources=sources
        if sources is not None
        else [{"kind": "test", **dict.fromkeys(provides, "<frame>")}],
    )
    return dest


def run_template(
    template: Path,
    snapshot: Path,
    *,
    timeout_s: int = 120,
    workdir: Path | None = None,
    **parameters: Any,
) -> Outcome:
    """Execute one template against a snapshot with papermill and harvest its outcome."""
    folder = workdir or Path(tempfile.mkdtemp(prefix="rca-run-"))
    job = Job(
        hypothesis_id=template.stem,
        template=template,
        output=folder / template.name,
        parameters={"snapshot_path": str(snapshot), **parameters},
        timeout_s=timeout_s,
        cwd=folder,
    )
    return harvest(execute(job))


def template_code(template: Path, parameters: dict[str, Any]) -> str:
    """A template's code, the parameters assigned after its parameters cell (as papermill does)."""
    cells = json.loads(template.read_text(encoding="utf-8"))["cells"]
    parts = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = cell["source"]
        parts.append("".join(source) if isinstance(source, list) else source)
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            parts.append("\n".join(f"{name} = {value!r}" for name, value in parameters.items()))
    return "\n\n".join(parts)


def run_inline(template: Path, snapshot: Path, **parameters: Any) -> Outcome:
    """Execute a template's code in this process (no kernel, no notebook written).

    For benchmarks over hundreds of scenarios; `run_template` (papermill, a real kernel) is the
    reference and a test checks that both agree.
    """
    import time

    from . import outcome as outcome_module
    from .models import RunResult

    started = time.monotonic()
    captured: list[dict[str, Any]] = []
    outcome_module._captured = captured
    error = None
    try:
        code = compile(
            template_code(template, {"snapshot_path": str(snapshot), **parameters}),
            str(template),
            "exec",
        )
        exec(code, {"__name__": "__rca_inline__"})  # noqa: S102 - our own bundled template code
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        outcome_module._captured = None
    result = RunResult(template.stem, template, round(time.monotonic() - started, 3), error)
    return replace(from_records(result, captured), notebook=None)  # no notebook is written


def scenario_workspace(scenario: Any, root: Path) -> Any:
    """A workspace holding a generated scenario, using the bundled library and templates."""
    from .config import find_workspace
    from .scaffold import bundled
    from .scenarios import write_scenario

    write_scenario(scenario, root / "examples")
    topology = "\n".join(f'"{svc}" = {json.dumps(ups)}' for svc, ups in scenario.topology.items())
    (root / "rca.toml").write_text(
        f'[workspace]\nlibrary = "{bundled("library")}"\ntemplates = "{bundled("templates")}"\n\n'
        '[[sources]]\nkind = "files"\nmetrics = "examples/data/metrics.csv"\n'
        'logs = "examples/data/logs.jsonl"\nchanges = "examples/data/changes.jsonl"\n\n'
        f"[topology]\n{topology}\n"
    )
    return find_workspace(root)


def investigate_scenario(scenario: Any, root: Path) -> Any:
    """Investigate a generated scenario end to end (papermill, real kernels) as of its export."""
    from .ingest import ingest_file
    from .pipeline import investigate, open_register
    from .scenarios import DEMO_ALERT, export_end

    workspace = scenario_workspace(scenario, root)
    register = open_register(workspace)
    try:
        [alert_id] = ingest_file(workspace, register, workspace.root / "examples" / DEMO_ALERT)
    finally:
        register.close()
    return workspace, investigate(workspace, alert_id, now=export_end(scenario))


def one_line_error(done: Any, code: int = 2) -> str:
    """Assert a finished `rca` run failed the way a user mistake must: the exit code, one line
    on stderr, no traceback; return that line."""
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return str(lines[0])


def record_investigation(
    register: Any,
    *,
    name: str = "ConsumerLagHigh",
    service: str = "orders-consumer",
    starts_at: datetime | str | None = None,
    hypothesis_id: str = "backpressure",
    confidence: float = 0.9,
    tasks: tuple[tuple[str, int, int, int], ...] = (("Scale out {service}", 5, 2, 2),),
    folder: Path | None = None,
    status: str = "firing",
    ends_at: str = "0001-01-01T00:00:00Z",
    **labels: str,
) -> tuple[str, str, list[str]]:
    """Store an alert and an investigation whose hypothesis was supported, without running
    notebooks; its tasks (title template, impact, effort, risk) go through the register's
    normal proposal (so repeats link, rescore and reopen). Returns (alert, investigation,
    task ids)."""
    from .intake import parse_alerts
    from .scoring import plan

    payload = alertmanager_payload(
        name, service=service, starts_at=starts_at, status=status, ends_at=ends_at, **labels
    )
    [alert] = parse_alerts(json.dumps(payload))
    alert_id, _ = register.store_alert(alert)
    investigation_id, _ = register.create_investigation(
        alert_id, folder or Path(tempfile.gettempdir()) / "rca-investigations"
    )
    outcome = Outcome(hypothesis_id, "supported", confidence, "supported (recorded)", "c")
    run_ids = register.record_outcomes(investigation_id, [outcome], {hypothesis_id: 1})
    spec = _spec(hypothesis_id, tasks)
    weights = register.settings.scoring.model_dump()
    planned = plan([outcome], {hypothesis_id: spec}, service, weights)
    return alert_id, investigation_id, register.create_tasks(investigation_id, planned, run_ids)


def _spec(hypothesis_id: str, tasks: tuple[tuple[str, int, int, int], ...]) -> Any:
    from .models import HypothesisSpec, TaskTemplate

    return HypothesisSpec(
        id=hypothesis_id,
        title=hypothesis_id,
        statement="If x, then y",
        template=f"{hypothesis_id}.ipynb",
        applies_to=(),
        parameters={},
        criterion="recorded by a test",
        data={},
        known_false_positives=(),
        remediation=tuple(
            TaskTemplate(title, "", impact, effort, risk) for title, impact, effort, risk in tasks
        ),
        timeout_s=60,
        version=1,
    )
