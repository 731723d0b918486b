"""What the register teaches: per-hypothesis track records, learned priors, incident timings.

Pure functions over plain dict rows (no database, no I/O); `register.history` gathers the rows.

Reviews. Only the latest review of an investigation counts (latest `created_at`, then `id`).

Library statistics, per hypothesis id, over runs of investigations of kind "incident" only
(a verification re-runs a hypothesis on a post-fix window; it is no new diagnosis):
- runs, supported, refuted, inconclusive, errored: runs and their verdicts.
- confirmed: reviews naming the hypothesis as the root cause.
- false_positives: reviews listing it as a false positive (supported, not the cause, not a
  documented consequence of the cause).
- precision = confirmed / (confirmed + false_positives); None when both are 0 (never NaN).
- median_time_to_verdict_s: the median `duration_s` of its runs; None without runs.
- fixes_verified: verifications of its tasks whose result is "verified": the fix passed its
  post-fix check (a later recurrence reopens the task, but that verification happened).
- fixes_reopened: verifications of its tasks whose result (`verification["result"]` of the
  verification investigation) is "reopened": the fix failed its post-fix check.

Learned priors. For one alert's history (same alertname and service), with n reviewed
investigations of which c_h confirmed hypothesis h, the smoothed confirmed-cause rate is
    rate_h = (c_h + s·p_h) / (n + s)
where p_h is the spec's `prior` and s (strength, default 2) is how many reviews the spec's prior
is worth (Laplace-style additive smoothing). With no reviews rate_h = p_h; a hypothesis never
confirmed decays toward 0 as reviews of other causes accumulate; each confirmation pulls it
toward 1.

Incident metrics. An incident is an alert with at least one incident investigation (a
firing alert stays one when its resolved notification closes it).
- MTTD (time to detect) = alert `starts_at` (the symptom's onset as monitoring saw it) →
  alert `received_at` (the alert reached rca-kit).
- time to first verdict = alert `received_at` → `created_at` of the first run of the alert's
  first incident investigation (by `created_at`, then id).
- MTTR (time to resolve) = alert `starts_at` → its end: the `ends_at` of a stored "resolved"
  notification with the same fingerprint and `starts_at` (a separate row in registers written
  before resolved notices closed their firing alert), else the alert's own `ends_at`.
- time to verified fix = alert `starts_at` → the earliest `verified_at` of a task whose origin
  evidence is one of the alert's incident investigations.
A missing or unparsable timestamp gives None; so does a negative duration (clock skew between
monitoring and rca-kit), which would otherwise pull medians below zero. Aggregates per ISO week
of `starts_at` (UTC, "2026-W47") and per service give, for each metric, the median and the count
of incidents where it is known.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

Row = Mapping[str, Any]

VERDICTS = ("supported", "refuted", "inconclusive", "errored")
OTHER = "other"  # a reviewed cause outside the library: no hypothesis to credit
REOPENED = "reopened"  # the verification result of a fix that failed its check
METRICS = ("mttd_s", "time_to_first_verdict_s", "mttr_s", "time_to_verified_fix_s")
DEFAULT_STRENGTH = 2.0


# reviews ------------------------------------------------------------------------------------
def latest_reviews(reviews: Iterable[Row]) -> list[Row]:
    """The latest review of each investigation (by created_at, then id), oldest first."""
    latest: dict[str, Row] = {}
    for review in sorted(reviews, key=_review_order):
        latest[str(review["investigation_id"])] = review
    return sorted(latest.values(), key=_review_order)


def _review_order(review: Row) -> tuple[str, int]:
    return str(review.get("created_at") or ""), int(review.get("id") or 0)


# library statistics -------------------------------------------------------------------------
def precision(confirmed: int, false_positives: int) -> float | None:
    """confirmed / (confirmed + false_positives), or None when neither happened."""
    judged = confirmed + false_positives
    return confirmed / judged if judged else None


def library_stats(
    runs: Iterable[Row],
    reviews: Iterable[Row],
    verifications: Iterable[Row],
    *,
    ids: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Per-hypothesis statistics (see the module docstring), sorted by id.

    runs: hypothesis_id, verdict, duration_s, kind (the investigation's; missing = incident);
    reviews: investigation_id, root_cause, false_positives, created_at, id; verifications:
    hypothesis_id (of the task), verification (the investigation's JSON). `ids` adds rows of
    zeros for hypotheses that never ran.
    """
    verdicts: dict[str, Counter[str]] = defaultdict(Counter)
    durations: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        if (run.get("kind") or "incident") != "incident":
            continue
        hypothesis = str(run["hypothesis_id"])
        verdicts[hypothesis][str(run["verdict"])] += 1
        if run.get("duration_s") is not None:
            durations[hypothesis].append(float(run["duration_s"]))
    confirmed: Counter[str] = Counter()
    false_positives: Counter[str] = Counter()
    for review in latest_reviews(reviews):
        if review["root_cause"] != OTHER:
            confirmed[str(review["root_cause"])] += 1
        false_positives.update(str(h) for h in set(review.get("false_positives") or ()))
    results = [
        (str(v["hypothesis_id"]), v["verification"].get("result"))
        for v in verifications
        if isinstance(v.get("verification"), Mapping)
    ]
    verified = Counter(h for h, result in results if result == "verified")
    reopened = Counter(h for h, result in results if result == REOPENED)
    every = {*ids, *verdicts, *confirmed, *false_positives, *verified, *reopened}
    rows = []
    for hypothesis in sorted(every):
        counts = verdicts.get(hypothesis, Counter())
        times = durations.get(hypothesis, [])
        rows.append(
            {
                "hypothesis_id": hypothesis,
                "runs": sum(counts.values()),
                **{verdict: counts[verdict] for verdict in VERDICTS},
                "confirmed": confirmed[hypothesis],
                "false_positives": false_positives[hypothesis],
                "precision": precision(confirmed[hypothesis], false_positives[hypothesis]),
                "median_time_to_verdict_s": statistics.median(times) if times else None,
                "fixes_verified": verified[hypothesis],
                "fixes_reopened": reopened[hypothesis],
            }
        )
    return rows


# learned priors -----------------------------------------------------------------------------
def smoothed_rate(
    confirmed: int, reviews: int, prior: float, strength: float = DEFAULT_STRENGTH
) -> float:
    """(confirmed + strength·prior) / (reviews + strength): the smoothed confirmed-cause rate."""
    if strength <= 0:
        msg = f"strength must be positive, got {strength}"
        raise ValueError(msg)
    if not 0 <= confirmed <= reviews:
        msg = f"confirmed must be between 0 and reviews ({reviews}), got {confirmed}"
        raise ValueError(msg)
    if not 0.0 <= prior <= 1.0:
        msg = f"prior must be between 0 and 1, got {prior}"
        raise ValueError(msg)
    return (confirmed + strength * prior) / (reviews + strength)


def priors(
    history_reviews: Iterable[Row],
    specs_priors: Mapping[str, float],
    *,
    strength: float = DEFAULT_STRENGTH,
) -> dict[str, float]:
    """Each spec's smoothed confirmed-cause rate over one alert's reviewed history."""
    latest = latest_reviews(history_reviews)
    confirmed = Counter(str(r["root_cause"]) for r in latest)
    return {
        hypothesis: smoothed_rate(confirmed[hypothesis], len(latest), prior, strength)
        for hypothesis, prior in specs_priors.items()
    }


# incident metrics ---------------------------------------------------------------------------
def parse_ts(value: Any) -> datetime | None:
    """An ISO 8601 timestamp with an offset (naive ones are taken as UTC); None if unusable."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def duration_s(start: Any, end: Any) -> float | None:
    """Seconds from start to end; None when either is missing or the result is negative."""
    began, ended = parse_ts(start), parse_ts(end)
    if began is None or ended is None:
        return None
    seconds = (ended - began).total_seconds()
    return seconds if seconds >= 0 else None  # clock skew, not a real negative duration


def iso_week(value: Any) -> str | None:
    """The ISO 8601 week of a timestamp in UTC, like "2026-W47"."""
    parsed = parse_ts(value)
    if parsed is None:
        return None
    year, week, _ = parsed.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def incidents(
    alerts: Iterable[Row],
    investigations: Iterable[Row],
    first_runs: Mapping[str, str],
    verified_fixes: Iterable[Row],
) -> list[dict[str, Any]]:
    """One row per incident with its timings (see the module docstring), oldest first.

    alerts: id, name, service, status, fingerprint, starts_at, ends_at, received_at;
    investigations: id, alert_id, kind, created_at; first_runs: investigation id → created_at
    of its first run; verified_fixes: investigation_id (origin evidence), task_id, verified_at.
    """
    every = list(alerts)
    resolved: dict[tuple[str, str], str] = {}
    for alert in every:
        if alert["status"] == "resolved" and alert.get("ends_at"):
            key = (str(alert["fingerprint"]), str(alert["starts_at"]))
            resolved.setdefault(key, str(alert["ends_at"]))
    opened: dict[str, list[Row]] = defaultdict(list)
    for investigation in investigations:
        if (investigation.get("kind") or "incident") == "incident":
            opened[str(investigation["alert_id"])].append(investigation)
    fixed: dict[str, list[str]] = defaultdict(list)
    for verified in verified_fixes:
        if verified.get("verified_at"):
            fixed[str(verified["investigation_id"])].append(str(verified["verified_at"]))
    rows = []
    for alert in every:
        mine = sorted(opened.get(str(alert["id"]), ()), key=lambda i: (i["created_at"], i["id"]))
        if not mine:
            continue
        first = mine[0]
        occurrence = (str(alert["fingerprint"]), str(alert["starts_at"]))
        end = resolved.get(occurrence) or alert.get("ends_at")
        fix = _earliest([stamp for i in mine for stamp in fixed.get(str(i["id"]), ())])
        rows.append(
            {
                "alert_id": alert["id"],
                "investigation_id": first["id"],
                "name": alert["name"],
                "service": alert.get("service"),
                "starts_at": alert["starts_at"],
                "week": iso_week(alert["starts_at"]),
                "mttd_s": duration_s(alert["starts_at"], alert.get("received_at")),
                "time_to_first_verdict_s": duration_s(
                    alert.get("received_at"), first_runs.get(str(first["id"]))
                ),
                "mttr_s": duration_s(alert["starts_at"], end),
                "time_to_verified_fix_s": duration_s(alert["starts_at"], fix),
            }
        )
    return sorted(rows, key=lambda r: (_instant(r["starts_at"]), r["alert_id"]))


def _instant(value: Any) -> datetime:
    """A sort key: unparsable timestamps sort first."""
    return parse_ts(value) or datetime.min.replace(tzinfo=UTC)


def _earliest(stamps: Sequence[str]) -> str | None:
    known = [s for s in stamps if parse_ts(s) is not None]
    return min(known, key=_instant) if known else None


def summarize(rows: Sequence[Row]) -> dict[str, Any]:
    """For each metric, its median and the count of rows where it is known."""
    summary: dict[str, Any] = {"incidents": len(rows)}
    for metric in METRICS:
        known = [float(r[metric]) for r in rows if r.get(metric) is not None]
        summary[metric] = {
            "median": statistics.median(known) if known else None,
            "count": len(known),
        }
    return summary


def aggregate(rows: Sequence[Row], by: str) -> list[dict[str, Any]]:
    """summarize() per value of `by` ("week" or "service"), sorted by that value."""
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        groups[str(row.get(by) or "")].append(row)
    return [{by: key, **summarize(groups[key])} for key in sorted(groups)]


def incident_metrics(
    alerts: Iterable[Row],
    investigations: Iterable[Row],
    first_runs: Mapping[str, str],
    verified_fixes: Iterable[Row],
) -> dict[str, Any]:
    """Per-incident timings, with aggregates overall, per ISO week and per service."""
    rows = incidents(alerts, investigations, first_runs, verified_fixes)
    return {
        "incidents": rows,
        "overall": summarize(rows),
        "by_week": aggregate(rows, "week"),
        "by_service": aggregate(rows, "service"),
    }
