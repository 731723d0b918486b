"""The flow templates (backpressure, upstream-degradation, recent-change, volume-anomaly) apply
their spec's threshold as worded whatever the scrape: just beyond it is supported, just short of
it refuted, at 15 s, 1 min and 5 min steps, with per-exporter phases and jitter; messy exports
never error; too little data is inconclusive, naming the series and its coverage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rca_kit import stats
from rca_kit.testing import make_snapshot, run_inline

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "notebooks" / "templates"
ALERT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
WINDOW = (ALERT - timedelta(minutes=30), ALERT + timedelta(minutes=60))
FAULT = ALERT - timedelta(minutes=20)  # the fault begins before the alert fires
STEPS = [15, 60, 300]
# (phase of the second exporter in seconds, jitter of every sample in seconds)
CLOCKS = {"aligned": (0, 0.0), "phased": (37, 4.0)}


class Series:
    """Builds the long metrics frame of a scenario: each series at its own phase and jitter."""

    def __init__(self, step_s: int, clock: str, lookback: timedelta, seed: int = 7) -> None:
        self.step = pd.Timedelta(seconds=step_s)
        self.phase, self.jitter = CLOCKS[clock]
        self.lookback = lookback
        self.rng = np.random.default_rng(seed)
        self.rows: list[pd.DataFrame] = []

    def add(self, service: str, metric: str, value: Callable[[pd.DatetimeIndex], Any]) -> None:
        """One series; exporters after the first are offset by the phase (modulo the step)."""
        offset = pd.Timedelta(seconds=(self.phase * len(self.rows)) % self.step.total_seconds())
        stamps = pd.date_range(WINDOW[0] - self.lookback + offset, WINDOW[1], freq=self.step)
        if self.jitter:
            shift = self.rng.uniform(-self.jitter, self.jitter, len(stamps))
            stamps = stamps + pd.to_timedelta(shift, unit="s")
        values = np.asarray(value(stamps), dtype=float)
        self.rows.append(
            pd.DataFrame(
                {"timestamp": stamps, "service": service, "metric": metric, "value": values}
            )
        )

    def frame(self) -> pd.DataFrame:
        return pd.concat(self.rows, ignore_index=True)


def after(stamps: pd.DatetimeIndex, when: datetime, before: float, then: float) -> np.ndarray:
    """A step from `before` to `then` at `when`."""
    return np.where(stamps >= pd.Timestamp(when), then, before)


def minutes_since(stamps: pd.DatetimeIndex, when: datetime) -> np.ndarray:
    return np.clip((stamps - pd.Timestamp(when)) / pd.Timedelta(minutes=1), 0, None)


def backpressure(level: float, step_s: int, clock: str, fault: datetime = FAULT) -> dict[str, Any]:
    """Ingest settles `level` above processing from FAULT; lag grows from then on."""
    s = Series(step_s, clock, timedelta(hours=6))
    s.add("consumer", "ingest_rate", lambda t: after(t, fault, 1000.0, 1000.0 * (1 + level)))
    s.add("consumer", "processing_rate", lambda t: np.full(len(t), 1000.0))
    s.add("consumer", "consumer_lag_seconds", lambda t: 10.0 + 5.0 * minutes_since(t, fault))
    return {"service": "consumer", "metrics": s.frame(), "lookback": timedelta(hours=6)}


def upstream(level: float, step_s: int, clock: str, fault: datetime = FAULT) -> dict[str, Any]:
    """The upstream's p99 latency rises by `level` at FAULT; the service then gets and
    processes 40% less."""
    s = Series(step_s, clock, timedelta(hours=6))
    s.add("source", "latency_p99_seconds", lambda t: after(t, fault, 0.2, 0.2 * (1 + level)))
    s.add("source", "error_rate", lambda t: np.full(len(t), 1.0))
    s.add("consumer", "processing_rate", lambda t: after(t, fault, 1000.0, 600.0))
    s.add("consumer", "ingest_rate", lambda t: after(t, fault, 1000.0, 600.0))
    return {
        "service": "consumer",
        "metrics": s.frame(),
        "topology": {"consumer": ["source"], "source": []},
        "lookback": timedelta(hours=6),
    }


CHANGE = ALERT - timedelta(minutes=40)


def recent_change(
    level: float, step_s: int, clock: str, fault: datetime = CHANGE
) -> dict[str, Any]:
    """A deploy at CHANGE; a minute later p99 latency moves `level` noise units (5% of it)."""
    s = Series(step_s, clock, timedelta(hours=6))
    effect = fault + timedelta(minutes=1)
    s.add("consumer", "latency_p99_seconds", lambda t: after(t, effect, 1.0, 1.0 + 0.05 * level))
    s.add("consumer", "error_rate", lambda t: np.full(len(t), 2.0))
    changes = pd.DataFrame(
        [
            {
                "timestamp": pd.Timestamp(fault),
                "service": "consumer",
                "kind": "deploy",
                "summary": "v2: batch writer rewritten",
                "author": "ci",
                "ref": "abc123",
            }
        ]
    )
    return {
        "service": "consumer",
        "metrics": s.frame(),
        "changes": changes,
        "lookback": timedelta(hours=6),
    }


def volume(level: float, step_s: int, clock: str, fault: datetime = FAULT) -> dict[str, Any]:
    """A daily cycle of rows; from FAULT the count is `level` times the same time yesterday."""
    s = Series(step_s, clock, timedelta(hours=26))
    day = pd.Timedelta(days=1)

    def rows(t: pd.DatetimeIndex) -> np.ndarray:
        cycle = 1000.0 * (1 + 0.2 * np.sin(2 * np.pi * ((t - pd.Timestamp(ALERT)) / day)))
        return cycle * after(t, fault, 1.0, level)

    s.add("warehouse", "row_count", rows)
    s.add("loader", "processing_rate", lambda t: np.full(len(t), 500.0))  # the rest of the data
    return {"service": "warehouse", "metrics": s.frame(), "lookback": timedelta(hours=26)}


# template: (scenario, just beyond the threshold, just short of it, the decisive series)
CASES: dict[str, tuple[Callable[..., dict[str, Any]], float, float, tuple[str, str]]] = {
    "backpressure": (backpressure, 0.06, 0.04, ("consumer", "processing_rate")),
    "upstream-degradation": (upstream, 0.33, 0.27, ("source", "latency_p99_seconds")),
    "recent-change": (recent_change, 4.3, 3.7, ("consumer", "latency_p99_seconds")),
    "volume-anomaly": (volume, 0.58, 0.62, ("warehouse", "row_count")),
}


def run(tmp_path: Path, template: str, scenario: dict[str, Any]) -> Any:
    snapshot = make_snapshot(
        tmp_path / "snapshot",
        window=WINDOW,
        onset=ALERT,
        service=scenario["service"],
        metrics=scenario["metrics"],
        changes=scenario.get("changes"),
        topology=scenario.get("topology"),
        lookback=scenario["lookback"],
    )
    return run_inline(TEMPLATES / f"{template}.ipynb", snapshot)


@pytest.mark.parametrize("clock", sorted(CLOCKS))
@pytest.mark.parametrize("step_s", STEPS)
@pytest.mark.parametrize("template", sorted(CASES))
def test_the_threshold_decides_at_any_step(
    tmp_path: Path, template: str, step_s: int, clock: str
) -> None:
    """Just beyond the spec's threshold is supported and just short of it refuted, at 15 s,
    1 min and 5 min scrapes, aligned or on other phases with jitter."""
    build, beyond, short, _ = CASES[template]
    above = run(tmp_path / "above", template, build(beyond, step_s, clock))
    assert above.verdict == "supported", (above.summary, above.observed, above.error)
    below = run(tmp_path / "below", template, build(short, step_s, clock))
    assert below.verdict == "refuted", (below.summary, below.observed, below.error)


@pytest.mark.parametrize("template", sorted(CASES))
def test_a_late_alert_still_finds_its_cause(tmp_path: Path, template: str) -> None:
    """The fault began three and a half hours before the alert: the baseline before the
    symptom's onset, not the faulty hour before the alert, decides."""
    build, beyond, _, _ = CASES[template]
    scenario = build(beyond, 60, "phased", fault=ALERT - timedelta(hours=3, minutes=30))
    outcome = run(tmp_path, template, scenario)
    assert outcome.verdict == "supported", (outcome.summary, outcome.observed)


def messy(frame: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    """The same samples as a careless export: mixed UTC offsets as text, NaN, values that are
    not numbers, duplicate rows, a gap in the baseline, rows out of order."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    stamps = pd.to_datetime(out["timestamp"], utc=True)
    gap = (stamps > pd.Timestamp(WINDOW[0]) - pd.Timedelta(hours=3)) & (
        stamps < pd.Timestamp(WINDOW[0]) - pd.Timedelta(hours=2, minutes=40)
    )
    out, stamps = out.loc[~gap], stamps.loc[~gap]
    offsets = rng.choice(["+00:00", "+02:00", "-05:00", "+05:30"], len(out))
    out["timestamp"] = [
        (t + pd.Timedelta(offset.replace(":", "h") + "min")).strftime("%Y-%m-%dT%H:%M:%S.%f")
        + offset
        for t, offset in zip(stamps.dt.tz_localize(None), offsets, strict=True)
    ]
    values = out["value"].astype(object)
    values[rng.random(len(out)) < 0.03] = float("nan")
    values[rng.random(len(out)) < 0.01] = "n/a"
    out["value"] = values
    dupes = out.sample(frac=0.03, random_state=seed)
    return pd.concat([out, dupes]).sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.mark.parametrize("step_s", [15, 300])
@pytest.mark.parametrize("template", sorted(CASES))
def test_a_messy_export_never_errors(tmp_path: Path, template: str, step_s: int) -> None:
    """NaN, non-numbers, duplicates, mixed offsets and gaps: the cause is still found."""
    build, beyond, _, _ = CASES[template]
    scenario = build(beyond, step_s, "phased")
    scenario["metrics"] = messy(scenario["metrics"])
    outcome = run(tmp_path, template, scenario)
    assert outcome.error is None, outcome.error
    assert outcome.verdict == "supported", (outcome.summary, outcome.observed)


@pytest.mark.parametrize("template", sorted(CASES))
def test_too_little_data_is_inconclusive_naming_the_series(tmp_path: Path, template: str) -> None:
    """The deciding series stops before the fault, under min_coverage of the window:
    inconclusive, naming it and its coverage, never refuted."""
    build, beyond, _, (service, metric) = CASES[template]
    scenario = build(beyond, 60, "phased")
    frame = scenario["metrics"]
    stamps = pd.to_datetime(frame["timestamp"], utc=True)
    hole = (
        (frame["service"] == service)
        & (frame["metric"] == metric)
        & (stamps > pd.Timestamp(FAULT) - pd.Timedelta(minutes=5))
    )
    scenario["metrics"] = frame.loc[~hole]
    outcome = run(tmp_path, template, scenario)
    assert outcome.verdict == "inconclusive", (outcome.summary, outcome.observed)
    assert any(metric in m and "covers" in m for m in outcome.missing_data), outcome.missing_data


def upstream_irrelevant(kind: str) -> dict[str, Any]:
    """An upstream move that cannot be the cause: the service's ingest rose (more arrivals),
    the upstream only carries less traffic (demand), or its latency rise is its daily peak."""
    lookback = timedelta(hours=26) if kind == "daily peak" else timedelta(hours=6)
    s = Series(60, "phased", lookback)
    day = pd.Timedelta(days=1)
    if kind == "daily peak":  # the same rise at this time yesterday

        def latency(t: pd.DatetimeIndex) -> np.ndarray:
            return np.where(((t - pd.Timestamp(FAULT)) % day) < pd.Timedelta(hours=3), 0.27, 0.2)

        s.add("source", "latency_p99_seconds", latency)
    else:
        rise = 0.4 if kind in ("more ingest", "nothing reaches") else 0.0
        s.add("source", "latency_p99_seconds", lambda t: after(t, FAULT, 0.2, 0.2 * (1 + rise)))
    s.add("source", "error_rate", lambda t: np.full(len(t), 1.0))
    cache = 0.55 if kind == "less traffic" else 1.0
    s.add("source", "processing_rate", lambda t: after(t, FAULT, 1000.0, 1000.0 * cache))
    if kind == "more ingest":
        s.add("consumer", "ingest_rate", lambda t: after(t, FAULT, 1000.0, 1400.0))
        s.add("consumer", "consumer_lag_seconds", lambda t: 10.0 + 5.0 * minutes_since(t, FAULT))
    else:
        s.add("consumer", "processing_rate", lambda t: after(t, FAULT, 1000.0, 600.0))
    if kind == "nothing reaches":  # the consumer gets as much as before: its own trouble
        s.add("consumer", "ingest_rate", lambda t: np.full(len(t), 1000.0))
    return {
        "service": "consumer",
        "metrics": s.frame(),
        "topology": {"consumer": ["source"], "source": []},
        "lookback": lookback,
    }


def upstream_two_hops(reaches: bool) -> dict[str, Any]:
    """source → relay → consumer: the source's latency rises 40% at FAULT and the consumer then
    gets 40% less; the relay in between gets 40% less too (`reaches`) or just as much (the
    consumer's fall is its own: an unrelated latency bump two hops up cannot explain it)."""
    s = Series(60, "phased", timedelta(hours=6))
    s.add("source", "latency_p99_seconds", lambda t: after(t, FAULT, 0.2, 0.28))
    s.add("source", "error_rate", lambda t: np.full(len(t), 1.0))
    relay = 600.0 if reaches else 1000.0
    s.add("relay", "ingest_rate", lambda t: after(t, FAULT + timedelta(minutes=1), 1000.0, relay))
    s.add(
        "consumer", "ingest_rate", lambda t: after(t, FAULT + timedelta(minutes=2), 1000.0, 600.0)
    )
    return {
        "service": "consumer",
        "metrics": s.frame(),
        "topology": {"consumer": ["relay"], "relay": ["source"], "source": []},
        "lookback": timedelta(hours=6),
    }


@pytest.mark.parametrize(("reaches", "verdict"), [(True, "supported"), (False, "refuted")])
def test_a_degradation_reaches_the_service_through_the_next_hop(
    tmp_path: Path, reaches: bool, verdict: str
) -> None:
    """What the upstream sends must fall where it arrives first: a fall at the service that the
    service in between did not see came from elsewhere."""
    outcome = run(tmp_path, "upstream-degradation", upstream_two_hops(reaches))
    assert outcome.error is None, outcome.error
    assert outcome.verdict == verdict, (outcome.summary, outcome.observed)


@pytest.mark.parametrize("kind", ["more ingest", "less traffic", "daily peak", "nothing reaches"])
def test_an_upstream_move_that_cannot_explain_the_symptom_is_refuted(
    tmp_path: Path, kind: str
) -> None:
    """Relevance: a latency bump does not explain more ingest, less traffic without errors or
    latency is demand, a rise the upstream shows at this time every day is not a fault, and a
    degradation that does not lower what reaches the service does not explain its symptom."""
    outcome = run(tmp_path, "upstream-degradation", upstream_irrelevant(kind))
    assert outcome.verdict == "refuted", (outcome.summary, outcome.observed)


@pytest.mark.parametrize("step_s", [60, 300])
def test_a_ramp_into_backpressure_is_measured_from_where_the_backlog_began(
    tmp_path: Path, step_s: int
) -> None:
    """Ingest ramps from processing's level to 10% above it over 70 minutes and dips to just
    under the 5% excess for a while: the backlog began where ingest first went above
    processing, so ingest rose against the 30 minutes before that (not before the >5% run,
    when it was already high) and lag grew from there."""
    begin = FAULT - timedelta(minutes=30)
    s = Series(step_s, "phased", timedelta(hours=6))

    def ingest(t: pd.DatetimeIndex) -> np.ndarray:
        ramp = 1000.0 + 100.0 * np.clip(minutes_since(t, begin) / 70.0, 0, 1)
        dip = (t >= pd.Timestamp(FAULT + timedelta(minutes=25))) & (
            t < pd.Timestamp(FAULT + timedelta(minutes=32))
        )
        return np.where(dip, 1049.0, ramp)

    s.add("consumer", "ingest_rate", ingest)
    s.add("consumer", "processing_rate", lambda t: np.full(len(t), 1000.0))
    s.add("consumer", "consumer_lag_seconds", lambda t: 5.0 + 3.0 * minutes_since(t, begin))
    scenario = {"service": "consumer", "metrics": s.frame(), "lookback": timedelta(hours=6)}
    outcome = run(tmp_path, "backpressure", scenario)
    assert outcome.error is None, outcome.error
    assert outcome.verdict == "supported", (outcome.summary, outcome.observed)
    began = pd.Timestamp(outcome.observed["excess_began"])
    assert abs(began - pd.Timestamp(begin)) <= pd.Timedelta(seconds=2 * step_s + 150)


def test_spans_are_wall_time_and_end_at_gaps() -> None:
    """stats.spans counts a run from its first sample to its last plus one step, and a gap of
    more than 2.5 steps ends it."""
    stamps = pd.date_range(ALERT, periods=12, freq="5min")
    mask = pd.Series([False, True, True, True, False, True, True, True, True, True, True, False])
    found = stats.spans(pd.Series(mask.to_numpy(), index=stamps).drop(stamps[8:10]))
    assert found["minutes"].tolist() == [15.0, 15.0, 5.0]
