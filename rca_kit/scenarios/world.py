"""What a family changes in the simulated world: fan-in topologies, concurrent unrelated
anomalies, alerts on seasonal traffic with no fault, alerts that fire late.

Export-time realism (scrape steps, messy files, counters) is in `realism.py`; these change the
truth itself, before `run` derives the metrics.
"""

from __future__ import annotations

import numpy as np

from .faults import AlertRule, _drop_alert, sustained
from .simulate import Names, Pipeline, add_service, log_burst

# Fan-in pipelines: several upstreams feed one consumer (names unlike the single-source ones).
FAN_IN = (
    (("web-checkout", "mobile-bff", "partner-feed", "pos-gateway"), "sales-ingestor", "sales-lake"),
    (("sensor-hub-eu", "sensor-hub-us", "sensor-hub-apac"), "telemetry-rollup", "telemetry-tsdb"),
    (("crm-sync", "web-signup", "ads-attribution", "support-desk"), "profile-merger", "crm-360"),
    (("ledger-api", "card-processor", "wire-gateway"), "txn-normalizer", "finance-mart"),
)
FAN_IN_NEIGHBOURS = ("image-resizer", "notification-hub", "pdf-renderer", "feature-store")
LATE_MINUTES = (60, 240)  # a late alert fires this long after the fault's onset
LATE_SHIFT = 240  # minutes the onset moves earlier so a late alert still fits the simulation


def fan_in_names(rng: np.random.Generator) -> tuple[Names, list[str]]:
    """Names of a fan-in pipeline: (names with the first upstream as source, the others)."""
    sources, consumer, dataset = FAN_IN[int(rng.integers(len(FAN_IN)))]
    count = int(rng.integers(2, len(sources) + 1))
    chosen = [str(s) for s in rng.choice(sources, size=count, replace=False)]
    neighbour = str(rng.choice(FAN_IN_NEIGHBOURS))
    return Names(chosen[0], consumer, dataset, neighbour), chosen[1:]


def add_upstreams(p: Pipeline, others: list[str]) -> None:
    """The other upstreams send 25-45% of the consumer's records, each with its own daily cycle
    (call before the fault: their share follows the undisturbed demand)."""
    rng = p.rng
    hours = np.asarray(p.index.hour + p.index.minute / 60, dtype=float)
    share = rng.uniform(0.25, 0.45) * rng.dirichlet(np.ones(len(others)))
    for name, part in zip(others, share, strict=True):
        cycle = 1 + rng.uniform(0.05, 0.2) * np.cos((hours - rng.uniform(0, 24)) / 24 * 2 * np.pi)
        p.upstreams[name] = p.knobs.demand * part * cycle * (1 + rng.normal(0, 0.02, p.n))
        add_service(p, name)


def topology(names: Names, others: list[str], rng: np.random.Generator) -> dict[str, list[str]]:
    """[topology] of the pipeline; a fan-in consumer lists its upstreams in no telling order."""
    if not others:
        return {
            names.source: [],
            names.consumer: [names.source],
            names.dataset: [names.consumer],
            names.neighbour: [],
        }
    upstreams = [names.source, *others]
    order = [upstreams[int(i)] for i in rng.permutation(len(upstreams))]
    return {
        **{u: [] for u in sorted(upstreams)},
        names.consumer: order,
        names.dataset: [names.consumer],
        names.neighbour: [],
    }


def concurrent(p: Pipeline, t0: int, fault: str, alert_service: str) -> list[str]:
    """One or two unrelated anomalies at the same time as the fault; returns their names.

    None of them can produce the alert's symptom: a neighbour's own incident, a slower but
    healthy upstream (latency only: nothing it sends changes), a memory step on a service that
    is not the alert's, a disk filling elsewhere but staying below the 0.95 of disk-pressure.
    """
    k, rng, names = p.knobs, p.rng, p.names
    kinds = ["neighbour-incident", "memory-step"]
    if fault != "upstream-degradation" and alert_service != names.source:
        kinds.append("upstream-latency")
    if fault != "disk-pressure":
        kinds.append("disk-climb")
    chosen = [str(c) for c in rng.choice(kinds, size=int(rng.integers(1, 3)), replace=False)]
    start = t0 + int(rng.integers(-15, 10))
    stop = start + int(rng.integers(40, 150))
    for kind in chosen:
        if kind == "neighbour-incident":
            k.errors[names.neighbour][start:stop] += rng.uniform(3, 10)
            k.latency[names.neighbour][start:stop] *= rng.uniform(2, 4)
            k.cpu[names.neighbour][start:stop] = rng.uniform(0.93, 0.99)
            log_burst(p, names.neighbour, start, stop, rng.uniform(5, 15), "error", "job {n} lost")
            p.changes.append(
                {
                    "timestamp": p.at(start),
                    "service": names.neighbour,
                    "kind": "deploy",
                    "summary": f"{names.neighbour} v{rng.integers(2, 40)}.0: new renderer",
                    "author": "ci",
                    "ref": f"{rng.integers(16**6):06x}",
                }
            )
        elif kind == "upstream-latency":
            k.latency[names.source][start:stop] *= rng.uniform(1.6, 3.0)
        elif kind == "memory-step":
            others = [
                s for s in (names.source, names.dataset, names.neighbour) if s != alert_service
            ]
            svc = str(rng.choice(others))
            k.memory[svc][start:] = rng.uniform(0.55, 0.75) + rng.normal(0, 0.006, p.n - start)
        else:  # disk-climb, on a service that is not the alert's
            svc = names.neighbour if alert_service != names.neighbour else names.source
            climb = np.linspace(rng.uniform(0.6, 0.7), rng.uniform(0.86, 0.92), stop - start)
            k.disk[svc][start:stop] = climb
            k.disk[svc][stop:] = climb[-1] + rng.normal(0, 0.002, p.n - stop)
    return [f"concurrent:{kind}" for kind in chosen]


def seasonal(p: Pipeline, t0: int) -> AlertRule:
    """No fault: the traffic's daily pattern itself trips an alert.

    Either an evening decline (every day, the source sends 40-55% less within an hour and the
    consumer's throughput or the dataset's rows fall with it: errors and latency stay as they
    are), or a daily peak of the consumer's processing latency crossing a static threshold.
    """
    k, rng = p.knobs, p.rng
    hours = np.asarray(p.index.hour + p.index.minute / 60, dtype=float)
    since = (hours - hours[t0]) % 24  # hours since this time of day
    if rng.random() < 0.6:
        depth, fall, night = rng.uniform(0.4, 0.55), rng.uniform(0.5, 1.0), rng.uniform(6, 9)
        low = np.clip(since / fall, 0, 1) * np.clip((night + 1.5 - since) / 1.5, 0, 1)
        k.demand *= 1 - depth * low
        if rng.random() < 0.5:
            return _drop_alert("ThroughputLow", p.names.consumer, "processing_rate", t0, 0.7)
        return _drop_alert("RowCountLow", p.names.dataset, "row_count", t0, 0.7)
    svc, width, height = p.names.consumer, rng.uniform(1.0, 2.0), rng.uniform(0.6, 1.2)
    around = (since + 12) % 24 - 12 - width  # the daily bump peaks `width` hours after t0
    k.latency[svc] *= 1 + height * np.exp(-((around / width) ** 2))

    def fires(q: Pipeline) -> int:
        latency = q.series[(svc, "latency_p99_seconds")]
        usual = float(np.median(latency[t0 - 360 : t0 - 240]))
        return sustained(latency, t0, lambda v: v > usual * (1 + 0.4 * height), 5)

    return AlertRule("ProcessingDelayHigh", svc, fires)
