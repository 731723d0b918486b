"""What each evidence source delivered: its manifest record, whether it covers the window, and
the one-line problems the CLI, the report and the templates show when it does not.

A record (one per [[sources]] entry, in manifest.json "sources") holds the source's description
(no secrets), `provides` (the kinds it is configured for), `status` (ok | partial | empty |
failed), `rows`, `span` (first/last timestamp) and `covers` per kind, `error`, `errors` and
`problem` (the warning line, or null), `missing_series` (each metric and service a query was
written for but could not fetch, with why) and `notes`. Metrics cover the window when they start
by its start and reach the alert's onset (5 minutes' slack, or two query steps); logs and changes
are event logs: a source that answered in full covers every moment it was asked about, so
"nothing happened" is evidence only when every source of that kind answered in full.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..config import parse_duration
from .rows import issue_lines

if TYPE_CHECKING:
    from .sources import Fetched, FetchRange

SLACK = timedelta(minutes=5)
MAX_ERRORS = 20
EVENT_KINDS = ("logs", "changes")


def _iso(value: Any) -> str:
    return str(pd.Timestamp(value).isoformat())


def _short(moment: str | None) -> str:
    return pd.Timestamp(moment).strftime("%Y-%m-%d %H:%M") if moment else "?"


def _covers(
    kind: str, frame: pd.DataFrame | None, status: str, span: FetchRange, slack: timedelta
) -> bool:
    if status == "failed":
        return False
    if kind in EVENT_KINDS:  # an event log missing some answers cannot show that nothing happened
        return status != "partial"
    if frame is None or frame.empty:
        return False
    start = span.window_start or span.start
    reach = min(span.onset or start, span.end - slack)
    stamps = frame["timestamp"]
    return bool(stamps.min() <= pd.Timestamp(start + slack) and stamps.max() >= pd.Timestamp(reach))


def _problem(number: int, record: dict[str, Any]) -> str | None:
    name = f"source {number} ({record['label']})"
    kinds = " or ".join(record["provides"]) or "its data"
    inconclusive = f"hypotheses needing {kinds} will be inconclusive"
    status = record["status"]
    if status == "failed":
        return f"{name}: {record['error']} — {inconclusive}"
    if status == "partial" and "metrics" not in record["provides"]:
        return f"{name}: {record['error']} — {inconclusive}"
    if status == "partial":
        return (
            f"{name}: {len(record['errors'])} of its queries failed, first: {record['errors'][0]}"
            f" — hypotheses needing those series will be inconclusive"
        )
    if status == "empty":
        if all(kind in EVENT_KINDS for kind in record["provides"]):
            return f"{name}: no {kinds} in the snapshot's range — read as: none happened"
        return f"{name}: returned nothing for the snapshot's range — {inconclusive}"
    short = [k for k in record["provides"] if not record["covers"].get(k)]
    if short:
        kind = short[0]
        seen = record["span"].get(kind) or {}
        return (
            f"{name}: {kind} run {_short(seen.get('first'))} → {_short(seen.get('last'))}, not "
            f"across the window — hypotheses needing {kind} will be inconclusive"
        )
    return None


def source_record(
    number: int, section: Any, fetched: Fetched, failure: str | None, span: FetchRange
) -> dict[str, Any]:
    """The manifest record of source `number` (1-based) after it was asked for `span`."""
    provides = list(section.provides())
    frames = fetched.frames
    errors = [failure] if failure else list(fetched.errors)
    rows = {kind: len(frames[kind]) if kind in frames else 0 for kind in provides}
    step = getattr(section, "step", None)
    slack = max(SLACK, 2 * parse_duration(step)) if step else SLACK
    total = sum(rows.values())
    status = (
        "failed"
        if failure or (errors and not total)
        else "partial"
        if errors
        else "empty"
        if not total
        else "ok"
    )
    record: dict[str, Any] = {
        **section.describe(),
        "label": section.label(),
        "provides": provides,
        "status": status,
        "rows": rows,
        "span": {
            kind: {"first": _iso(f["timestamp"].min()), "last": _iso(f["timestamp"].max())}
            if (f := frames.get(kind)) is not None and len(f)
            else None
            for kind in provides
        },
        "covers": {kind: _covers(kind, frames.get(kind), status, span, slack) for kind in provides},
        "error": (errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
        if errors
        else None,
        "errors": errors[:MAX_ERRORS],
        "missing_series": [dict(lost) for lost in fetched.missing_series],
        "notes": list(fetched.notes),
        "row_issues": list(fetched.row_issues),
    }
    record["problem"] = _problem(number, record)
    return record


def _legacy(source: dict[str, Any]) -> bool:
    return "status" not in source  # frozen before sources were recorded: trust what it names


def _provides(source: dict[str, Any], kind: str) -> bool:
    if _legacy(source):
        return bool(source.get(kind))
    return kind in source.get("provides", [])


@dataclass(frozen=True)
class Coverage:
    """Whether a snapshot's `kind` is evidence. Metrics: a source that did not fail spans the
    window (the series a source could not fetch are `lost_series`, not this). Logs and changes:
    every source providing them answered in full, since one that failed or answered in part may
    hold the event that the others lack. `missing` says what is missing, for `missing_data`;
    `problems` names every source of the kind that failed (or, for logs and changes, answered
    in part)."""

    kind: str
    provided: bool
    covers: bool
    first: str | None
    last: str | None
    problems: tuple[str, ...]

    def __bool__(self) -> bool:
        return self.covers

    @property
    def missing(self) -> str:
        if self.covers:
            return ""
        if self.problems:
            return f"{self.kind} ({'; '.join(self.problems)})"
        if not self.provided:
            return f"{self.kind} (no evidence source provides them)"
        return (
            f"{self.kind} across the window (they run {_short(self.first)} → {_short(self.last)})"
        )


def _label(number: int, source: dict[str, Any]) -> str:
    return f"source {number} ({source.get('label', source.get('kind'))})"


def coverage(sources: list[dict[str, Any]], kind: str) -> Coverage:
    """`kind`'s coverage over every source record of a manifest."""
    mine = [(n, s) for n, s in enumerate(sources, start=1) if _provides(s, kind)]
    ok = [s for _, s in mine if _legacy(s) or s.get("status") != "failed"]
    spans = [s["span"][kind] for s in ok if not _legacy(s) and (s.get("span") or {}).get(kind)]
    failed = tuple(
        f"{_label(n, s)} failed: {s.get('error')}"
        for n, s in mine
        if not _legacy(s) and s.get("status") == "failed"
    )
    answered = [_legacy(s) or bool((s.get("covers") or {}).get(kind)) for _, s in mine]
    if kind in EVENT_KINDS:
        covers = bool(mine) and all(answered)
        short = tuple(
            f"{_label(n, s)} answered in part: {s.get('error')}"
            for n, s in mine
            if not _legacy(s) and s.get("status") == "partial"
        )
    else:
        covers, short = any(answered), ()
    return Coverage(
        kind=kind,
        provided=bool(ok),
        covers=covers,
        first=min((s["first"] for s in spans), default=None),
        last=max((s["last"] for s in spans), default=None),
        problems=failed + short,
    )


def lost_series(sources: list[dict[str, Any]]) -> dict[tuple[str | None, str], str]:
    """(service, metric) → why a source could not fetch that series (service None: a query
    for every service failed), from each record's `missing_series`; the first reason wins."""
    lost: dict[tuple[str | None, str], str] = {}
    for number, source in enumerate(sources, start=1):
        for item in source.get("missing_series") or ():
            key = (item.get("service"), str(item.get("metric")))
            lost.setdefault(key, f"{_label(number, source)}: {item.get('error')}")
    return lost


def problems(sources: list[dict[str, Any]]) -> list[str]:
    """One line per source that failed, answered in part, returned nothing or falls short."""
    return [str(s["problem"]) for s in sources if s.get("problem")]


def summary(sources: list[dict[str, Any]], counts: dict[str, int]) -> dict[str, Any]:
    """The `evidence` object of `rca investigate --json`: per source, `unreadable` holds one
    line per file and kind with rows or values that could not be read."""
    return {
        **counts,
        "sources": [
            {
                "kind": s.get("kind"),
                "description": s.get("label", s.get("kind")),
                "status": s.get("status", "ok"),
                "rows": sum((s.get("rows") or {}).values()),
                "covers": all((s.get("covers") or {}).values()) if not _legacy(s) else True,
                "error": s.get("error"),
                "warning": s.get("problem"),
                "unreadable": issue_lines([s]),
            }
            for s in sources
        ],
    }


def evidence_notes(manifest: dict[str, Any]) -> list[str]:
    """The report's banner: every source problem, every kind no source provides, and every
    file with rows or values that could not be read."""
    from .vocabulary import KINDS

    sources = list(manifest.get("sources", []))
    notes = problems(sources) + issue_lines(sources)
    for kind in KINDS:
        found = coverage(sources, kind)
        if not found.provided and not found.problems:
            notes.append(
                f"no evidence source provides {kind}: hypotheses needing them are inconclusive"
            )
    return notes
