"""Pure verification rules: coverage in sampling intervals, the check, and the decision."""

from __future__ import annotations

import pandas as pd
import pytest

from rca_kit.models import VerificationCheck
from rca_kit.verification import CheckResult, coverage, decide, evaluate, step

START = pd.Timestamp("2026-11-20T00:00:00Z")
END = START + pd.Timedelta(hours=24)
CHECK = VerificationCheck("lag back to its baseline", ("lag",), max_ratio_to_baseline=1.5)


def series(freq: str, start: pd.Timestamp = START, end: pd.Timestamp = END, value: float = 1.0):  # type: ignore[no-untyped-def]
    return pd.Series(value, index=pd.date_range(start, end, freq=freq))


BASELINE = series("1min", START - pd.Timedelta(hours=6), START - pd.Timedelta(minutes=1))


def test_two_samples_at_the_ends_do_not_cover_a_day() -> None:
    """A metric that stopped reporting is not covered by its first and last sample."""
    sparse = series("1min").iloc[[0, -1]]
    assert coverage(sparse, START, END, step(BASELINE)) < 0.01
    result = evaluate(CHECK, {"lag": BASELINE}, {"lag": sparse}, START, END)
    assert result.passed is None
    assert result.summary.startswith("not enough data")


def test_half_a_day_of_data_is_half_covered_and_not_judged() -> None:
    """Coverage counts the sampling intervals that hold data; below min_coverage nothing is
    judged."""
    half = series("1min", START, START + pd.Timedelta(hours=12))
    assert coverage(half, START, END, pd.Timedelta("1min")) == pytest.approx(0.5, abs=0.01)
    assert evaluate(CHECK, {"lag": BASELINE}, {"lag": half}, START, END).passed is None


def test_a_coarser_scrape_after_the_fix_still_covers_the_window() -> None:
    """A series scraped every 5 minutes after the fix (every minute before) is covered."""
    result = evaluate(CHECK, {"lag": BASELINE}, {"lag": series("5min")}, START, END)
    assert result.metrics[0].coverage == 1.0
    assert result.passed is True


def test_nan_and_missing_metrics_are_never_evidence() -> None:
    """All-NaN values or an unmeasured metric leave the check unjudged, never passed."""
    nans = series("1min", value=float("nan"))
    assert evaluate(CHECK, {"lag": BASELINE}, {"lag": nans}, START, END).passed is None
    assert evaluate(CHECK, {"lag": BASELINE}, {}, START, END).passed is None
    no_baseline = evaluate(CHECK, {}, {"lag": series("1min")}, START, END)
    assert no_baseline.passed is None  # a ratio bound needs the level before


def test_the_symptom_above_its_bound_fails_the_check() -> None:
    """p95 above 1.5x the baseline fails; every metric listed and measured must pass."""
    high = series("1min", value=10.0)
    result = evaluate(CHECK, {"lag": BASELINE}, {"lag": high}, START, END)
    assert result.passed is False
    assert "needed ≤ 1.5" in result.summary


@pytest.mark.parametrize(
    ("verdict", "passed", "expected"),
    [
        ("refuted", True, "verified"),
        ("supported", True, "reopened"),
        ("supported", None, "reopened"),
        ("refuted", False, "reopened"),
        ("inconclusive", False, "reopened"),
        ("inconclusive", True, "pending"),
        ("refuted", None, "pending"),
        ("errored", True, "errored"),
    ],
)
def test_decision_table(verdict: str, passed: bool | None, expected: str) -> None:
    """Verified needs a refuted criterion and a passed check; a measured symptom reopens."""
    assert decide(verdict, CheckResult(passed, [], "s")).result == expected
