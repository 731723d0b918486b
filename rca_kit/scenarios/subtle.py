"""Subtle faults: each magnitude drawn just beyond the threshold its spec's criterion names.

Same causes and alerts as `faults.py`, but the quantity each criterion in library/*.yaml tests
is set a small margin past its threshold, so the fault is truly present by the spec's own
wording and only a test that applies the threshold as worded finds it. Each injector records
`p.magnitudes[name] = (value, threshold)`; a value below its threshold (volume drops) means
"beyond" is downwards.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .faults import (
    DEPENDENCIES,
    AlertRule,
    _disk_alert,
    _drop_alert,
    _error_alert,
    _lag_alert,
    _row_count_alert,
    record_change,
    record_schema_change,
)
from .faults import sustained as _sustained
from .simulate import Pipeline, log_burst


def _ramp(n: int, minutes: float) -> np.ndarray:
    return np.clip(np.arange(n) / minutes, 0, 1)


def backpressure(p: Pipeline, t0: int) -> AlertRule:
    """backpressure.yaml min_excess 0.05: ingest settles 7-10% above the consumer's capacity."""
    k, rng = p.knobs, p.rng
    excess = rng.uniform(0.07, 0.10)
    after = p.n - t0
    surge = k.capacity[t0] * (1 + excess) * (1 + rng.normal(0, 0.02, after))
    ramp = _ramp(after, rng.uniform(10, 30))
    k.demand[t0:] = np.maximum(k.demand[t0:], k.demand[t0:] * (1 - ramp) + surge * ramp)
    p.magnitudes["excess"] = (excess, 0.05)
    return _lag_alert(p, t0)


def recent_change(p: Pipeline, t0: int) -> AlertRule:
    """recent-change.yaml z_threshold 4: p99 latency shifts by 5.5-7 noise units after a change.

    The noise unit is the latency's own noise (5% of its level), so the shift is 27-35%. The
    template measures units against the IQR of the hour before the change, which its daily drift
    and sampling widen by up to a fifth: 5 true units were measured as 3.8 once.
    """
    k, rng, svc = p.knobs, p.rng, p.names.consumer
    record_change(p, t0, svc)
    effect = t0 + int(rng.integers(1, 5))
    units = rng.uniform(5.5, 7.0)
    k.latency[svc][effect:] *= 1 + units * 0.05
    p.magnitudes["z"] = (units, 4.0)

    def fires(q: Pipeline) -> int:
        latency = q.series[(svc, "latency_p99_seconds")]
        limit = 1.15 * float(np.median(latency[t0 - 120 : t0]))
        return _sustained(latency, t0, lambda v: v > limit, 5)

    return AlertRule("ProcessingLatencyHigh", svc, fires)


def resource_saturation(p: Pipeline, t0: int) -> AlertRule:
    """resource-saturation.yaml threshold 0.9: CPU or memory holds at 0.915-0.93."""
    k, rng, svc = p.knobs, p.rng, p.names.consumer
    ramp = int(rng.integers(5, 15))
    k.capacity[t0 + ramp :] = k.demand[t0] * rng.uniform(0.6, 0.85)
    level = rng.uniform(0.915, 0.93)
    resource = k.cpu if rng.random() < 0.6 else k.memory
    resource[svc][t0 : t0 + ramp] = np.linspace(0.7, level, ramp)
    resource[svc][t0 + ramp :] = level + rng.normal(0, 0.003, p.n - t0 - ramp)
    p.magnitudes["level"] = (level, 0.9)
    return _lag_alert(p, t0)


def disk_pressure(p: Pipeline, t0: int) -> AlertRule:
    """disk-pressure.yaml threshold 0.95 and min_drop 0.3: the disk holds at 0.955-0.965 and
    throughput falls 38-44% (at least 30% below the hour before even where the daily cycle
    rose up to 10% in that hour); out-of-space lines are rare (a few an hour)."""
    k, rng = p.knobs, p.rng
    svc = p.names.dataset if rng.random() < 0.65 else p.names.consumer
    climb = int(rng.integers(120, 300))
    level = rng.uniform(0.955, 0.965)
    k.disk[svc][t0 - climb : t0] = np.linspace(rng.uniform(0.55, 0.75), level, climb)
    k.disk[svc][t0:] = level + rng.normal(0, 0.0015, p.n - t0)
    drop = rng.uniform(0.38, 0.44)
    stalled = k.write_capacity if svc == p.names.dataset else k.capacity
    stalled[t0:] = k.demand[t0] * (1 - drop)
    log_burst(
        p,
        svc,
        t0,
        p.n,
        rng.uniform(0.05, 0.15),
        "error",
        "could not extend file base/16384/{n}: No space left on device",
    )
    p.magnitudes["level"] = (level, 0.95)
    p.magnitudes["drop"] = (drop, 0.3)
    return _disk_alert(p, t0, svc)


def memory_leak(p: Pipeline, t0: int) -> AlertRule:
    """memory-leak.yaml min_slope_per_hour 0.03 and min_peak 0.85: memory climbs 3.3-4 points
    an hour to a peak of 0.87-0.92, then the process is OOM-killed (a restart follows)."""
    k, rng = p.knobs, p.rng
    svc = p.names.consumer if rng.random() < 0.7 else p.names.source
    slope = rng.uniform(0.033, 0.04)  # per hour
    peak = rng.uniform(0.87, 0.92)
    base = rng.uniform(0.55, 0.65)
    grow = int((peak - base) / slope * 60)
    k.memory[svc][t0 - grow : t0] = np.linspace(base, peak, grow) + rng.normal(0, 0.004, grow)
    after = p.n - t0
    k.memory[svc][t0:] = base + slope * np.arange(after) / 60 + rng.normal(0, 0.004, after)
    k.restarts[svc][t0] = 1
    if svc == p.names.consumer:
        k.outages[t0 : t0 + 2] = 1
    else:
        k.demand[t0 : t0 + 2] *= 0.05
    log_burst(
        p, svc, t0, t0 + 1, 2, "critical", "OOMKilled: container exceeded its memory limit ({n})"
    )
    p.magnitudes["slope_per_hour"] = (slope, 0.03)
    p.magnitudes["peak"] = (peak, 0.85)
    return AlertRule("PodRestarted", svc, lambda q: t0)


def error_log_spike(p: Pipeline, t0: int) -> AlertRule:
    """error-log-spike.yaml min_ratio 5: a service that always logs some errors (0.5-1.5 a
    minute) logs 6-8x as many from onset on (counted from onset: at least 20 within 5 minutes)."""
    k, rng = p.knobs, p.rng
    svc = p.names.source if rng.random() < 0.5 else p.names.consumer
    dependency = str(rng.choice(DEPENDENCIES))
    usual = rng.uniform(0.5, 1.5)
    ratio = rng.uniform(6.0, 8.0)
    log_burst(p, svc, 0, p.n, usual, "error", "deprecated field ignored in request {n}")
    k.errors[svc][t0:] += rng.uniform(2.5, 5)
    log_burst(
        p,
        svc,
        t0,
        p.n,
        usual * (ratio - 1),
        "error",
        f"call to {dependency} timed out after {{n}}ms",
    )
    p.magnitudes["ratio"] = (ratio, 5.0)
    return _error_alert(p, svc, t0)


def upstream_degradation(p: Pipeline, t0: int) -> AlertRule:
    """upstream-degradation.yaml min_rel 0.3 (z_threshold 3 is then exceeded: the noise is 2-5%
    of the level, though measured against the hour before it may read as 7%): the source's p99
    latency rises 33-40% and what it sends falls 38-44% (at least 30% below the hour before the
    window even where the daily cycle rose in it)."""
    k, rng, src = p.knobs, p.rng, p.names.source
    rise, drop = rng.uniform(0.33, 0.40), rng.uniform(0.38, 0.44)
    k.latency[src][t0:] *= 1 + rise
    k.demand[t0:] *= 1 - drop
    log_burst(p, src, t0, p.n, rng.uniform(0.5, 2), "error", "request failed: upstream timeout")
    p.magnitudes["latency_rise"] = (rise, 0.3)
    p.magnitudes["throughput_drop"] = (drop, 0.3)
    if rng.random() < 0.5:
        return _drop_alert("ThroughputLow", p.names.consumer, "processing_rate", t0, 0.72)
    return _drop_alert("RowCountLow", p.names.dataset, "row_count", t0, 0.72)


def schema_drift(p: Pipeline, t0: int) -> AlertRule:
    """schema-drift.yaml min_jump 0.05: the null fraction jumps by 0.055-0.07."""
    k, rng = p.knobs, p.rng
    column = record_schema_change(p, t0)
    jump = rng.uniform(0.055, 0.07)
    k.nulls[t0 + int(rng.integers(1, 5)) :] += jump
    log_burst(p, p.names.dataset, t0, p.n, 0.5, "warning", f"column {column} is null in {{n}} rows")
    p.magnitudes["null_jump"] = (jump, 0.05)
    dataset = p.names.dataset

    def fires(q: Pipeline) -> int:
        nulls = q.series[(dataset, "null_fraction")]
        limit = float(np.median(nulls[t0 - 60 : t0])) + 0.04
        return _sustained(nulls, t0, lambda v: v > limit, 3)

    return AlertRule("NullFractionHigh", dataset, fires)


def volume_anomaly(p: Pipeline, t0: int) -> AlertRule:
    """volume-anomaly.yaml drop 0.4 / spike 0.8: rows fall to 0.50-0.56 of the day before
    (threshold 0.6) or rise to 1.9-2.05 of it (threshold 1.8)."""
    rng = p.rng
    low = rng.random() < 0.7
    factor = rng.uniform(0.50, 0.56) if low else rng.uniform(1.9, 2.05)
    p.knobs.row_factor[t0:] = factor
    p.magnitudes["ratio"] = (factor, 0.6 if low else 1.8)

    return _row_count_alert(p, t0, below=0.62, above=1.6)


SUBTLE: dict[str, Callable[[Pipeline, int], AlertRule]] = {
    "backpressure": backpressure,
    "recent-change": recent_change,
    "resource-saturation": resource_saturation,
    "disk-pressure": disk_pressure,
    "memory-leak": memory_leak,
    "error-log-spike": error_log_spike,
    "upstream-degradation": upstream_degradation,
    "schema-drift": schema_drift,
    "volume-anomaly": volume_anomaly,
}
