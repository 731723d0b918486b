"""The resource and log templates apply their spec's threshold as worded, at any scrape step.

For memory-leak, resource-saturation, disk-pressure, schema-drift and error-log-spike:
synthetic snapshots put the decisive quantity just above the spec's threshold (supported) and
just below it (refuted), at steps of 15 s, 1 min and 5 min, with scrape phases and jitter;
messy exports never make a template error; too little data is inconclusive, naming the series.
Templates run in-process (`run_inline`), so the whole file takes well under two minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from rca_kit.testing import make_snapshot, run_inline

ROOT = Path(__file__).resolve().parents[1]
T0 = pd.Timestamp(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))  # the alert fires
WINDOW = (T0 - timedelta(hours=1), T0 + timedelta(minutes=30))
LOOKBACK = timedelta(hours=9)
SVC = "svc"
STEPS = (15, 60, 300)
PHASES = ((0, 0.0), (37, 3.0))  # (seconds after the minute, jitter of up to ± seconds)


def spec(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "library" / f"{name}.yaml").read_text())


def run(name: str, snapshot: Path) -> Any:
    return run_inline(ROOT / "notebooks" / "templates" / f"{name}.ipynb", snapshot)


def stamps(step_s: int, phase: tuple[int, float], seed: int = 0) -> pd.DatetimeIndex:
    """A scrape every `step_s` seconds at its own phase, with jitter, over lookback and window."""
    offset, jitter = phase
    grid = pd.date_range(
        WINDOW[0] - LOOKBACK + timedelta(seconds=offset), WINDOW[1], freq=f"{step_s}s"
    )
    noise = np.random.default_rng(seed).uniform(-jitter, jitter, len(grid))
    return grid + pd.to_timedelta(noise, unit="s")


def rows(metric: str, at: pd.DatetimeIndex, values: Any, service: str = SVC) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": at, "service": service, "metric": metric, "value": values})


def minutes_from_alert(at: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray((at - T0) / pd.Timedelta(minutes=1), dtype=float)


def snapshot(dest: Path, metrics: list[pd.DataFrame], **extra: Any) -> Path:
    return make_snapshot(
        dest,
        window=(WINDOW[0].to_pydatetime(), WINDOW[1].to_pydatetime()),
        service=SVC,
        onset=T0.to_pydatetime(),
        metrics=pd.concat(metrics, ignore_index=True) if metrics else None,
        topology={SVC: []},
        lookback=LOOKBACK,
        **extra,
    )


# --- one synthetic incident per template; `margin` > 0 puts it above the threshold ---------


def memory_leak(step_s: int, phase: tuple[int, float], margin: float, cumulative: bool = False):
    """Memory climbs at min_slope_per_hour * (1 + margin) to 0.9, an OOM restart 10 minutes
    before the alert, then it climbs again."""
    slope = spec("memory-leak")["parameters"]["min_slope_per_hour"] * (1 + margin)
    at = stamps(step_s, phase)
    hours = minutes_from_alert(at) / 60
    restart = -10 / 60
    rng = np.random.default_rng(1)
    memory = np.where(
        hours < restart, 0.9 + slope * (hours - restart), 0.5 + slope * (hours - restart)
    )
    memory = memory + rng.normal(0, 0.002, len(at))
    after = hours >= restart
    first = np.zeros(len(at))
    first[np.argmax(after)] = 1
    if cumulative:  # as Prometheus exports it: a running total, reset when the exporter restarted
        total = 4 + np.cumsum(first)
        total[hours < -8] = 3  # an older total ...
        total[(hours >= -8) & (hours < restart)] = 0  # ... reset to zero 8 hours ago
        total[after] = 1
        restarts = total
    else:
        restarts = first
    return [rows("memory_utilization", at, memory), rows("restarts", at, restarts)], {}


def resource_saturation(step_s: int, phase: tuple[int, float], margin: float):
    """CPU holds at threshold + margin for 50 minutes across the alert; memory stays low."""
    threshold = spec("resource-saturation")["parameters"]["threshold"]
    at = stamps(step_s, phase)
    m = minutes_from_alert(at)
    hot = (m >= -30) & (m < 20)
    cpu = np.where(hot, threshold + margin, 0.55) + np.random.default_rng(2).normal(
        0, 0.001, len(at)
    )
    return [rows("cpu_utilization", at, cpu), rows("memory_utilization", at, 0.5)], {}


def disk_pressure(step_s: int, phase: tuple[int, float], margin: float):
    """The disk sits at threshold + margin from 40 minutes before the alert; processing falls by
    half then (ingest does not: "ingest_rate or processing_rate" must examine both)."""
    threshold = spec("disk-pressure")["parameters"]["threshold"]
    at = stamps(step_s, phase)
    m = minutes_from_alert(at)
    full = m >= -40
    disk = np.where(full, threshold + margin, 0.6) + np.random.default_rng(3).normal(
        0, 0.0005, len(at)
    )
    return [
        rows("disk_utilization", at, disk),
        rows("ingest_rate", at, 100.0),
        rows("processing_rate", at, np.where(full, 50.0, 100.0)),
    ], {}


def schema_drift(step_s: int, phase: tuple[int, float], margin: float):
    """A schema change 20 minutes before the alert; the null fraction jumps by min_jump + margin."""
    jump = spec("schema-drift")["parameters"]["min_jump"] + margin
    at = stamps(step_s, phase)
    m = minutes_from_alert(at)
    nulls = (
        0.02 + np.where(m >= -18, jump, 0.0) + np.random.default_rng(4).normal(0, 0.001, len(at))
    )
    change = pd.DataFrame(
        {
            "timestamp": [T0 - timedelta(minutes=20)],
            "service": [SVC],
            "kind": ["schema"],
            "summary": ["rename sku to sku_v2"],
            "author": ["bot"],
            "ref": ["m1"],
        }
    )
    return [rows("null_fraction", at, nulls)], {"changes": change}


def error_log_spike(step_s: int, phase: tuple[int, float], margin: float):
    """Four errors a minute, then min_ratio * (1 + margin) as many from 15 minutes before the
    alert, logged in batches every `step_s` seconds. A 5-minute batch is a tenth of the spike
    (whether the first or last is in it is a matter of convention), so there the margin is
    2.5 times as wide."""
    widen = 2.5 if step_s >= 300 else 1.0
    ratio = spec("error-log-spike")["parameters"]["min_ratio"] * (1 + margin * widen)
    at = stamps(step_s, phase)
    m = minutes_from_alert(at)
    per_minute = np.where(m >= -15, 4 * ratio, 4.0)
    total = np.floor(np.cumsum(per_minute * step_s / 60))
    counts = np.diff(total, prepend=0).astype(int)
    times = np.repeat(at, counts)
    logs = pd.DataFrame(
        {
            "timestamp": times,
            "service": SVC,
            "level": "error",
            "message": [
                f"call to tax-service timed out after {i % 900}ms" for i in range(len(times))
            ],
        }
    )
    return [rows("cpu_utilization", at, 0.5)], {"logs": logs}


INCIDENTS: dict[str, tuple[Callable[..., Any], float]] = {
    # template: (incident, margin: the relative or absolute distance from the threshold)
    "memory-leak": (memory_leak, 0.05),
    "resource-saturation": (resource_saturation, 0.005),
    "disk-pressure": (disk_pressure, 0.005),
    "schema-drift": (schema_drift, 0.005),
    "error-log-spike": (error_log_spike, 0.1),
}


@pytest.mark.parametrize("phase", PHASES, ids=["on-the-minute", "phase-37s-jitter"])
@pytest.mark.parametrize("step_s", STEPS, ids=["15s", "1min", "5min"])
@pytest.mark.parametrize("name", sorted(INCIDENTS))
def test_just_above_the_threshold_is_supported_and_just_below_refuted(
    tmp_path: Path, name: str, step_s: int, phase: tuple[int, float]
) -> None:
    """The decisive quantity a little past the spec's threshold supports the hypothesis, a
    little short of it refutes it, whatever the step and phase of the scrape."""
    incident, margin = INCIDENTS[name]
    for side, verdict in ((margin, "supported"), (-margin, "refuted")):
        metrics, extra = incident(step_s, phase, side)
        outcome = run(name, snapshot(tmp_path / f"{side}", metrics, **extra))
        assert outcome.error is None, outcome.error
        assert outcome.verdict == verdict, (side, outcome.summary, outcome.observed)


@pytest.mark.parametrize("step_s", STEPS, ids=["15s", "1min", "5min"])
def test_a_cumulative_restart_counter_gives_the_verdict_of_per_interval_restarts(
    tmp_path: Path, step_s: int
) -> None:
    """A restarts counter exported as a running total with a reset reads as one restart: the
    leak's segment is not cut at every sample, and the verdict and fit match."""
    found = {}
    for cumulative in (False, True):
        metrics, _ = memory_leak(step_s, PHASES[1], 0.05, cumulative=cumulative)
        outcome = run("memory-leak", snapshot(tmp_path / str(cumulative), metrics))
        assert outcome.error is None, outcome.error
        found[cumulative] = (outcome.verdict, outcome.observed.get("restarts_seen"))
        assert outcome.observed["hours"] >= 2
    assert found[True] == found[False] == ("supported", 1)


def messy(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The same samples as an exporter might write them: mixed UTC offsets, text values,
    unreadable cells, NaN, duplicate and unordered rows and a 40-minute gap."""
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    m = minutes_from_alert(pd.DatetimeIndex(frame["timestamp"]))
    frame = frame.loc[~((m > -200) & (m < -160))]  # a gap in the lookback
    frame = pd.concat([frame, frame.sample(frac=0.05, random_state=seed)])  # duplicates
    values = frame["value"].astype(float).map(repr).astype(object)
    bad = rng.random(len(frame))
    values[bad < 0.02] = "n/a"
    values[(bad >= 0.02) & (bad < 0.04)] = "NaN"
    frame["value"] = values.to_numpy()
    offsets = rng.choice(["+02:00", "-05:00", "+00:00"], len(frame))
    frame["timestamp"] = [
        t.tz_convert(f"Etc/GMT{'-' if o[0] == '+' else '+'}{int(o[1:3])}").isoformat()
        for t, o in zip(pd.DatetimeIndex(frame["timestamp"]), offsets, strict=True)
    ]
    return frame.sample(frac=1.0, random_state=seed)  # out of order


@pytest.mark.parametrize("name", sorted(INCIDENTS))
def test_messy_exports_never_error_and_keep_the_verdict(tmp_path: Path, name: str) -> None:
    """NaN, text values, duplicates, mixed offsets, shuffled rows and a gap never make a
    template error; a clear incident is still found."""
    incident, margin = INCIDENTS[name]
    metrics, extra = incident(60, PHASES[1], 4 * margin)
    frames = [messy(frame, seed) for seed, frame in enumerate(metrics)]
    outcome = run(name, snapshot(tmp_path / "messy", frames, **extra))
    assert outcome.error is None, outcome.error
    assert outcome.verdict == "supported", (outcome.summary, outcome.observed)


SERIES = {  # template: the series whose coverage decides
    "memory-leak": "memory_utilization",
    "resource-saturation": "cpu_utilization",
    "disk-pressure": "disk_utilization",
    "schema-drift": "null_fraction",
}


@pytest.mark.parametrize("name", sorted(SERIES))
def test_too_little_data_is_inconclusive_naming_the_series_and_its_coverage(
    tmp_path: Path, name: str
) -> None:
    """A deciding series scraped for under min_coverage of the window is inconclusive, with
    the series and its coverage in missing_data, never refuted."""
    incident, margin = INCIDENTS[name]
    metrics, extra = incident(60, PHASES[0], margin)
    metric = SERIES[name]
    thinned = []
    for frame in metrics:
        if (frame["metric"] == metric).all():
            m = minutes_from_alert(pd.DatetimeIndex(frame["timestamp"]))
            frame = frame.loc[(m < -45) | (m > 20)]  # 25 of the window's 90 minutes
        thinned.append(frame)
    outcome = run(name, snapshot(tmp_path / "thin", thinned, **extra))
    assert outcome.verdict == "inconclusive", outcome.summary
    [entry] = [m for m in outcome.missing_data if metric in m]
    assert "covers" in entry, entry
    assert "needs 60%" in entry, entry


def test_two_days_at_15_seconds_with_hundreds_of_restarts_stay_fast_and_bounded(
    tmp_path: Path,
) -> None:
    """Hundreds of restarts over two days of 15 s samples draw at most a few dozen shapes and a
    few thousand points, and the notebook runs in seconds."""
    at = pd.date_range(T0 - timedelta(days=2), WINDOW[1], freq="15s")
    cycle = (np.asarray((at - at[0]) / pd.Timedelta(minutes=1)) % 7) / 7  # an OOM every 7 min
    total = np.cumsum(np.r_[0, np.diff(cycle) < 0])
    metrics = [rows("memory_utilization", at, 0.4 + 0.5 * cycle), rows("restarts", at, total)]
    snap = make_snapshot(
        tmp_path / "long",
        window=(WINDOW[0].to_pydatetime(), WINDOW[1].to_pydatetime()),
        service=SVC,
        onset=T0.to_pydatetime(),
        metrics=pd.concat(metrics, ignore_index=True),
        lookback=timedelta(days=2) - timedelta(hours=1),
    )
    started = time.monotonic()
    outcome = run("memory-leak", snap)
    elapsed = time.monotonic() - started
    assert outcome.error is None, outcome.error
    assert outcome.observed["restarts_seen"] > 400
    assert outcome.verdict == "refuted", outcome.summary  # minutes-long climbs are not a leak
    figure = outcome.figure
    assert figure is not None
    assert len(figure["layout"].get("shapes", [])) <= 32
    assert sum(len(trace.get("x") or []) for trace in figure["data"]) <= 4000
    assert figure["layout"]["xaxis"]["type"] == "date"
    assert elapsed < 10, elapsed


def test_an_old_burst_of_errors_is_not_the_onset_of_the_spike(tmp_path: Path) -> None:
    """A 20-minute burst hours before the alert, after which errors went back to usual, is not
    where the spike began: the rate is measured from the spike's own onset and supports it."""
    at = stamps(60, PHASES[1])
    m = minutes_from_alert(at)
    per_minute = np.where(m >= -10, 6.0, np.where((m >= -240) & (m < -220), 3.0, 1.0))
    counts = np.diff(np.floor(np.cumsum(per_minute)), prepend=0).astype(int)
    times = np.repeat(at, counts)
    logs = pd.DataFrame(
        {"timestamp": times, "service": SVC, "level": "error", "message": "call failed"}
    )
    outcome = run(
        "error-log-spike",
        snapshot(tmp_path / "burst", [rows("cpu_utilization", at, 0.5)], logs=logs),
    )
    assert outcome.error is None, outcome.error
    assert outcome.verdict == "supported", (outcome.summary, outcome.observed)
    assert pd.Timestamp(outcome.observed["since"]) >= T0 - timedelta(minutes=15)


def spike_snapshot(dest: Path, end: pd.Timestamp, rate: Callable[[np.ndarray], Any]) -> Path:
    """Error logs every 20 s at `rate(minutes from the alert)` a minute, to a window ending
    at `end`."""
    at = pd.date_range(end - LOOKBACK - timedelta(hours=1), end, freq="20s")
    per_minute = np.asarray(rate(minutes_from_alert(at)), dtype=float)
    counts = np.diff(np.floor(np.cumsum(per_minute / 3)), prepend=0).astype(int)
    times = np.repeat(at, counts)
    logs = pd.DataFrame(
        {"timestamp": times, "service": SVC, "level": "error", "message": "upstream timed out"}
    )
    return make_snapshot(
        dest,
        window=(WINDOW[0].to_pydatetime(), end.to_pydatetime()),
        service=SVC,
        onset=T0.to_pydatetime(),
        metrics=rows("cpu_utilization", at, 0.5),
        topology={SVC: []},
        lookback=LOOKBACK,
        logs=logs,
    )


def test_a_spike_too_young_to_hold_three_buckets_is_found_at_the_end(tmp_path: Path) -> None:
    """Errors at 0.7 a minute, then 5, then 3 from the alert, the window ending 11 minutes
    after it (buckets of 25, 15 and a 1-minute 3): no onset holds for three buckets, so the
    onset is the one that held for two at the window's end, and the spike is supported."""

    def rate(m: np.ndarray) -> np.ndarray:
        return np.where(m < 0, 0.7, np.where(m < 5, 5.0, 3.0))

    outcome = run(
        "error-log-spike", spike_snapshot(tmp_path / "young", T0 + timedelta(minutes=11), rate)
    )
    assert outcome.error is None, outcome.error
    assert outcome.verdict == "supported", (outcome.summary, outcome.observed)
    assert outcome.observed["since"] == T0.isoformat()


@pytest.mark.parametrize(("lasts", "verdict"), [(None, "supported"), (5, "refuted")])
def test_a_spike_still_going_on_at_the_windows_end_needs_every_whole_bucket(
    tmp_path: Path, lasts: int | None, verdict: str
) -> None:
    """Errors at 8x from 3 minutes before the alert, the window ending 10 minutes after it: too
    few buckets remain for three elevated ones, so every whole bucket after the onset's own must
    be (supported); a 5-minute burst in the same place is not a sustained spike (refuted)."""

    def rate(m: np.ndarray) -> np.ndarray:
        return np.where((m >= -3) & (m < (-3 + lasts if lasts else 60)), 16.0, 2.0)

    path = spike_snapshot(tmp_path / "ongoing", T0 + timedelta(minutes=10), rate)
    outcome = run("error-log-spike", path)
    assert outcome.error is None, outcome.error
    assert outcome.verdict == verdict, (outcome.summary, outcome.observed)
    if verdict == "supported":
        assert outcome.observed["buckets_needed"] == 2
