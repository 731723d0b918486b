"""Pure verification rules: the spec's check over post-fix evidence, and the decision.

A fix is **verified** when the re-run of the test that found the problem no longer meets its
criterion (refuted) *and* the spec's verification check passes over the post-fix period. It is
**reopened** when the criterion is met again or the check fails (the symptom is still there).
It stays **done, pending** when there is not yet enough post-fix evidence (a window shorter
than the period, data that does not cover it, an inconclusive re-run). A re-run that errored
changes nothing (the task stays done) and is reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from .models import VerificationCheck

Result = Literal["verified", "reopened", "pending", "errored"]

_QUANTILES = {"median": 0.5, "p95": 0.95, "p99": 0.99}


def statistic(values: pd.Series, stat: str) -> float | None:
    """The named statistic of the finite values, or None when there are none."""
    clean = pd.to_numeric(values, errors="coerce").astype("float64")
    clean = clean[clean.map(math.isfinite)]
    if clean.empty:
        return None
    if stat in _QUANTILES:
        return float(clean.quantile(_QUANTILES[stat]))
    return float(getattr(clean, stat)())


MIN_SAMPLES = 10


def step(values: pd.Series) -> pd.Timedelta | None:
    """The series' usual sampling interval (median gap), or None with fewer than 2 samples."""
    stamps = pd.Series(values.dropna().index.unique()).sort_values()
    gaps = stamps.diff().dropna()
    return pd.Timedelta(gaps.median()) if len(gaps) else None


def coverage(
    values: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
    interval: pd.Timedelta | None = None,
) -> float:
    """The share of [start, end]'s sampling intervals that hold at least one finite value.

    The interval is the series' own step before the fix when known (so a metric that stopped
    reporting cannot look covered by two samples at the ends), else its step after it.
    """
    inside = values.loc[(values.index >= start) & (values.index <= end)].dropna()
    if inside.empty or end <= start:
        return 0.0
    width = interval or step(inside) or (end - start)
    width = max(width, pd.Timedelta(seconds=1))
    slots = max(int((end - start) / width), 1)
    offsets = pd.Series(inside.index, dtype="datetime64[ns, UTC]") - start
    filled = (offsets // width).clip(upper=slots - 1).nunique()
    return float(min(filled / slots, 1.0))


def _interval(before: pd.Timedelta | None, after: pd.Timedelta | None) -> pd.Timedelta | None:
    """The slot width coverage is counted in: the coarser of the two steps (a scrape interval
    may change with the fix), but at most 6x the step before (a series that turned sparse
    is not covered)."""
    if before is None or after is None:
        return before or after
    return min(max(before, after), 6 * before)


@dataclass(frozen=True)
class MetricCheck:
    """One metric's statistic before and after, the bound it had to meet, and whether it did."""

    metric: str
    stat: str
    baseline: float | None
    after: float | None
    bound: str
    passed: bool | None  # None: not measured well enough to judge
    coverage: float


@dataclass(frozen=True)
class CheckResult:
    passed: bool | None  # None: not enough data to judge
    metrics: list[MetricCheck] = field(default_factory=list)
    summary: str = ""


def _bounds(check: VerificationCheck, baseline: float | None) -> list[tuple[str, float]]:
    """(comparison, limit) pairs; a ratio bound without a baseline cannot be judged."""
    found: list[tuple[str, float]] = []
    if check.max_ratio_to_baseline is not None and baseline is not None:
        found.append(("≤", check.max_ratio_to_baseline * baseline + check.tolerance))
    if check.min_ratio_to_baseline is not None and baseline is not None:
        found.append(("≥", check.min_ratio_to_baseline * baseline - check.tolerance))
    if check.max_value is not None:
        found.append(("≤", check.max_value))
    return found


def _one(
    check: VerificationCheck,
    metric: str,
    before: pd.Series,
    after: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> MetricCheck:
    base = statistic(before, check.stat)
    value = statistic(after, check.stat)
    covered = coverage(after, start, end, _interval(step(before), step(after)))
    bounds = _bounds(check, base)
    needs_baseline = check.max_ratio_to_baseline or check.min_ratio_to_baseline
    enough = len(after.dropna()) >= MIN_SAMPLES and covered >= check.min_coverage
    judged = value is not None and enough and bounds
    if needs_baseline and base is None:
        judged = False
    text = " and ".join(f"{op} {limit:.4g}" for op, limit in bounds) or "(no baseline)"
    passed = (
        all((value <= limit) if op == "≤" else (value >= limit) for op, limit in bounds)
        if judged and value is not None
        else None
    )
    return MetricCheck(metric, check.stat, base, value, text, passed, round(covered, 3))


def evaluate(
    check: VerificationCheck,
    before: Mapping[str, pd.Series],
    after: Mapping[str, pd.Series],
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> CheckResult:
    """Judge every listed metric that is measured after the fix (at least one must be)."""
    measured = [m for m in check.metrics if m in after and not after[m].dropna().empty]
    if not measured:
        names = ", ".join(check.metrics)
        return CheckResult(None, [], f"not enough data: {names} not measured after the fix")
    results = [
        _one(check, m, before.get(m, pd.Series(dtype="float64")), after[m], start, end)
        for m in measured
    ]
    parts = [
        f"{r.metric} {r.stat} {_fmt(r.after)} (before {_fmt(r.baseline)}; needed {r.bound}; "
        f"{r.coverage:.0%} covered)"
        for r in results
    ]
    if any(r.passed is False for r in results):
        return CheckResult(False, results, "check failed: " + "; ".join(parts))
    if any(r.passed is None for r in results):
        return CheckResult(None, results, "not enough data: " + "; ".join(parts))
    return CheckResult(True, results, "check passed: " + "; ".join(parts))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


@dataclass(frozen=True)
class Decision:
    result: Result
    reason: str


def decide(verdict: str, check: CheckResult, *, error: str | None = None) -> Decision:
    """Combine the re-run's verdict and the check into what happens to the task."""
    if verdict == "errored":
        return Decision("errored", f"the re-run errored: {error or 'see its notebook'}")
    if verdict == "supported":
        return Decision("reopened", f"the criterion is met again after the fix; {check.summary}")
    if check.passed is False:  # even when the re-run could not judge: the symptom is measured
        return Decision("reopened", f"the symptom is still there: {check.summary}")
    if verdict == "inconclusive":
        return Decision("pending", f"the re-run was inconclusive (missing data); {check.summary}")
    if check.passed is None:
        return Decision("pending", check.summary)
    return Decision("verified", f"the criterion is no longer met and the {check.summary}")
