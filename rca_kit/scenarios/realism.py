"""Export-time realism: what scrapers, exporters and log shippers do to evidence files.

The simulated truth is one value a minute, stamped on the minute in UTC (`Scenario.metrics`,
`.logs`, `.changes`, never modified here). A family's export traits only change how that truth
is written, always within docs/evidence.md:
- steps: each series is scraped every 15 s, 30 s, 1, 2 or 5 min, at its exporter's own second,
  a few seconds of jitter on each scrape (gauges interpolated between the minutes, counts per
  interval summed, counters read as of the scrape); logs and changes land anywhere in a minute;
- mess: UTC offsets that differ row to row (a whole file may be epoch seconds instead: one
  column may not mix the two), missed scrapes, an exporter restart of a few minutes, empty and
  NaN values, a few non-numeric cells, duplicate and out-of-order rows, log levels in any case;
- counters: `restarts` as a cumulative counter (as Prometheus exports restarts) and an
  `errors_total` counter per service, both reset to 0 when a deploy or config change replaces
  the service's pods (at least once per series).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .families import exported_traits

if TYPE_CHECKING:
    from . import Scenario

STEPS = (15, 30, 60, 120, 300)  # seconds between scrapes
JITTER = 2.0  # seconds either side of a scrape's due time
ZONES = {"Z": 0, "+00:00": 0, "+02:00": 120, "-05:00": -300, "+05:30": 330}  # minutes east
NON_NUMERIC = ("n/a", "-", "ERR")
MISSED = 0.01  # share of scrapes missed
EMPTY = 0.003  # share of values empty or NaN
DUPLICATED = 0.005  # share of rows written twice
UNORDERED = 0.01  # share of rows out of place
EPOCH_FILE = {"metrics": 0.2, "logs": 0.3, "changes": 0.3}  # chance a file uses epoch seconds
Series = dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]


@dataclass
class Export:
    """The rows as written: `epoch` (UTC seconds) and `zone` per row, values as written."""

    metrics: pd.DataFrame  # epoch, zone, service, metric, value (float or text)
    logs: pd.DataFrame  # epoch, zone, service, level, message
    changes: pd.DataFrame  # epoch, zone, service, kind, summary, author, ref
    steps: dict[tuple[str, str], int] = field(default_factory=dict)  # seconds, per series
    counters: tuple[str, ...] = ()  # metrics written as cumulative counters
    epoch: dict[str, bool] = field(default_factory=dict)  # files written in epoch seconds


def _seconds(times: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(times, utc=True).astype("datetime64[ms, UTC]")
    return stamps.astype("int64").to_numpy() / 1000.0


def _resets(scenario: Scenario, service: str, t: np.ndarray, rng: np.random.Generator) -> list[int]:
    """Minutes at which a service's counters restart from 0: its deploys and config changes
    (new pods), else one random minute; never within 10 minutes of a restart it counts."""
    changes = scenario.changes
    mine = changes.loc[(changes["service"] == service) & changes["kind"].isin(["deploy", "config"])]
    at = [int(np.searchsorted(t, s)) for s in _seconds(mine["timestamp"])] if len(mine) else []
    at = [i for i in at if 0 < i < len(t)] or [int(rng.integers(len(t) // 10, len(t) - 1))]
    restarts = scenario.metrics
    rows = restarts.loc[(restarts["service"] == service) & (restarts["metric"] == "restarts")]
    busy = _seconds(rows.loc[rows["value"] > 0, "timestamp"])
    return [i for i in at if not (np.abs(busy - t[i]) < 600).any()]


def _cumulative(per_minute: np.ndarray, resets: list[int], start: float) -> np.ndarray:
    out = np.empty_like(per_minute)
    edges = [0, *sorted(set(resets)), len(per_minute)]
    for n, (lo, hi) in enumerate(pairwise(edges)):
        out[lo:hi] = (start if n == 0 else 0.0) + np.cumsum(per_minute[lo:hi])
    return out


def _counters(scenario: Scenario, series: Series, rng: np.random.Generator) -> Series:
    out = dict(series)
    for (service, metric), (t, values) in series.items():
        if metric not in ("restarts", "error_rate"):
            continue
        resets = _resets(scenario, service, t, rng)
        if metric == "restarts":
            out[(service, metric)] = (t, _cumulative(values, resets, float(rng.integers(0, 30))))
        else:  # errors in each minute, counted
            per_minute = np.floor(np.nan_to_num(values) * 60)
            start = float(rng.integers(10**4, 10**6))
            out[(service, "errors_total")] = (t, _cumulative(per_minute, resets, start))
    return out


def _scrape(
    series: Series, counters: tuple[str, ...], rng: np.random.Generator
) -> tuple[Series, dict[tuple[str, str], int]]:
    """Each series at its own step, its exporter's second and a jitter (see the docstring)."""
    second = {svc: float(rng.uniform(0, 60)) for svc in sorted({s for s, _ in series})}
    out: Series = {}
    steps: dict[tuple[str, str], int] = {}
    for (service, metric), (t, values) in series.items():
        step = int(rng.choice(STEPS))
        phase = second[service] % step if step < 60 else second[service]
        phase += 60 * int(rng.integers(max(step // 60, 1)))
        due = np.arange(t[0] + phase, t[-1] + 1e-9, step)
        times = np.clip(due + np.round(rng.uniform(-JITTER, JITTER, len(due)), 3), t[0], t[-1])
        at = np.searchsorted(t, times, side="right") - 1
        if metric in counters:
            sampled = values[at]
        elif metric == "restarts":  # restarts in each scrape's interval
            total = np.cumsum(values)[at]
            sampled = np.diff(total, prepend=total[0] - values[at[0]])
        else:
            sampled = np.interp(times, t, values)
        out[(service, metric)] = (times, np.round(sampled, 4))
        steps[(service, metric)] = step
    return out, steps


def _misplace(count: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """An order of `count` rows with about `share` of them moved somewhere else."""
    key = np.arange(count, dtype=float)
    moved = rng.random(count) < share
    key[moved] = rng.uniform(0, count, int(moved.sum()))
    return np.argsort(key, kind="stable")


def _mess_metrics(
    frame: pd.DataFrame, keep: tuple[float, float], rng: np.random.Generator
) -> pd.DataFrame:
    """Missed scrapes, an exporter restart (outside `keep`), empty, NaN and non-numeric
    values, duplicates and unordered rows. A scrape that saw a restart is never lost."""
    precious = (frame["metric"] == "restarts") & (frame["value"] != frame["value"].shift())
    lost = (rng.random(len(frame)) < MISSED) & ~precious.to_numpy()
    services = sorted(frame["service"].unique())
    down = str(rng.choice(services))
    span = float(rng.uniform(3, 15)) * 60
    lo, hi = float(frame["epoch"].min()), float(frame["epoch"].max()) - span
    for _ in range(100):
        start = float(rng.uniform(lo, hi))
        if start + span < keep[0] - 1200 or start > keep[1] + 600:
            break
    restarted = (frame["service"] == down) & frame["epoch"].between(start, start + span)
    frame = frame.loc[~lost & ~restarted.to_numpy()].reset_index(drop=True)
    values = frame["value"].astype(object)
    open_rows = np.flatnonzero(~((frame["metric"] == "restarts") & (frame["value"] != 0)))
    empty = open_rows[rng.random(len(open_rows)) < EMPTY]
    values.iloc[empty] = [np.nan if rng.random() < 0.5 else "NaN" for _ in empty]
    bad = rng.choice(open_rows, size=int(rng.integers(10, 40)), replace=False)
    values.iloc[bad] = [str(rng.choice(NON_NUMERIC)) for _ in bad]
    frame["value"] = values
    twice = frame.loc[rng.random(len(frame)) < DUPLICATED]
    frame = pd.concat([frame, twice], ignore_index=True).sort_values("epoch", kind="stable")
    return frame.iloc[_misplace(len(frame), UNORDERED, rng)].reset_index(drop=True)


def _mess_logs(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Levels in any case, a few lines shipped twice, lines out of order."""
    cases = rng.integers(0, 3, len(frame))
    levels = frame["level"].astype(str)
    frame["level"] = np.where(
        cases == 1, levels.str.upper(), np.where(cases == 2, levels.str.capitalize(), levels)
    )
    twice = frame.loc[rng.random(len(frame)) < DUPLICATED / 2]
    frame = pd.concat([frame, twice], ignore_index=True).sort_values("epoch", kind="stable")
    return frame.iloc[_misplace(len(frame), UNORDERED, rng)].reset_index(drop=True)


def export(scenario: Scenario) -> Export:
    """The scenario's evidence as its family writes it (deterministic from its seed)."""
    have = exported_traits(scenario.family)
    rng = np.random.default_rng([scenario.seed, 9])
    truth = scenario.metrics
    series: Series = {
        (str(svc), str(metric)): (_seconds(g["timestamp"]), g["value"].to_numpy(dtype=float))
        for (svc, metric), g in truth.groupby(["service", "metric"], sort=True)
    }
    counters = ("restarts", "errors_total") if "counters" in have else ()
    if counters:
        series = _counters(scenario, series, rng)
    steps = dict.fromkeys(series, 60)
    if "steps" in have:
        series, steps = _scrape(series, counters, rng)
    metrics = pd.concat(
        [
            pd.DataFrame({"epoch": t, "service": s, "metric": m, "value": v})
            for (s, m), (t, v) in sorted(series.items())
        ],
        ignore_index=True,
    )
    logs = scenario.logs.assign(epoch=_seconds(scenario.logs["timestamp"])).drop(
        columns="timestamp"
    )
    changes = scenario.changes.assign(epoch=_seconds(scenario.changes["timestamp"])).drop(
        columns="timestamp"
    )
    if "steps" in have:  # events happen at any second, not on the minute
        logs["epoch"] += np.round(rng.uniform(0, 59.999, len(logs)), 3)
        changes["epoch"] += np.round(rng.uniform(0, 59.999, len(changes)), 3)
    epoch = dict.fromkeys(EPOCH_FILE, False)
    if "mess" in have:
        starts = pd.Timestamp(scenario.alert["alerts"][0]["startsAt"]).timestamp()
        metrics = _mess_metrics(metrics, (scenario.onset.timestamp(), starts), rng)
        logs = _mess_logs(logs, rng)
        changes = changes.iloc[_misplace(len(changes), 0.3, rng)].reset_index(drop=True)
        epoch = {kind: bool(rng.random() < p) for kind, p in EPOCH_FILE.items()}
    frames = {"metrics": metrics, "logs": logs, "changes": changes}
    for frame in frames.values():
        names = list(ZONES) if "mess" in have else ["Z"]
        frame["zone"] = rng.choice(names, size=len(frame))
    return Export(metrics, logs, changes, steps, counters, epoch)


def _stamps(epoch: np.ndarray, zones: np.ndarray, as_epoch: bool) -> list[Any]:
    """Timestamps as written: epoch seconds, or ISO 8601 in each row's zone."""
    ms = np.round(np.asarray(epoch, dtype=float) * 1000).astype("int64")
    whole = bool((ms % 1000 == 0).all())
    if as_epoch:
        return [int(v) // 1000 for v in ms] if whole else [round(v / 1000, 3) for v in ms]
    out = np.empty(len(ms), dtype=object)
    for zone, minutes in ZONES.items():
        chosen = zones == zone
        local = (ms[chosen] + minutes * 60_000).astype("datetime64[ms]")
        text = np.datetime_as_string(local, unit="s" if whole else "ms").astype(object)
        out[chosen] = text + zone
    return list(out)


def render(exported: Export) -> dict[str, str]:
    """The text of metrics.csv, logs.jsonl and changes.jsonl."""
    texts = {}
    for kind, columns in (
        ("metrics", ["service", "metric", "value"]),
        ("logs", ["service", "level", "message"]),
        ("changes", ["service", "kind", "summary", "author", "ref"]),
    ):
        frame = getattr(exported, kind)
        stamps = _stamps(
            frame["epoch"].to_numpy(), frame["zone"].to_numpy(), exported.epoch.get(kind, False)
        )
        out = pd.DataFrame({"timestamp": stamps, **{c: frame[c] for c in columns}})
        if kind == "metrics":
            texts[kind] = out.to_csv(index=False)
        else:
            rows = out.to_dict("records")
            texts[kind] = "".join(json.dumps(row) + "\n" for row in rows)
    return texts
