"""Which stretch of evidence an investigation freezes: the alert's window (with the workspace's
margins, capped at `[evidence] max_window`) plus the longest baseline a hypothesis needs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import Workspace, parse_duration
from ..intake.times import alert_window, earlier, window_cut
from ..models import Alert, HypothesisSpec, Snapshot, Window
from .snapshot import freeze


def evidence_window(workspace: Workspace, alert: Alert, now: datetime) -> Window:
    """[startsAt - before, (endsAt or now) + after], never past now (nor overflowing), and
    never longer than `[evidence] max_window` (a long-firing alert's window is cut short)."""
    settings = workspace.settings.evidence
    before, after = parse_duration(settings.before), parse_duration(settings.after)
    window = alert_window(alert, before, after, now)
    longest = parse_duration(settings.max_window)
    if window.end - window.start > longest:
        return Window(window.start, window.start + longest)
    return window


def window_capped(workspace: Workspace, alert: Alert, window: Window, now: datetime) -> bool:
    """Whether `window` was cut at `[evidence] max_window` (the alert's own window is longer)."""
    settings = workspace.settings.evidence
    return window_cut(
        alert,
        window,
        before=parse_duration(settings.before),
        after=parse_duration(settings.after),
        longest=parse_duration(settings.max_window),
        now=now,
    )


def freeze_evidence(
    workspace: Workspace,
    alert: Alert,
    specs: list[HypothesisSpec],
    investigation_id: str,
    dest: Path,
    now: datetime,
) -> Snapshot:
    """Freeze the window plus the longest baseline any selected hypothesis needs."""
    window = evidence_window(workspace, alert, now)
    lookback = max(
        [
            parse_duration(workspace.settings.evidence.baseline),
            *(parse_duration(s.lookback) for s in specs),
        ]
    )
    return freeze(
        workspace,
        dest,
        window=window,
        lookback_start=earlier(window.start, lookback, "[evidence] baseline or a lookback"),
        context=_context(workspace, alert, investigation_id),
    )


def _context(workspace: Workspace, alert: Alert, investigation_id: str) -> dict[str, Any]:
    """What notebooks may know about the alert: JSON data, never code or paths."""
    return {
        "alert_id": alert.id,
        "investigation_id": investigation_id,
        "alert_name": alert.name,
        "service": alert.service,
        "onset": alert.starts_at.isoformat(),
        "topology": {svc: list(ups) for svc, ups in workspace.settings.topology.items()},
    }
