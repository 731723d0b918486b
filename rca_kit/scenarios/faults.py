"""Fault injectors and distractors: each edits the knobs and says which alert the fault raises."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .simulate import Pipeline, log_burst


@dataclass(frozen=True)
class AlertRule:
    """The alert a fault raises: its name, the service it names and when it fires."""

    name: str
    service: str
    fires: Callable[[Pipeline], int]


def sustained(
    values: np.ndarray, start: int, condition: Callable[[np.ndarray], np.ndarray], minutes: int
) -> int:
    """Index at which `condition` has held for `minutes` consecutive minutes from `start` on."""
    run = 0
    hits = condition(values)
    for i in range(start, len(values)):
        run = run + 1 if hits[i] else 0
        if run >= minutes:
            return i
    msg = "the injected fault never raised its alert (a generator bug: tune the magnitude)"
    raise RuntimeError(msg)


def _lag_alert(p: Pipeline, t0: int) -> AlertRule:
    return AlertRule(
        "ConsumerLagHigh",
        p.names.consumer,
        lambda q: sustained(
            q.series[(q.names.consumer, "consumer_lag_seconds")], t0, lambda v: v > 300, 3
        ),
    )


def _error_alert(p: Pipeline, svc: str, t0: int) -> AlertRule:
    def fires(q: Pipeline) -> int:
        errors = q.series[(svc, "error_rate")]
        limit = 2.5 * float(np.median(errors[t0 - 120 : t0])) + 0.5
        return sustained(errors, t0, lambda v: v > limit, 3)

    return AlertRule("HighErrorRate", svc, fires)


def _drop_alert(name: str, svc: str, metric: str, t0: int, ratio: float = 0.6) -> AlertRule:
    def fires(q: Pipeline) -> int:
        values = q.series[(svc, metric)]
        reference = float(np.median(values[t0 - 60 : t0]))
        return sustained(values, t0, lambda v: v < ratio * reference, 5)

    return AlertRule(name, svc, fires)


def backpressure(p: Pipeline, t0: int) -> AlertRule:
    k, rng = p.knobs, p.rng
    target = k.capacity[t0] * rng.uniform(1.2, 1.6) / k.demand[t0]
    ramp = rng.uniform(10, 30)
    k.demand[t0:] *= 1 + (target - 1) * np.clip(np.arange(p.n - t0) / ramp, 0, 1)
    return _lag_alert(p, t0)


CHANGES = (
    "v{n}: batch writer rewritten",
    "raise fetch.max.bytes to {n}",
    "enable flag new-serializer",
    "v{n}: upgrade client library",
    "pool size {n} -> {n}0",
)


def record_change(p: Pipeline, t0: int, svc: str) -> None:
    """A deploy, config change or flag of `svc` at `t0`, as a change log records it."""
    rng = p.rng
    kind = str(rng.choice(["deploy", "config", "flag"]))
    summary = str(rng.choice(CHANGES)).format(n=int(rng.integers(2, 60)))
    p.changes.append(
        {
            "timestamp": p.at(t0),
            "service": svc,
            "kind": kind,
            "summary": summary,
            "author": "ci",
            "ref": f"{rng.integers(16**6):06x}",
        }
    )


def recent_change(p: Pipeline, t0: int) -> AlertRule:
    k, rng, svc = p.knobs, p.rng, p.names.consumer
    record_change(p, t0, svc)
    effect = t0 + int(rng.integers(1, 5))
    k.capacity[effect:] = k.demand[t0] * rng.uniform(0.5, 0.8)
    k.errors[svc][effect:] += rng.uniform(3, 12)
    log_burst(
        p,
        svc,
        effect,
        p.n,
        rng.uniform(5, 20),
        "error",
        "NullPointerException in RecordMapper.map line {n}",
    )
    return _lag_alert(p, t0) if rng.random() < 0.5 else _error_alert(p, svc, t0)


def resource_saturation(p: Pipeline, t0: int) -> AlertRule:
    """CPU (a costlier record format) or memory (a cache pinned near the limit) saturates."""
    k, rng, svc = p.knobs, p.rng, p.names.consumer
    ramp = int(rng.integers(5, 15))
    k.capacity[t0 + ramp :] = k.demand[t0] * rng.uniform(0.6, 0.85)
    level = rng.uniform(0.93, 0.99)
    resource = k.cpu if rng.random() < 0.6 else k.memory
    resource[svc][t0 : t0 + ramp] = np.linspace(0.7, level, ramp)
    resource[svc][t0 + ramp :] = np.clip(level + rng.normal(0, 0.008, p.n - t0 - ramp), 0, 1)
    return _lag_alert(p, t0)


def disk_pressure(p: Pipeline, t0: int) -> AlertRule:
    """The dataset's disk fills and loads stall, or the consumer's and processing stalls."""
    k, rng = p.knobs, p.rng
    svc = p.names.dataset if rng.random() < 0.65 else p.names.consumer
    climb = int(rng.integers(120, 300))
    start_level = rng.uniform(0.55, 0.75)
    k.disk[svc][t0 - climb : t0] = np.linspace(start_level, 0.96, climb)
    k.disk[svc][t0:] = np.clip(rng.uniform(0.975, 0.995) + rng.normal(0, 0.002, p.n - t0), 0, 1)
    stalled = k.write_capacity if svc == p.names.dataset else k.capacity
    stalled[t0:] = k.demand[t0] * rng.uniform(0.05, 0.3)
    log_burst(
        p,
        svc,
        t0,
        p.n,
        rng.uniform(3, 15),
        "error",
        "could not extend file base/16384/{n}: No space left on device",
    )
    return _disk_alert(p, t0, svc)


def _disk_alert(p: Pipeline, t0: int, svc: str) -> AlertRule:
    """A full disk shows as lag at the consumer, elsewhere as data going stale."""
    if svc == p.names.consumer:
        return _lag_alert(p, t0)

    def fires(q: Pipeline) -> int:
        return sustained(q.series[(svc, "freshness_seconds")], t0, lambda v: v > 900, 3)

    return AlertRule("FreshnessSLOBreached", svc, fires)


def memory_leak(p: Pipeline, t0: int) -> AlertRule:
    """Memory climbs for hours until the process is OOM-killed (consumer, or the source)."""
    k, rng = p.knobs, p.rng
    svc = p.names.consumer if rng.random() < 0.7 else p.names.source
    grow = int(rng.integers(240, 480))
    base = rng.uniform(0.35, 0.55)
    k.memory[svc][t0 - grow : t0] = np.linspace(base, 0.97, grow) + rng.normal(0, 0.006, grow)
    after = p.n - t0
    k.memory[svc][t0:] = (
        base + (0.97 - base) * np.arange(after) / grow + rng.normal(0, 0.006, after)
    )
    k.restarts[svc][t0] = 1
    if svc == p.names.consumer:
        k.outages[t0 : t0 + 2] = 1
    else:
        k.demand[t0 : t0 + 2] *= 0.05
    log_burst(
        p, svc, t0, t0 + 1, 2, "critical", "OOMKilled: container exceeded its memory limit ({n})"
    )
    return AlertRule("PodRestarted", svc, lambda q: t0)


DEPENDENCIES = ("payment-provider", "geo-service", "tax-service", "identity-provider")


def error_log_spike(p: Pipeline, t0: int) -> AlertRule:
    """An external dependency (outside the topology) fails calls from the source or consumer."""
    k, rng = p.knobs, p.rng
    svc = p.names.source if rng.random() < 0.5 else p.names.consumer
    dependency = str(rng.choice(DEPENDENCIES))
    k.errors[svc][t0:] += rng.uniform(3, 15)
    log_burst(
        p,
        svc,
        t0,
        p.n,
        rng.uniform(10, 40),
        "error",
        f"call to {dependency} timed out after {{n}}ms",
    )
    return _error_alert(p, svc, t0)


def upstream_degradation(p: Pipeline, t0: int) -> AlertRule:
    k, rng, src = p.knobs, p.rng, p.names.source
    k.errors[src][t0:] += rng.uniform(5, 30)
    k.latency[src][t0:] *= rng.uniform(3, 10)
    k.demand[t0:] *= rng.uniform(0.2, 0.5)
    log_burst(
        p,
        src,
        t0,
        p.n,
        rng.uniform(5, 20),
        "error",
        "request failed: connection pool exhausted ({n})",
    )
    if rng.random() < 0.5:
        return _drop_alert("ThroughputLow", p.names.consumer, "processing_rate", t0)
    return _drop_alert("RowCountLow", p.names.dataset, "row_count", t0)


def record_schema_change(p: Pipeline, t0: int) -> str:
    """A column renamed at `t0` by the source or the consumer, as a schema migration logs it;
    returns the column."""
    rng = p.rng
    owner = str(rng.choice([p.names.source, p.names.consumer]))
    column = str(rng.choice(["customer_id", "order_total", "sku", "region"]))
    p.changes.append(
        {
            "timestamp": p.at(t0),
            "service": owner,
            "kind": "schema",
            "summary": f"rename {column} to {column}_v2",
            "author": "schema-bot",
            "ref": "migration",
        }
    )
    return column


def schema_drift(p: Pipeline, t0: int) -> AlertRule:
    k, rng = p.knobs, p.rng
    column = record_schema_change(p, t0)
    k.nulls[t0 + int(rng.integers(1, 5)) :] = rng.uniform(0.15, 0.6)
    log_burst(p, p.names.dataset, t0, p.n, 2, "warning", f"column {column} is null in {{n}} rows")

    def fires(q: Pipeline) -> int:
        return sustained(q.series[(q.names.dataset, "null_fraction")], t0, lambda v: v > 0.1, 3)

    return AlertRule("NullFractionHigh", p.names.dataset, fires)


def volume_anomaly(p: Pipeline, t0: int) -> AlertRule:
    rng = p.rng
    p.knobs.row_factor[t0:] = (
        rng.uniform(0.2, 0.55) if rng.random() < 0.7 else rng.uniform(2.0, 3.5)
    )

    return _row_count_alert(p, t0, below=0.6, above=1.4)


def _row_count_alert(p: Pipeline, t0: int, *, below: float, above: float) -> AlertRule:
    """Fires when the dataset's rows stay below `below` or above `above` times the day
    before's for 10 minutes."""

    def fires(q: Pipeline) -> int:
        rows = q.series[(q.names.dataset, "row_count")]
        ratio = rows / np.maximum(np.roll(rows, 1440), 1.0)
        return sustained(ratio, t0, lambda v: (v < below) | (v > above), 10)

    return AlertRule("RowCountAnomaly", p.names.dataset, fires)


FAULTS: dict[str, Callable[[Pipeline, int], AlertRule]] = {
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


def distract(p: Pipeline, t0: int, alert_service: str) -> list[str]:
    """Add a random non-empty subset of distractors; return their names."""
    rng, names, chosen = p.rng, p.names, []
    if rng.random() < 0.7:  # an unrelated deploy: elsewhere, or too early to matter
        where = rng.integers(3)
        svc, at = (
            (names.neighbour, t0 + int(rng.integers(-120, 10)))
            if where == 0
            else (
                (names.dataset, t0 + int(rng.integers(-90, -30)))
                if where == 1
                else (alert_service, t0 - int(rng.integers(90, 170)))
            )
        )
        p.changes.append(
            {
                "timestamp": p.at(at),
                "service": svc,
                "kind": "deploy",
                "summary": f"{svc} v{rng.integers(2, 40)}.{rng.integers(0, 9)}: routine release",
                "author": "ci",
                "ref": f"{rng.integers(16**6):06x}",
            }
        )
        chosen.append(f"deploy:{svc}")
    if rng.random() < 0.5 or not chosen:  # a noisy neighbour, hot and erroring during the window
        start = t0 - int(rng.integers(30, 90))
        stop = start + int(rng.integers(30, 120))
        p.knobs.cpu[names.neighbour][start:stop] = rng.uniform(0.92, 0.99)
        log_burst(
            p,
            names.neighbour,
            start,
            stop,
            rng.uniform(5, 20),
            "error",
            "job {n} failed: worker busy",
        )
        chosen.append("noisy-neighbour")
    if rng.random() < 0.5:  # a brief spike on the alerting service, well before onset
        at = t0 - int(rng.integers(90, 300))
        p.knobs.errors[alert_service][at : at + 3] += 20
        p.knobs.cpu[alert_service][at : at + 4] = 0.97
        log_burst(p, alert_service, at, at + 3, 8, "error", "transient failure {n}")
        chosen.append("brief-spike")
    return chosen
