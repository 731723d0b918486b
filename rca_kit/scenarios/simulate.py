"""A simulated data pipeline, minute by minute: source → stream consumer → dataset.

The source emits records with daily seasonality; the consumer drains them up to its capacity
(a queue builds when it cannot keep up); the dataset loads what the consumer emits. Faults
change the knobs (demand, capacity, CPU cost, disk, memory, errors, nulls, rows) and the
simulation derives every metric in the vocabulary from them, so consequences follow causes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

MINUTES = 2 * 24 * 60 + 6 * 60  # simulated span; the export keeps the last two days


@dataclass(frozen=True)
class Names:
    source: str
    consumer: str
    dataset: str
    neighbour: str


PIPELINES = (
    ("orders-api", "orders-consumer", "orders-warehouse"),
    ("payments-gateway", "payments-stream", "payments-ledger"),
    ("clicks-collector", "clicks-enricher", "clicks-lake"),
    ("inventory-api", "inventory-sync", "inventory-mart"),
    ("shipments-edge", "shipments-router", "shipments-dw"),
)
NEIGHBOURS = ("billing-batch", "search-indexer", "email-sender", "report-builder")


@dataclass
class Knobs:
    """Per-minute inputs of the simulation; faults edit these before it runs."""

    demand: np.ndarray  # records/s the source emits
    capacity: np.ndarray  # records/s the consumer can process
    cpu_cost: np.ndarray  # consumer CPU per unit of load (1 = normal)
    write_capacity: np.ndarray  # records/s the dataset can load
    errors: dict[str, np.ndarray]  # extra errors/s per service
    latency: dict[str, np.ndarray]  # latency multiplier per service
    memory: dict[str, np.ndarray]  # memory utilization overrides (nan = normal)
    disk: dict[str, np.ndarray]  # disk utilization overrides (nan = normal)
    cpu: dict[str, np.ndarray]  # cpu utilization overrides (nan = normal)
    restarts: dict[str, np.ndarray]  # restarts per minute
    nulls: np.ndarray  # dataset null fraction
    row_factor: np.ndarray  # dataset rows loaded relative to records received
    outages: np.ndarray  # 1 where the consumer processes nothing (restarting)


@dataclass
class Pipeline:
    """The simulated world of one scenario."""

    rng: np.random.Generator
    names: Names
    index: pd.DatetimeIndex
    knobs: Knobs
    base_rate: float
    logs: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    series: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    # fan-in: further upstreams of the consumer and the records/s each sends (the source
    # sends the rest of knobs.demand); empty in the original single-source pipeline
    upstreams: dict[str, np.ndarray] = field(default_factory=dict)
    # what a fault injected, for tests: name -> (magnitude, the spec's threshold it relates to)
    magnitudes: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.index)

    def at(self, i: int) -> datetime:
        return self.index[i].to_pydatetime()


def new_pipeline(
    rng: np.random.Generator, names: Names, end: datetime, minutes: int = MINUTES
) -> Pipeline:
    n = minutes
    index = pd.date_range(end - timedelta(minutes=n - 1), periods=n, freq="min", tz="UTC")
    hours = np.asarray(index.hour + index.minute / 60, dtype=float)
    peak = rng.uniform(10, 18)
    base = float(rng.uniform(300, 2000))
    amplitude = rng.uniform(0.15, 0.35)
    demand = base * (1 + amplitude * np.cos((hours - peak) / 24 * 2 * np.pi))
    demand = demand * (1 + rng.normal(0, 0.02, n))
    capacity = np.full(n, base * (1 + amplitude) * rng.uniform(1.35, 1.8))
    nan = np.full(n, np.nan)
    services = (names.source, names.consumer, names.dataset, names.neighbour)
    knobs = Knobs(
        demand=demand,
        capacity=capacity,
        cpu_cost=np.ones(n),
        write_capacity=capacity * 1.5,
        errors={s: np.zeros(n) for s in services},
        latency={s: np.ones(n) for s in services},
        memory={s: nan.copy() for s in services},
        disk={s: nan.copy() for s in services},
        cpu={s: nan.copy() for s in services},
        restarts={s: np.zeros(n) for s in services},
        nulls=np.full(n, rng.uniform(0.002, 0.02)),
        row_factor=np.ones(n),
        outages=np.zeros(n),
    )
    return Pipeline(rng=rng, names=names, index=index, knobs=knobs, base_rate=base)


def _queue(arrivals: np.ndarray, capacity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Processed rate and backlog (records) of a queue drained up to capacity each minute."""
    done = np.empty_like(arrivals)
    backlog = np.empty_like(arrivals)
    queue = 0.0
    for i, (arrive, cap) in enumerate(zip(arrivals, capacity, strict=True)):
        done[i] = min(arrive + queue / 60, cap)
        queue = max(queue + (arrive - done[i]) * 60, 0.0)
        backlog[i] = queue
    return done, backlog


def _override(normal: np.ndarray, forced: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(forced), normal, forced)


def run(p: Pipeline) -> None:
    """Derive every metric from the knobs (call after faults and distractors edited them)."""
    k, rng, n, s = p.knobs, p.rng, p.n, p.names

    def noise(scale: float) -> np.ndarray:
        return rng.normal(0, scale, n)

    capacity = k.capacity * (1 - k.outages)
    arrivals, sent = k.demand, k.demand  # at the consumer; from the source
    if p.upstreams:
        others = np.sum(list(p.upstreams.values()), axis=0)
        sent = np.maximum(k.demand - others, 0.03 * k.demand)
        arrivals = sent + others
    processed, backlog = _queue(arrivals, capacity)
    lag = backlog / np.maximum(processed, 1.0) + np.abs(noise(0.4) + 1.5)
    loaded, write_backlog = _queue(processed * 0.98, k.write_capacity)
    freshness = 60 + lag + write_backlog / np.maximum(loaded, 1.0) + np.abs(noise(5))
    load = processed / (p.base_rate * 1.6)
    memory_base = {
        svc: rng.uniform(0.35, 0.65) for svc in (s.source, s.consumer, s.dataset, s.neighbour)
    }
    disk_base = {svc: rng.uniform(0.3, 0.7) for svc in memory_base}
    base_errors = {svc: rng.uniform(0.05, 0.8) for svc in memory_base}
    latency_base = {svc: rng.uniform(0.05, 0.4) for svc in memory_base}

    def common(svc: str, cpu: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "cpu_utilization": np.clip(_override(cpu + noise(0.02), k.cpu[svc]), 0, 1),
            "memory_utilization": np.clip(
                _override(memory_base[svc] + noise(0.008), k.memory[svc]), 0, 1
            ),
            "disk_utilization": np.clip(
                _override(disk_base[svc] + np.linspace(0, 0.01, n) + noise(0.003), k.disk[svc]),
                0,
                1,
            ),
            "error_rate": np.abs(base_errors[svc] * (1 + noise(0.25)) + k.errors[svc]),
            "latency_p99_seconds": np.abs(latency_base[svc] * k.latency[svc] * (1 + noise(0.05))),
            "restarts": k.restarts[svc],
        }

    p.series = {}
    for svc, metrics in {
        s.source: {
            "ingest_rate": sent,
            **common(s.source, 0.2 + 0.3 * sent / (p.base_rate * 1.6)),
        },
        s.consumer: {
            "ingest_rate": arrivals,
            "processing_rate": processed * (1 + noise(0.005)),
            "queue_depth": backlog,
            "consumer_lag_seconds": lag,
            **common(s.consumer, 0.15 + 0.45 * load * k.cpu_cost),
        },
        s.dataset: {
            "ingest_rate": loaded * (1 + noise(0.005)),
            "row_count": loaded * 60 * k.row_factor * (1 + noise(0.01)),
            "null_fraction": np.clip(k.nulls * (1 + noise(0.05)), 0, 1),
            "freshness_seconds": freshness,
            **common(s.dataset, 0.3 + 0.1 * load),
        },
        s.neighbour: common(s.neighbour, np.full(n, rng.uniform(0.2, 0.5))),
    }.items():
        for metric, values in metrics.items():
            p.series[(svc, metric)] = np.asarray(values, dtype=float)
    for svc, sends in p.upstreams.items():  # after the others: the single-source draws stay
        memory_base[svc], disk_base[svc] = rng.uniform(0.35, 0.65), rng.uniform(0.3, 0.7)
        base_errors[svc], latency_base[svc] = rng.uniform(0.05, 0.8), rng.uniform(0.05, 0.4)
        extra = {"ingest_rate": sends, **common(svc, 0.2 + 0.3 * sends / (p.base_rate * 1.6))}
        for metric, values in extra.items():
            p.series[(svc, metric)] = np.asarray(values, dtype=float)


def background_logs(p: Pipeline) -> None:
    """Heartbeats and the usual trickle of errors on every service."""
    rng = p.rng
    patterns = {
        p.names.source: "client disconnected before response (peer reset) after {n}ms",
        p.names.consumer: "retrying offset commit for partition {n}",
        p.names.dataset: "slow query on staging table took {n}ms",
        p.names.neighbour: "template render failed for job {n}",
    }
    for svc, pattern in patterns.items():
        for i in range(0, p.n, 10):
            p.logs.append(
                {"timestamp": p.at(i), "service": svc, "level": "info", "message": "heartbeat ok"}
            )
        for i in rng.choice(p.n, size=int(rng.integers(15, 60)), replace=False):
            p.logs.append(
                {
                    "timestamp": p.at(int(i)),
                    "service": svc,
                    "level": "error",
                    "message": pattern.format(n=int(rng.integers(1, 5000))),
                }
            )
    for svc in p.upstreams:
        for i in range(0, p.n, 10):
            p.logs.append(
                {"timestamp": p.at(i), "service": svc, "level": "info", "message": "heartbeat ok"}
            )
        for i in rng.choice(p.n, size=int(rng.integers(15, 60)), replace=False):
            message = f"upstream request {int(rng.integers(1, 5000))} rejected: rate limited"
            p.logs.append(
                {"timestamp": p.at(int(i)), "service": svc, "level": "error", "message": message}
            )
    lag = p.series[(p.names.consumer, "consumer_lag_seconds")]
    for i in np.nonzero(lag > 60)[0][::5]:
        p.logs.append(
            {
                "timestamp": p.at(int(i)),
                "service": p.names.consumer,
                "level": "warning",
                "message": f"consumer lag {lag[i]:.0f}s exceeds target 60s",
            }
        )


def log_burst(
    p: Pipeline, service: str, start: int, stop: int, per_minute: float, level: str, message: str
) -> None:
    """Logs at a Poisson rate per minute over [start, stop)."""
    for i in range(max(start, 0), min(stop, p.n)):
        for _ in range(int(p.rng.poisson(per_minute))):
            p.logs.append(
                {
                    "timestamp": p.at(i),
                    "service": service,
                    "level": level,
                    "message": message.format(n=int(p.rng.integers(1, 99999))),
                }
            )


def frames(
    p: Pipeline, start: int, stop: int, drop: set[tuple[str, str]]
) -> dict[str, pd.DataFrame]:
    """Long metrics, logs and changes frames over [start, stop)."""
    parts = [
        pd.DataFrame(
            {
                "timestamp": p.index[start:stop],
                "service": svc,
                "metric": metric,
                "value": np.round(values[start:stop], 4),
            }
        )
        for (svc, metric), values in sorted(p.series.items())
        if (svc, metric) not in drop
    ]
    lo, hi = p.index[start], p.index[stop - 1]
    logs = pd.DataFrame(p.logs)
    logs = logs.loc[(logs["timestamp"] >= lo) & (logs["timestamp"] <= hi)]
    logs = logs.sort_values(["timestamp", "service", "message"], kind="stable").reset_index(
        drop=True
    )
    changes = pd.DataFrame(
        p.changes, columns=["timestamp", "service", "kind", "summary", "author", "ref"]
    )
    changes = changes.loc[(changes["timestamp"] >= lo) & (changes["timestamp"] <= hi)]
    return {
        "metrics": pd.concat(parts, ignore_index=True),
        "logs": logs,
        "changes": changes.sort_values("timestamp").reset_index(drop=True),
    }


def add_service(p: Pipeline, service: str) -> None:
    """Knobs for a service beyond the four every pipeline has (a further upstream)."""
    k, n = p.knobs, p.n
    k.errors[service], k.latency[service] = np.zeros(n), np.ones(n)
    k.memory[service], k.disk[service] = np.full(n, np.nan), np.full(n, np.nan)
    k.cpu[service], k.restarts[service] = np.full(n, np.nan), np.zeros(n)
