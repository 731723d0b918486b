"""Seeded incident scenarios: evidence files in the vocabulary, a topology and the alert raised.

`generate(fault, seed)` simulates two days of a pipeline (source → consumer → dataset, plus an
unrelated neighbour) with daily seasonality and noise, injects one fault with a random
magnitude and onset, adds distractors (an unrelated deploy, a noisy neighbour, a brief spike)
and exports the evidence up to a little after the alert fired. The demo is one such scenario.

`generate(fault, seed, family=...)` adds realism by family (`families.py`): world traits change
the truth (late alerts, concurrent anomalies, fan-in, subtle magnitudes, no fault), export
traits only how `write_scenario` writes it (`realism.py`: scrape steps, mess, counters).
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
from .families import FAMILIES, NO_FAULT, exported_traits, traits
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
from .subtle import SUBTLE
from .world import (
    LATE_MINUTES,
    LATE_SHIFT,
    add_upstreams,
    concurrent,
    fan_in_names,
    seasonal,
    topology,
)

DEMO_SEED = 7
DEMO_ALERT = "alerts/consumer-lag.json"
MISSING_DATA = "missing-data"
EXPORT_MINUTES = 2 * 24 * 60
__all__ = [
    "DEMO_ALERT",
    "FAMILIES",
    "FAULTS",
    "MISSING_DATA",
    "NO_FAULT",
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
    family: str = "clean"
    seed: int = 0
    # subtle faults: name -> (value, the threshold of the spec's criterion it lies just beyond)
    magnitudes: dict[str, tuple[float, float]] = field(default_factory=dict)


def generate(
    fault: str,
    seed: int,
    *,
    family: str = "clean",
    pipeline: int | None = None,
    end: datetime = datetime(2026, 11, 20, 14, 0, tzinfo=UTC),
) -> Scenario:
    """One scenario of `fault` (MISSING_DATA: backpressure without processing_rate; NO_FAULT:
    an alert on seasonal traffic) in a family of FAMILIES, or traits joined by "+"."""
    have = traits(family)
    if fault not in FAULTS and fault not in (MISSING_DATA, NO_FAULT):
        msg = f"unknown fault {fault!r} (known: {', '.join([*FAULTS, MISSING_DATA, NO_FAULT])})"
        raise ValueError(msg)
    if "no-fault" in have and fault != NO_FAULT:
        msg = f"the {family!r} family injects no fault: generate({NO_FAULT!r}, seed, ...)"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    variant = np.random.default_rng([seed, 8])  # the family's own draws: the clean ones stay
    others: list[str] = []
    if "fan-in" in have:
        names, others = fan_in_names(variant)
    else:
        pick = pipeline if pipeline is not None else int(rng.integers(len(PIPELINES)))
        names = Names(*PIPELINES[pick], neighbour=str(rng.choice(NEIGHBOURS)))
    p = new_pipeline(rng, names, end)
    if others:
        add_upstreams(p, others)
    t0 = MINUTES - 300 + int(rng.integers(-30, 30)) - (LATE_SHIFT if "late" in have else 0)
    cause = "backpressure" if fault == MISSING_DATA else fault
    if fault == NO_FAULT:
        rule = seasonal(p, t0)
    else:
        rule = (SUBTLE if "subtle" in have else FAULTS)[cause](p, t0)
    distractors = distract(p, t0, rule.service)
    if "concurrent" in have:
        distractors += concurrent(p, t0, cause, rule.service)
    run(p)
    fired = rule.fires(p)
    if "late" in have:
        fired = max(fired, t0 + int(variant.integers(*LATE_MINUTES)))
    run_to = min(fired + int(rng.integers(10, 40)), p.n - 1)
    background_logs(p)
    drop = {(names.consumer, "processing_rate")} if fault == MISSING_DATA else set()
    # a late alert's onset moved earlier: the export then starts where the simulation does
    evidence = frames(p, max(0, run_to - EXPORT_MINUTES + 1), run_to + 1, drop)
    return Scenario(
        name=f"{fault}-{seed}" if family == "clean" else f"{family}-{fault}-{seed}",
        fault=fault,
        metrics=evidence["metrics"],
        logs=evidence["logs"],
        changes=evidence["changes"],
        alert=_alertmanager(rule.name, rule.service, p.at(fired), seed),
        topology=topology(names, others, variant),
        onset=p.at(t0),
        end=p.at(run_to),
        distractors=distractors,
        missing=[f"{s}/{m}" for s, m in sorted(drop)],
        family=family,
        seed=seed,
        magnitudes=dict(p.magnitudes),
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
    """Write data/metrics.csv, data/logs.jsonl, data/changes.jsonl and the alert payload
    (as the family's export traits say: realism.py)."""
    if exported_traits(scenario.family):
        from .realism import export, render

        texts = render(export(scenario))
    else:
        metrics = scenario.metrics.copy()
        metrics["timestamp"] = metrics["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        texts = {
            "metrics": metrics.to_csv(index=False),
            "logs": _jsonl(scenario.logs),
            "changes": _jsonl(scenario.changes),
        }
    return {
        "metrics": atomic_write(folder / "data" / "metrics.csv", texts["metrics"]),
        "logs": atomic_write(folder / "data" / "logs.jsonl", texts["logs"]),
        "changes": atomic_write(folder / "data" / "changes.jsonl", texts["changes"]),
        "alert": atomic_write(folder / alert_name, json.dumps(scenario.alert, indent=2) + "\n"),
    }


def export_end(scenario: Scenario) -> datetime:
    """The time the evidence was exported: investigate 'now' as of then."""
    return scenario.end + timedelta(minutes=1)
