"""The frozen evidence as the review shows it: the manifest's sources, files and digests, the
banner of what fell short, and whether a long-firing alert's window was cut."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import RcaToml, parse_duration
from ..evidence.rows import issue_lines
from ..exceptions import InputError
from ..intake.times import window_cut
from ..learning import duration_s, parse_ts
from ..models import Alert, Window

MAX_MANIFEST_BYTES = 16 * 1024 * 1024


def read_manifest(folder: str | None) -> dict[str, Any] | None:
    """An investigation's snapshot manifest; None when it froze none (or it is unreadable)."""
    if not folder:
        return None
    path = Path(folder) / "snapshot" / "manifest.json"
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            return None
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return manifest if isinstance(manifest, dict) else None


def symptom_onset(manifest: dict[str, Any] | None) -> str | None:
    """The symptom's onset the snapshot recorded (its context's `onset`), if any."""
    onset = _mapping(_mapping(manifest).get("context")).get("onset")
    return onset if isinstance(onset, str) and parse_ts(onset) else None


def integrity_notes(view: dict[str, Any] | None) -> list[str]:
    """The integrity banner's lines about the manifest (`snapshot_view`): changed since it
    was frozen, or not the one the register recorded."""
    if view is None:
        return []
    if not view["intact"]:
        return ["The snapshot manifest changed after it was frozen (its sha256 no longer matches)"]
    if not view["as_recorded"]:
        return [
            f"The snapshot manifest is not the one the register recorded "
            f"(sha256 {str(view['manifest_sha256'])[:12]}…, recorded {view['recorded'][:12]}…)"
        ]
    return []


def snapshot_view(manifest: dict[str, Any] | None, recorded: str | None) -> dict[str, Any] | None:
    """Sources (status, rows, span, problem), files (rows, sha256) and the digests, with
    whether the manifest is as sealed and as the register recorded it."""
    if manifest is None:
        return None
    from ..evidence.load import manifest_digest

    sealed = manifest.get("manifest_sha256")
    files = _mapping(manifest.get("files"))
    sources = [s for s in manifest.get("sources") or [] if isinstance(s, dict)]
    return {
        "window": manifest.get("window") or {},
        "lookback_start": manifest.get("lookback_start"),
        "onset": symptom_onset(manifest),
        "sources": [_source(s) for s in sources],
        "series": _series(manifest.get("series")),
        "files": [
            {"name": name, "rows": (info or {}).get("rows"), "sha256": (info or {}).get("sha256")}
            for name, info in sorted(files.items())
            if isinstance(info, dict)
        ],
        "files_sha256": manifest.get("sha256"),
        "manifest_sha256": sealed,
        "intact": sealed is None or manifest_digest(manifest) == sealed,
        "recorded": recorded,
        "as_recorded": recorded is None or recorded == sealed,
    }


def _source(record: dict[str, Any]) -> dict[str, Any]:
    rows, spans = _mapping(record.get("rows")), _mapping(record.get("span"))
    kinds = [k for k in record.get("provides") or [] if isinstance(k, str)] or sorted(rows)
    missing = record.get("missing_series") or []
    return {
        "kind": record.get("kind"),
        "label": record.get("label") or record.get("kind"),
        "status": record.get("status") or "unknown",
        "problem": record.get("problem") or record.get("error"),
        "unreadable": issue_lines([record]),
        "missing_series": len(missing) if isinstance(missing, list) else 0,
        "kinds": [
            {
                "kind": kind,
                "rows": rows.get(kind),
                "first": _mapping(spans.get(kind)).get("first"),
                "last": _mapping(spans.get(kind)).get("last"),
            }
            for kind in kinds
        ],
    }


SERIES_SHOWN = 50  # series rows the review lists (those with the most to say first)


def _series(found: Any) -> dict[str, Any]:
    """The manifest's per-series quality for the review: the series with missing or unreadable
    values, duplicate timestamps, gaps or less than full coverage (at most SERIES_SHOWN, the
    least covered first), and how many series there are."""
    rows = [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []
    flawed = [
        s
        for s in rows
        if s.get("missing")
        or s.get("unreadable")
        or s.get("duplicates")
        or s.get("gaps")
        or (isinstance(s.get("coverage"), int | float) and s["coverage"] < 1)
    ]
    flawed.sort(
        key=lambda s: (_number(s.get("coverage")), str(s.get("service")), str(s.get("metric")))
    )
    return {"total": len(rows), "flawed": len(flawed), "shown": flawed[:SERIES_SHOWN]}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def evidence_notes(manifest: dict[str, Any] | None) -> list[str]:
    """The banner's lines: sources that failed or fell short, kinds nobody provides."""
    if manifest is None:
        return []
    from ..evidence.coverage import evidence_notes as notes

    return notes(manifest)


def window_cap(
    settings: RcaToml, alert: Alert, investigation: dict[str, Any], frozen_at: str | None
) -> dict[str, Any] | None:
    """What the review says when `[evidence] max_window` cut the window: the cap, the
    window kept and the alert's own span (None when the window was not cut)."""
    start = parse_ts(investigation.get("window_start"))
    end = parse_ts(investigation.get("window_end"))
    now = parse_ts(frozen_at) or parse_ts(investigation.get("created_at"))
    if start is None or end is None or now is None or end < start:
        return None
    evidence = settings.evidence
    try:
        cut = window_cut(
            alert,
            Window(start, end),
            before=parse_duration(evidence.before),
            after=parse_duration(evidence.after),
            longest=parse_duration(evidence.max_window),
            now=now,
        )
    except InputError:  # an alert stored before its times were bounded: no claim
        return None
    if not cut:
        return None
    ended: datetime | None = alert.ends_at
    return {
        "max_window": evidence.max_window,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "alert_start": alert.starts_at.isoformat(),
        "alert_end": ended.isoformat() if ended else None,
        "as_of": now.isoformat(),
        "alert_span_s": duration_s(alert.starts_at, ended or now),
    }
