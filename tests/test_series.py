"""Evidence.series and friends: messy rows become one clean series, counters become what they
counted per interval, and a series says how well it covers a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rca_kit import load_evidence
from rca_kit.evidence import series
from rca_kit.evidence.load import Evidence
from rca_kit.testing import make_snapshot

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
STEPS = [pd.Timedelta(seconds=15), pd.Timedelta(minutes=1), pd.Timedelta(minutes=5)]
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def rows(stamps: list[pd.Timestamp], values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": stamps, "value": values})


def frame(service: str, metric: str, stamps: pd.DatetimeIndex, values: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"timestamp": stamps, "service": service, "metric": metric, "value": values}
    )


def test_messy_rows_become_one_finite_value_per_utc_timestamp() -> None:
    """Offsets become UTC, rows are sorted, duplicates averaged over their finite values, and NaN,
    infinity and timestamps with only NaN are left out."""
    paris = pd.Timestamp("2026-11-20T11:01:00+02:00")
    messy = pd.DataFrame(
        {
            "timestamp": [
                "2026-11-20T09:02:00Z",
                paris,
                "2026-11-20T09:00:00Z",
                "2026-11-20T09:00:00Z",
                "2026-11-20T09:00:00Z",
                "2026-11-20T09:03:00Z",
                "2026-11-20T09:04:00Z",
            ],
            "value": [3.0, 2.0, 1.0, 3.0, np.nan, np.nan, np.inf],
        }
    )
    clean = series.clean(messy, "m")
    assert str(clean.index.tz) == "UTC"
    assert clean.index.is_monotonic_increasing
    assert clean.index.is_unique
    assert clean.to_dict() == {
        pd.Timestamp("2026-11-20T09:00:00Z"): 2.0,
        pd.Timestamp("2026-11-20T09:01:00Z"): 2.0,
        pd.Timestamp("2026-11-20T09:02:00Z"): 3.0,
    }
    assert (clean.name, clean.index.name) == ("m", "timestamp")


@pytest.mark.parametrize(
    ("values", "cumulative"),
    [
        ([0, 0, 1, 0, 2, 0], False),  # a count per interval returns to zero after each event
        ([0, 1, 2, 0], False),
        ([0, 0, 0, 1], False),
        ([0, 0, 0, 0], False),
        ([3, 5, 2, 7, 4], False),
        ([3, 3, 3], True),  # a running total that did not move
        ([0, 1, 1, 1, 0, 0, 1, 1], True),  # a total with a reset
        ([0, 1, 2, 3, 4, 5], True),  # a total climbing at every scrape
        ([5, 5, 5, 0, 0], True),
        ([-1, 0, 0, 0], False),
    ],
)
def test_the_running_total_rule(values: list[float], cumulative: bool) -> None:
    """looks_cumulative follows its documented rule on the examples it names."""
    assert series.looks_cumulative(values) is cumulative


@st.composite
def sparse_counter(draw: st.DrawFn) -> tuple[list[float], int]:
    """A running total as Prometheus exports restarts: events minutes apart (each followed by
    at least two quiet scrapes), a few resets to zero (when the counter is above zero)."""
    n = draw(st.integers(12, 200))
    total = draw(st.integers(0, 50))
    values, events, quiet = [float(total)], 0, 2
    for i in range(1, n):
        counted = 0
        if quiet >= 2 and i < n - 2 and draw(st.booleans()) and draw(st.booleans()):
            counted = draw(st.integers(1, 3))
        reset = i > 3 and total > counted and draw(st.integers(0, 30)) == 0
        total = (counted if reset else total + counted) if counted or reset else total
        quiet = 0 if counted else quiet + 1
        values.append(float(total))
        events += counted
    return values, events


@st.composite
def dense_counter(draw: st.DrawFn) -> tuple[list[float], int]:
    """A running total that climbs at most scrapes (a crash loop scraped every 5 minutes)."""
    rises = draw(st.lists(st.integers(1, 4), min_size=4, max_size=100))
    start = draw(st.integers(0, 20))
    values = [float(start + sum(rises[:i])) for i in range(len(rises) + 1)]
    return values, sum(rises)


@st.composite
def per_interval(draw: st.DrawFn) -> list[float]:
    """Counts per interval: mostly zero, each event followed by a zero."""
    n = draw(st.integers(3, 200))
    values: list[float] = []
    while len(values) < n:
        if values and values[-1] == 0 and draw(st.integers(0, 4)) == 0:
            values.append(float(draw(st.integers(1, 5))))
        else:
            values.append(0.0)
    return values


def stamped(values: list[float], step: pd.Timedelta, phase: int) -> pd.DataFrame:
    stamps = [
        pd.Timestamp(START) + pd.Timedelta(seconds=phase) + i * step for i in range(len(values))
    ]
    return rows(stamps, values)


@PROPERTY
@given(st.one_of(sparse_counter(), dense_counter()), st.sampled_from(STEPS), st.integers(0, 59))
def test_a_running_total_counts_every_event_once(
    counter: tuple[list[float], int], step: pd.Timedelta, phase: int
) -> None:
    """A restarts counter with resets is detected (one that stayed at zero reads the same either
    way), and its increments sum to the true number of events after the first sample (a reset
    contributes the value after it)."""
    values, events = counter
    clean = series.clean(stamped(values, step, phase), "restarts")
    kind = series.kind("restarts", clean.to_numpy())
    assert kind == ("counter" if max(values) > 0 else "gauge"), values
    read = series.increments(clean) if kind == "counter" else clean
    assert read.sum() == events


@PROPERTY
@given(st.lists(st.integers(0, 5), min_size=2, max_size=100), st.sampled_from(STEPS))
def test_a_declared_counter_counts_whatever_its_values(
    events: list[int], step: pd.Timedelta
) -> None:
    """A `_total` metric is a counter whatever its values; a reset to zero loses nothing."""
    totals = np.cumsum(events).astype(float)
    values = [*totals, 0.0, *np.cumsum(events)]  # the process restarted: from zero
    clean = series.clean(stamped(values, step, 7), "requests_total")
    assert series.kind("requests_total", clean.to_numpy()) == "counter"
    expected = sum(events[1:]) + sum(events)  # the first sample is the starting total
    assert series.increments(clean).sum() == expected


@PROPERTY
@given(per_interval(), st.sampled_from(STEPS))
def test_a_count_per_interval_is_not_mistaken_for_a_counter(
    values: list[float], step: pd.Timedelta
) -> None:
    """0,0,1,0,2,0 drops after every event but is a count per interval: read as it is."""
    clean = series.clean(stamped(values, step, 3), "restarts")
    assert series.kind("restarts", clean.to_numpy()) == "gauge"
    assert clean.sum() == sum(values)


def test_rate_of_a_counter_is_per_second() -> None:
    """A total rising 60 a minute is a rate of 1/s, across a reset too."""
    clean = series.clean(stamped([0, 60, 120, 30, 90], pd.Timedelta(minutes=1), 0), "x_total")
    assert series.rate(clean).tolist() == [1.0, 1.0, 0.5, 1.0]


def snapshot(tmp_path: Path, metrics: pd.DataFrame, onset: datetime | None = None) -> Evidence:
    path = make_snapshot(
        tmp_path / "snap",
        window=(START, START + timedelta(hours=1)),
        service="svc",
        metrics=metrics,
        onset=onset,
    )
    return load_evidence(path)


def test_evidence_reads_restarts_either_way_as_restarts_per_interval(tmp_path: Path) -> None:
    """The same two restarts exported as a running total and as counts per interval give the
    same `series`: restarts > 0 in the two intervals that had one."""
    stamps = pd.date_range(START - timedelta(hours=1), START + timedelta(hours=1), freq="1min")
    total = np.where(stamps >= START, 1.0, 0.0) + np.where(
        stamps >= START + timedelta(minutes=30), 1, 0
    )
    total = total + 4  # the pod had restarted four times before
    counts = np.diff(total, prepend=total[0])
    metrics = pd.concat(
        [frame("a", "restarts", stamps, list(total)), frame("b", "restarts", stamps, list(counts))],
        ignore_index=True,
    )
    ev = snapshot(tmp_path, metrics)
    assert (ev.kind("a", "restarts"), ev.kind("b", "restarts")) == ("counter", "gauge")
    restarted = [ev.series(s, "restarts").pipe(lambda r: list(r[r > 0].index)) for s in "ab"]
    assert (
        restarted[0]
        == restarted[1]
        == [pd.Timestamp(START), pd.Timestamp(START) + timedelta(minutes=30)]
    )
    assert ev.series("a", "restarts", as_exported=True).iloc[0] == 4.0
    assert ev.rate("a", "restarts").max() == pytest.approx(1 / 60)
    assert ev.step("a", "restarts") == pd.Timedelta(minutes=1)


def test_sufficient_names_the_series_and_its_coverage(tmp_path: Path) -> None:
    """A series with data over 40% of the window is not sufficient at 60%: the message says so;
    at 30% it is (None); an absent series is named as absent."""
    stamps = pd.date_range(START - timedelta(hours=1), START + timedelta(minutes=24), freq="1min")
    whole = pd.date_range(START - timedelta(hours=1), START + timedelta(hours=1), freq="1min")
    metrics = pd.concat(
        [
            frame("svc", "processing_rate", stamps, [1.0] * len(stamps)),
            frame("svc", "ingest_rate", whole, [1.0] * len(whole)),
        ],
        ignore_index=True,
    )
    ev = snapshot(tmp_path, metrics)
    short = ev.sufficient("svc", "processing_rate", min_coverage=0.6)
    assert short == "metric processing_rate of svc covers 41% of the window (needs 60%)"
    assert ev.sufficient("svc", "processing_rate", min_coverage=0.3) is None
    assert ev.sufficient("svc", "error_rate") == "metric error_rate of svc"
    later = ev.sufficient("svc", "processing_rate", START, START + timedelta(minutes=20))
    assert later is None


def test_quality_reads_the_manifest_or_computes_the_same_keys(tmp_path: Path) -> None:
    """`quality` returns the manifest's entry when the snapshot has one, else one computed from
    the rows: rows, missing values, duplicates, step, gaps, span and coverage."""
    stamps = pd.date_range(START - timedelta(hours=1), START + timedelta(hours=1), freq="30s")
    values = [np.nan if i % 10 == 0 else 1.0 for i in range(len(stamps))]
    metrics = frame("svc", "cpu_utilization", stamps.append(stamps[:3]), [*values, 2.0, 2.0, 2.0])
    ev = snapshot(tmp_path, metrics)
    ev.manifest = {k: v for k, v in ev.manifest.items() if k != "series"}
    found = ev.quality("svc", "cpu_utilization")
    assert found["rows"] == len(stamps) + 3
    assert found["missing"] == sum(np.isnan(values))
    assert found["duplicates"] == 3
    assert found["step_seconds"] == 30.0
    assert found["coverage"] > 0.99  # the NaN at the window's start leaves its first 15 s
    ev.manifest["series"] = [{"service": "svc", "metric": "cpu_utilization", "rows": 7}]
    assert ev.quality("svc", "cpu_utilization") == {
        "service": "svc",
        "metric": "cpu_utilization",
        "rows": 7,
    }


def test_detect_onset_finds_a_fault_that_began_long_before_the_alert(tmp_path: Path) -> None:
    """The alert fired three hours after latency stepped up: the onset is the step, measured
    against the level before it, not the hour before the alert (already faulty)."""
    stamps = pd.date_range(START - timedelta(hours=6), START + timedelta(hours=1), freq="1min")
    fault = START - timedelta(hours=3)
    values = [0.2 if t < fault else 0.9 for t in stamps]
    ev = snapshot(tmp_path, frame("svc", "latency_p99_seconds", stamps, values), onset=START)
    found = ev.detect_onset("svc", "latency_p99_seconds", "up")
    assert found is not None
    assert found["at"] == pd.Timestamp(fault)
    assert found["reference"] == pytest.approx(0.2)
    assert found["lead_minutes"] == 180.0
