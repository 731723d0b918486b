"""Seeded incident scenarios: evidence files in the vocabulary, a topology and the alert raised.

`generate(fault, seed)` simulates two days of a pipeline (source → consumer → dataset, plus an
unrelated neighbour) with daily seasonality and noise, injects one fault with a random
magnitude and onset, adds distractors (an unrelated deploy, a noisy neighbour, a brief spike)
and exports the evidence up to a little after the alert fired. The demo is one such scenario.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..fsutil import atomic_write
from .faults import FAULTS, distract
from .simulate import (
    MINUTES,
    NEIGHBOURS,
    PIPELINES,
    Names,
    background_logs,
    frames,
    new_pipeline,
    run,
)

DEMO_SEED = 7
DEMO_ALERT = "alerts/consumer-lag.json"
MISSING_DATA = "missing-data"
EXPORT_MINUTES = 2 * 24 * 60
__all__ = [
    "DEMO_ALERT",
    "FAULTS",
    "MISSING_DATA",
    "Scenario",
    "aftermath",
    "demo",
    "export_end",
    "generate",
    "write_scenario",
]


@dataclass
class Scenario:
    """Evidence frames, the alert payload and the truth a benchmark scores against."""

    name: str
    fault: str
    metrics: pd.DataFrame
    logs: pd.DataFrame
    changes: pd.DataFrame
    alert: dict[str, Any]
    topology: dict[str, list[str]]
    onset: datetime
    end: datetime
    distractors: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def generate(
    fault: str,
    seed: int,
    *,
    pipeline: int | None = None,
    end: datetime = datetime(2026, 11, 20, 14, 0, tzinfo=UTC),
) -> Scenario:
    """One scenario of `fault` (or MISSING_DATA: backpressure without processing_rate)."""
    if fault not in FAULTS and fault != MISSING_DATA:
        msg = f"unknown fault {fault!r} (known: {', '.join([*FAULTS, MISSING_DATA])})"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    pick = pipeline if pipeline is not None else int(rng.integers(len(PIPELINES)))
    names = Names(*PIPELINES[pick], neighbour=str(rng.choice(NEIGHBOURS)))
    p = new_pipeline(rng, names, end)
    t0 = MINUTES - 300 + int(rng.integers(-30, 30))
    rule = FAULTS["backpressure" if fault == MISSING_DATA else fault](p, t0)
    distractors = distract(p, t0, rule.service)
    run(p)
    fired = rule.fires(p)
    run_to = min(fired + int(rng.integers(10, 40)), p.n - 1)
    background_logs(p)
    drop = {(names.consumer, "processing_rate")} if fault == MISSING_DATA else set()
    evidence = frames(p, run_to - EXPORT_MINUTES + 1, run_to + 1, drop)
    topology = {
        names.source: [],
        names.consumer: [names.source],
        names.dataset: [names.consumer],
        names.neighbour: [],
    }
    return Scenario(
        name=f"{fault}-{seed}",
        fault=fault,
        metrics=evidence["metrics"],
        logs=evidence["logs"],
        changes=evidence["changes"],
        alert=_alertmanager(rule.name, rule.service, p.at(fired), seed),
        topology=topology,
        onset=p.at(t0),
        end=p.at(run_to),
        distractors=distractors,
        missing=[f"{s}/{m}" for s, m in sorted(drop)],
    )


def aftermath(
    seed: int,
    *,
    fix_at: datetime,
    fixed: bool,
    hours_after: float = 26,
    pipeline: int = 0,
) -> Scenario:
    """A backpressure incident, then a fix at `fix_at` and `hours_after` hours of what followed.

    The fix scales the consumer out fourfold (a deploy is logged at `fix_at`); with
    `fixed=False` the same deploy changes nothing and the backlog keeps growing. The evidence
    runs from two days before the fix to the end; the alert fires a few hours before the fix.
    """
    extra = int(hours_after * 60)
    rng = np.random.default_rng(seed)
    names = Names(*PIPELINES[pipeline], neighbour=str(rng.choice(NEIGHBOURS)))
    p = new_pipeline(rng, names, fix_at + timedelta(minutes=extra), MINUTES + extra)
    fix = MINUTES - 1  # p.at(fix) == fix_at
    t0 = fix - 300 + int(rng.integers(-30, 30))
    rule = FAULTS["backpressure"](p, t0)
    distractors = distract(p, t0, rule.service)
    if fixed:
        p.knobs.capacity[fix:] *= 4
    p.changes.append(
        {
            "timestamp": p.at(fix),
            "service": names.consumer,
            "kind": "config",
            "summary": f"{names.consumer}: scale out to 12 instances",
            "author": "oncall",
            "ref": f"{int(rng.integers(16**6)):06x}",
        }
    )
    run(p)
    fired = rule.fires(p)
    background_logs(p)
    evidence = frames(p, fix - EXPORT_MINUTES + 1, p.n, set())
    return Scenario(
        name=f"aftermath-{'fixed' if fixed else 'not-fixed'}-{seed}",
        fault="backpressure",
        metrics=evidence["metrics"],
        logs=evidence["logs"],
        changes=evidence["changes"],
        alert=_alertmanager(rule.name, rule.service, p.at(fired), seed),
        topology={
            names.source: [],
            names.consumer: [names.source],
            names.dataset: [names.consumer],
            names.neighbour: [],
        },
        onset=p.at(t0),
        end=p.at(p.n - 1),
        distractors=distractors,
    )


def demo() -> Scenario:
    """The bundled demo: orders-consumer falls behind when ingest outgrows its capacity.

    Besides the generated distractors it carries a harmless deploy on the upstream orders-api
    well inside recent-change's lead window, which that test must rule out.
    """
    scenario = generate("backpressure", DEMO_SEED, pipeline=0)
    harmless = {
        "timestamp": scenario.onset - timedelta(minutes=100),
        "service": "orders-api",
        "kind": "deploy",
        "summary": "orders-api v2.14.0: gift-wrap option at checkout",
        "author": "ana",
        "ref": "a1b2c3d",
    }
    changes = pd.concat([scenario.changes, pd.DataFrame([harmless])], ignore_index=True)
    scenario.changes = changes.sort_values("timestamp", kind="stable").reset_index(drop=True)
    return scenario


def _alertmanager(name: str, service: str, starts_at: datetime, seed: int) -> dict[str, Any]:
    labels = {"alertname": name, "service": service, "severity": "page", "team": "data-platform"}
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {
            "summary": f"{name} on {service}",
            "runbook_url": "https://runbooks.example/" + name,
        },
        "startsAt": starts_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": f"{seed:016x}",
    }
    return {
        "version": "4",
        "groupKey": '{}:{alertname="' + name + '"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "rca-kit",
        "groupLabels": {"alertname": name},
        "commonLabels": labels,
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager.example",
        "alerts": [alert],
    }


def _jsonl(frame: pd.DataFrame) -> str:
    out = frame.copy()
    out["timestamp"] = [pd.Timestamp(ts).strftime("%Y-%m-%dT%H:%M:%SZ") for ts in out["timestamp"]]
    return "".join(json.dumps(row) + "\n" for row in out.to_dict("records"))


def write_scenario(
    scenario: Scenario, folder: Path, alert_name: str = DEMO_ALERT
) -> dict[str, Path]:
    """Write data/metrics.csv, data/logs.jsonl, data/changes.jsonl and the alert payload."""
    metrics = scenario.metrics.copy()
    metrics["timestamp"] = metrics["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metrics": atomic_write(folder / "data" / "metrics.csv", metrics.to_csv(index=False)),
        "logs": atomic_write(folder / "data" / "logs.jsonl", _jsonl(scenario.logs)),
        "changes": atomic_write(folder / "data" / "changes.jsonl", _jsonl(scenario.changes)),
        "alert": atomic_write(folder / alert_name, json.dumps(scenario.alert, indent=2) + "\n"),
    }


def export_end(scenario: Scenario) -> datetime:
    """The time the evidence was exported: investigate 'now' as of then."""
    return scenario.end + timedelta(minutes=1)
