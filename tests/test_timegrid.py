"""Series on a time axis (rca_kit.stats): alignment, lookups and windows in wall time, and onset
detection, whatever the step (15 s to 5 min), phase, jitter, duplicates, order or NaN."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rca_kit import stats
from rca_kit.evidence.series import clean
from rca_kit.exceptions import InputError

START = pd.Timestamp(datetime(2026, 11, 20, 0, 0, tzinfo=UTC))
STEPS = [pd.Timedelta(seconds=15), pd.Timedelta(minutes=1), pd.Timedelta(minutes=5)]
PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def exporter(draw: st.DrawFn, hours: int = 3) -> pd.Series:
    """One exporter's series as a snapshot may hold it: its own step and phase, a jitter of up
    to a tenth of the step, some duplicate rows, rows with NaN beside real ones, shuffled."""
    step = draw(st.sampled_from(STEPS))
    phase = pd.Timedelta(seconds=draw(st.integers(0, int(step.total_seconds()) - 1)))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    base = pd.date_range(START + phase, START + pd.Timedelta(hours=hours), freq=step)
    jitter = rng.uniform(-0.1, 0.1, len(base)) * step.total_seconds()
    stamps = base + pd.to_timedelta(np.round(jitter, 3), unit="s")
    values = rng.normal(100.0, 5.0, len(stamps))
    extra = rng.choice(len(stamps), size=len(stamps) // 10, replace=False)
    rows = pd.DataFrame(
        {
            "timestamp": [*stamps, *stamps[extra], *stamps[extra]],
            "value": [*values, *values[extra], *([np.nan] * len(extra))],
        }
    ).sample(frac=1.0, random_state=seed % 1000)
    return clean(rows, f"m{seed}")


@PROPERTY
@given(exporter(), exporter())
def test_two_exporters_always_align_when_they_overlap(a: pd.Series, b: pd.Series) -> None:
    """Whatever their steps and phases, two overlapping exporters meet on the coarser one's
    grid: never an empty join, and every value comes from a sample within the tolerance."""
    frame = stats.align(a, b, names=["a", "b"])
    coarse = max(stats.step(a), stats.step(b))  # type: ignore[type-var]
    assert len(frame) >= (pd.Timedelta(hours=3) / coarse) / 2
    for when, row in frame.sample(min(len(frame), 20), random_state=1).iterrows():
        for name, source in (("a", a), ("b", b)):
            close = source.loc[when - coarse : when + coarse]
            assert row[name] in set(close.to_numpy())


def test_align_names_and_mean() -> None:
    """Two series of one name need names; how='mean' averages the finer samples of each
    coarse interval."""
    fine = pd.Series(
        np.arange(10.0), index=pd.date_range(START, periods=10, freq="1min"), name="rate"
    )
    coarse = pd.Series(
        [1.0, 2.0],
        index=[START + pd.Timedelta(minutes=2), START + pd.Timedelta(minutes=7)],
        name="rate",
    )
    with pytest.raises(InputError, match="distinct name"):
        stats.align(fine, coarse)
    frame = stats.align(fine, coarse, names=["fine", "coarse"], how="mean")
    assert frame["fine"].tolist() == [np.mean([0, 1, 2, 3, 4]), np.mean([5, 6, 7, 8, 9])]


@PROPERTY
@given(exporter(hours=48), st.integers(0, 2 * 86400), st.integers(1, 900))
def test_same_time_never_matches_outside_the_tolerance(
    series: pd.Series, offset: int, tolerance: int
) -> None:
    """The same time yesterday is the nearest sample within the tolerance, or None: never a
    sample further away, and never None when one is that close."""
    when = START + pd.Timedelta(seconds=offset)
    window = pd.Timedelta(seconds=tolerance)
    found = stats.same_time(series, when, days=1, tolerance=window)
    target = when - pd.Timedelta(days=1)
    distance = np.abs((series.index - target).total_seconds())
    within = series[distance <= window.total_seconds()]
    if within.empty:
        assert found is None
    else:
        assert found == series.iloc[int(np.argmin(distance))]


def test_at_defaults_to_the_native_step() -> None:
    """With no tolerance, a lookup reaches one native step and no further."""
    series = pd.Series([1.0, 2.0], index=[START, START + pd.Timedelta(minutes=5)])
    assert stats.at(series, START + pd.Timedelta(minutes=9)) == 2.0
    assert stats.at(series, START + pd.Timedelta(minutes=10, seconds=1)) is None
    assert stats.at(series.iloc[:0], START) is None


@PROPERTY
@given(
    st.sampled_from(STEPS),
    st.sampled_from(["5min", "10min", "15min"]),
    st.integers(0, 299),
    st.booleans(),
)
def test_a_rolling_median_in_time_switches_at_the_same_moment_at_every_step(
    step: pd.Timedelta, window: str, phase: int, up: bool
) -> None:
    """For a step-function signal, the rolling median over a window of wall time switches
    to the new level half a window after the change, within one step, whatever the step."""
    span = stats.duration(window)
    stamps = pd.date_range(
        START + pd.Timedelta(seconds=phase), START + pd.Timedelta(hours=2), freq=step
    )
    change = START + pd.Timedelta(hours=1)
    before, after = (10.0, 50.0) if up else (50.0, 10.0)
    series = pd.Series(np.where(stamps >= change, after, before), index=stamps)
    median = stats.rolling_median(series, window)
    assert (median[median.index < change] == before).all()
    switched = median[(median.index >= change) & (median == after)].index.min()
    assert change + span / 2 - step <= switched <= change + span / 2 + step
    assert (median[median.index >= switched] == after).all()


def test_points_counts_samples_in_wall_time() -> None:
    """15 minutes is 60 samples at 15 s, 3 at 5 min; a bare number is refused."""
    fine = pd.Series(1.0, index=pd.date_range(START, periods=10, freq="15s"))
    coarse = pd.Series(1.0, index=pd.date_range(START, periods=10, freq="5min"))
    assert (stats.points(fine, "15min"), stats.points(coarse, "15min")) == (60, 3)
    with pytest.raises(InputError, match="wall time"):
        stats.points(fine, 15)


def test_coverage_excludes_gaps_longer_than_two_and_a_half_steps() -> None:
    """A missed scrape still covers; a half-hour hole does not."""
    stamps = pd.date_range(START, START + pd.Timedelta(hours=1), freq="1min")
    holes = stamps[
        (stamps < START + pd.Timedelta(minutes=20)) | (stamps > START + pd.Timedelta(minutes=50))
    ]
    one_missed = stamps.delete(30)
    end = START + pd.Timedelta(hours=1)
    assert stats.coverage(pd.Series(1.0, index=one_missed), START, end) == pytest.approx(
        1.0, abs=0.01
    )
    assert stats.coverage(pd.Series(1.0, index=holes), START, end) == pytest.approx(
        29 / 60, abs=0.01
    )
    assert stats.coverage(pd.Series(dtype=float), START, end) == 0.0


@PROPERTY
@given(
    st.sampled_from(STEPS),
    st.integers(0, 299),
    st.floats(10.0, 1000.0),
    st.sampled_from([0.3, 0.5, 1.6, 2.5]),
    st.integers(90, 240),
    st.integers(0, 240),  # alerts usually fire minutes after the step: within `sustain` of it
    st.integers(0, 2**31),
)
def test_onset_finds_a_step_change_within_one_step_for_late_alerts(
    step: pd.Timedelta,
    phase: int,
    level: float,
    factor: float,
    fault_minutes: int,
    late_minutes: int,
    seed: int,
) -> None:
    """A level that stepped up or down minutes to hours before the alert: the onset is the step,
    within one native step, measured against the level before it."""
    rng = np.random.default_rng(seed)
    fault = START + pd.Timedelta(minutes=fault_minutes, seconds=phase % 60)
    alert = fault + pd.Timedelta(minutes=late_minutes)
    stamps = pd.date_range(
        START + pd.Timedelta(seconds=phase), alert + pd.Timedelta(minutes=30), freq=step
    )
    jitter = pd.to_timedelta(rng.uniform(-0.05, 0.05, len(stamps)) * step.total_seconds(), unit="s")
    stamps = stamps + jitter
    values = np.where(stamps >= fault, level * factor, level) * rng.normal(1.0, 0.01, len(stamps))
    series = pd.Series(values, index=stamps)
    direction = "up" if factor > 1 else "down"
    found = stats.onset(series, baseline_end=alert, direction=direction, lookback="6h")
    assert found is not None
    assert abs(found["at"] - fault) <= step * 1.05  # the first sample after it, jittered
    assert found["reference"] == pytest.approx(level, rel=0.05)
    other = stats.onset(series, baseline_end=alert, direction="down" if factor > 1 else "up")
    assert other is None


def test_an_old_excursion_that_recovered_is_not_the_onset() -> None:
    """A 20-minute blip hours before the alert, back to normal since, is not the symptom; the
    step just after the alert is."""
    stamps = pd.date_range(START, START + pd.Timedelta(hours=6), freq="1min")
    alert = START + pd.Timedelta(hours=5)
    blip = (stamps >= START + pd.Timedelta(hours=2)) & (
        stamps < START + pd.Timedelta(hours=2, minutes=20)
    )
    values = np.where(blip | (stamps >= alert + pd.Timedelta(minutes=3)), 300.0, 100.0)
    found = stats.onset(pd.Series(values, index=stamps), baseline_end=alert, lookback="5h")
    assert found is not None
    assert found["at"] == alert + pd.Timedelta(minutes=3)
    assert found["lead_minutes"] == -3.0


def test_the_positional_form_keeps_its_fixed_reference_hour() -> None:
    """onset(series, start, end) is the test templates used first: the hour before start is the
    reference and only [start, end] is searched, so a fault before start is not found."""
    stamps = pd.date_range(START, START + pd.Timedelta(hours=6), freq="1min")
    values = np.where(stamps >= START + pd.Timedelta(hours=2), 300.0, 100.0)
    series = pd.Series(values, index=stamps)
    late = START + pd.Timedelta(hours=4)
    assert stats.onset(series, late, stamps[-1]) is None
    found = stats.onset(series, START + pd.Timedelta(hours=1, minutes=30), stamps[-1], sustain=10)
    assert found is not None
    assert found["at"] == START + pd.Timedelta(hours=2, minutes=1)  # its 3-sample median lags
    with pytest.raises(InputError, match="baseline_end"):
        stats.onset(series)


def test_seasonal_baseline_takes_yesterday_and_last_week_when_the_lookback_has_them() -> None:
    """Each moment gets the value one day and one week earlier (nearest within the step), their
    median as `baseline`, and NaN where the lookback does not reach."""
    stamps = pd.date_range(START - pd.Timedelta(days=2), START + pd.Timedelta(hours=1), freq="5min")
    daily = 100 + 50 * np.sin(2 * np.pi * (stamps.hour * 60 + stamps.minute) / 1440)
    series = pd.Series(daily, index=stamps + pd.Timedelta(seconds=37))
    moments = [START + pd.Timedelta(minutes=10), START + pd.Timedelta(minutes=40)]
    frame = stats.seasonal_baseline(series, moments)
    assert list(frame.columns) == ["1D", "7D", "baseline"]
    assert frame["7D"].isna().all()
    expected = [
        series.iloc[np.argmin(np.abs(series.index - (m - pd.Timedelta(days=1))))] for m in moments
    ]
    assert frame["baseline"].tolist() == expected


def test_finite_turns_no_number_into_none() -> None:
    """stats.finite is how a template records 'no value' instead of NaN."""
    assert [stats.finite(v) for v in (1, np.float64(2.5), np.nan, np.inf, None, "x")] == [
        1.0,
        2.5,
        None,
        None,
        None,
        None,
    ]
