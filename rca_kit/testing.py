"""Helpers for tests of hypotheses and templates (ours and users'): payloads, snapshots, runs."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from .evidence.snapshot import write_snapshot
from .evidence.sources import KINDS, empty, normalize
from .models import Outcome, Window
from .outcome import harvest
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
) -> Path:
    """Freeze frames in the documented vocabulary as a snapshot folder."""
    given = {"metrics": metrics, "logs": logs, "changes": changes}
    frames = {
        kind: normalize(frame, kind, f"<{kind}>") if frame is not None else empty(kind)
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
        sources=[{"kind": "test", **dict.fromkeys(provides, "<frame>")}],
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
