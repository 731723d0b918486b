"""The incident's timeline: from the symptom's onset to the resolution, through the alert, the
snapshot, each hypothesis test, the tasks and every decision on them (pure: no I/O).

Events come from the alert's times, the manifest's onset, the notebooks' run times and the
audit trail; the review shows them as a table and as one plotly figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..inert import inert_figure
from ..learning import duration_s, parse_ts

ALERT, INVESTIGATION, TASKS, DECISIONS = "Alert", "Investigation", "Tasks", "Decisions"
VERDICT_COLORS = {
    "supported": "#1a7f37",
    "refuted": "#8c959f",
    "inconclusive": "#9a6700",
    "errored": "#cf222e",
}
KIND_COLORS = {"alert": "#cf222e", "step": "#0969da", "task": "#8250df", "decision": "#bc4c00"}
LEGEND = {"alert": "alert", "step": "investigation step", "task": "task", "decision": "decision"}
# audit actions shown on the timeline: (lane, kind, label); task.<status> and verifications
# are matched by prefix below
ACTIONS = {
    "investigation.started": (INVESTIGATION, "step", "Investigation started"),
    "investigation.resumed": (INVESTIGATION, "step", "Investigation resumed"),
    "investigation.snapshot_frozen": (INVESTIGATION, "step", "Evidence snapshot frozen"),
    "investigation.harvested": (INVESTIGATION, "step", "Verdicts recorded"),
    "investigation.failed": (INVESTIGATION, "decision", "Investigation failed"),
    "investigation.abandoned": (INVESTIGATION, "decision", "Investigation abandoned"),
    "investigation.reviewed": (DECISIONS, "decision", "Reviewed"),
    "task.created": (TASKS, "task", "Task created"),
    "task.reprioritized": (DECISIONS, "decision", "Reprioritized"),
    "task.override_cleared": (DECISIONS, "decision", "Override cleared"),
    "task.assigned": (TASKS, "task", "Assigned"),
    "run.verdict_overridden": (DECISIONS, "decision", "Verdict overridden"),
    "run.rerun_recorded": (DECISIONS, "decision", "Rerun"),
}


@dataclass(frozen=True)
class Event:
    at: datetime
    lane: str
    kind: str  # alert | step | task | decision | a verdict
    label: str
    detail: str = ""


def events(
    *,
    alert: Mapping[str, Any],
    onset: str | None,
    hypotheses: Iterable[Mapping[str, Any]],
    trail: Iterable[Mapping[str, Any]],
    task_titles: Mapping[str, str],
) -> list[Event]:
    """Every dated event of the incident, in time order (undated ones are left out)."""
    found: list[Event | None] = [
        _event(onset or alert["starts_at"], ALERT, "alert", "Symptom onset"),
        _event(alert["received_at"], ALERT, "alert", "Alert received", alert["name"]),
    ]
    if onset and parse_ts(onset) != parse_ts(alert["starts_at"]):
        found.append(_event(alert["starts_at"], ALERT, "alert", "Alert starts (startsAt)"))
    if alert["status"] == "resolved":
        found.append(_event(alert["ends_at"], ALERT, "alert", "Resolved (endsAt)"))
        found.append(_event(alert["resolved_at"], ALERT, "alert", "Resolved notice received"))
    for h in hypotheses:
        lane = str(h["hypothesis_id"])
        found.append(_event(h["started_at"], lane, "step", "Test started"))
        label = f"Verdict: {h['test_verdict']} ({h['confidence']:.2f})"
        found.append(_event(h["ended_at"], lane, h["test_verdict"], label, h["summary"]))
    for entry in trail:
        found.append(_audited(entry, task_titles))
    dated = [event for event in found if event is not None]
    return sorted(dated, key=lambda e: e.at)


def _audited(entry: Mapping[str, Any], task_titles: Mapping[str, str]) -> Event | None:
    action = str(entry["action"])
    details = entry.get("details") or {}
    title = task_titles.get(str(entry["entity_id"]), "") if entry["entity"] == "task" else ""
    if action in ACTIONS:
        lane, kind, label = ACTIONS[action]
    elif action.startswith("task.verification_"):
        lane, kind = TASKS, "decision"
        label = f"Fix verification: {action.removeprefix('task.verification_')}"
    elif action.startswith("task.") and action.count(".") == 1:
        lane, kind, label = TASKS, "task", f"Task {action.removeprefix('task.')}"
    else:
        return None
    if action.startswith("run."):
        title = str(details.get("hypothesis_id") or "")
        if details.get("verdict"):
            label = f"{label}: {details['verdict']}"
    who = entry.get("authority") or entry.get("actor") or ""
    parts = [title, f"by {who}" if who and kind == "decision" else "", entry.get("rationale") or ""]
    return _event(entry["at"], lane, kind, label, " · ".join(str(p) for p in parts if p))


def _event(at: Any, lane: str, kind: str, label: str, detail: str = "") -> Event | None:
    moment = parse_ts(at)
    return Event(moment.astimezone(UTC), lane, kind, label, detail) if moment else None


def rows(found: list[Event]) -> list[dict[str, Any]]:
    """The table beside the plot: each event with its offset from the first one."""
    first = found[0].at if found else None
    return [
        {
            "at": e.at.isoformat(),
            "offset_s": duration_s(first, e.at),
            "lane": e.lane,
            "kind": e.kind,
            "label": e.label,
            "detail": e.detail,
        }
        for e in found
    ]


def figure(
    found: list[Event], *, window: tuple[str | None, str | None] = (None, None)
) -> dict[str, Any] | None:
    """One plotly figure: a lane per part of the incident (alert, investigation, each
    hypothesis, tasks, decisions), a marker per event, the evidence window shaded."""
    if not found:
        return None
    lanes = _lanes(found)
    traces: list[dict[str, Any]] = []
    tests = _test_spans(found)
    if tests:
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": tests[0],
                "y": tests[1],
                "line": {"color": "#57606a", "width": 3},
                "hoverinfo": "skip",
                "showlegend": False,
            }
        )
    kinds = dict.fromkeys(e.kind for e in found)
    for kind in kinds:
        chosen = [e for e in found if e.kind == kind]
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": LEGEND.get(kind, f"verdict {kind}"),
                "x": [_plotly_time(e.at) for e in chosen],
                "y": [e.lane for e in chosen],
                "text": [f"{e.label}{' · ' + e.detail if e.detail else ''}" for e in chosen],
                "hoverinfo": "x+text",  # no template: every string here is made inert
                "marker": {
                    "size": 11,
                    "color": VERDICT_COLORS.get(kind) or KIND_COLORS.get(kind, "#57606a"),
                    "symbol": "diamond" if kind in VERDICT_COLORS else "circle",
                    "line": {"width": 1, "color": "#ffffff"},
                },
            }
        )
    shapes = []
    start, end = parse_ts(window[0]), parse_ts(window[1])
    if start and end:
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": _plotly_time(start),
                "x1": _plotly_time(end),
                "y0": 0,
                "y1": 1,
                "fillcolor": "rgba(9,105,218,0.08)",
                "line": {"width": 0},
                "layer": "below",
            }
        )
    layout = {
        "height": 140 + 26 * len(lanes),
        "margin": {"l": 170, "r": 20, "t": 40, "b": 40},
        "xaxis": {"type": "date", "title": {"text": "UTC"}},
        "yaxis": {
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(reversed(lanes)),
            "automargin": True,
        },
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        "shapes": shapes,
        "hovermode": "closest",
    }
    return inert_figure({"data": traces, "layout": layout})


def _lanes(found: list[Event]) -> list[str]:
    """Lanes top to bottom: the alert, the investigation, each hypothesis, tasks, decisions."""
    fixed_top, fixed_bottom = [ALERT, INVESTIGATION], [TASKS, DECISIONS]
    present = dict.fromkeys(e.lane for e in found)
    middle = [lane for lane in present if lane not in fixed_top + fixed_bottom]
    return (
        [lane for lane in fixed_top if lane in present]
        + middle
        + [lane for lane in fixed_bottom if lane in present]
    )


def _test_spans(found: list[Event]) -> tuple[list[str | None], list[str | None]] | None:
    """Line segments from each test's start to its verdict (None separates segments)."""
    xs: list[str | None] = []
    ys: list[str | None] = []
    started: dict[str, datetime] = {}
    for e in found:
        if e.label == "Test started":
            started[e.lane] = e.at
        elif e.kind in VERDICT_COLORS and e.lane in started:
            xs += [_plotly_time(started.pop(e.lane)), _plotly_time(e.at), None]
            ys += [e.lane, e.lane, None]
    return (xs, ys) if xs else None


def _plotly_time(moment: datetime) -> str:
    """UTC without an offset: plotly.js reads dates as wall-clock times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
