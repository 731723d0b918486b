"""Per-series quality of frozen metrics: native step, gaps, duplicates and window coverage.

Pure functions over frames (no I/O), computed when a snapshot is frozen and recorded in its
manifest's `series` (docs/evidence.md, "The snapshot").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

GAP_FACTOR = 2.5  # an interval longer than this many steps is a gap (one or two missed scrapes)


def infer_step(timestamps: Iterable[Any]) -> pd.Timedelta | None:
    """A series' native sampling step: the median of the positive intervals between its
    distinct timestamps (sorted), rounded to the second (to the millisecond below one second);
    None with fewer than two distinct timestamps.

    The median ignores the odd gap, duplicate or jittered sample, so a 1-minute scrape with
    a few missed points and a second of jitter is still 60 s.
    """
    if isinstance(timestamps, pd.DatetimeIndex):  # a series' index: no round trip through a list
        given = timestamps
        stamps = (given.tz_convert("UTC") if given.tz else given.tz_localize("UTC")).dropna()
    else:
        stamps = pd.DatetimeIndex(pd.to_datetime(list(timestamps), utc=True)).dropna()
    given_ns = stamps.as_unit("ns").asi8
    increasing = len(given_ns) < 2 or bool((np.diff(given_ns) > 0).all())  # a clean series' index
    ns = _step_ns(given_ns if increasing else np.unique(given_ns))
    return None if ns is None else pd.Timedelta(ns, unit="ns")


def _step_ns(distinct: np.ndarray) -> int | None:
    """infer_step over sorted distinct epoch nanoseconds."""
    if len(distinct) < 2:
        return None
    step = pd.Timedelta(int(np.median(np.diff(distinct))), unit="ns")
    rounded = step.round("s")
    return int((rounded if rounded >= pd.Timedelta(seconds=1) else step.round("ms")).value)


def _ns(moment: datetime | pd.Timestamp) -> int:
    return int(pd.Timestamp(moment).as_unit("ns").value)


def coverage(valued: np.ndarray, step_ns: int | None, start_ns: int, end_ns: int) -> float:
    """The share of [start, end] that samples cover: each sample with a value covers half a
    step either side of it, and two samples at most GAP_FACTOR steps apart cover the time
    between them. 0.0 without a step (fewer than two timestamps) or an empty window."""
    if step_ns is None or not len(valued) or end_ns <= start_ns:
        return 0.0
    half = step_ns / 2
    breaks = np.flatnonzero(np.diff(valued) > GAP_FACTOR * step_ns)
    firsts = valued[np.concatenate(([0], breaks + 1))] - half
    lasts = valued[np.concatenate((breaks, [len(valued) - 1]))] + half
    covered = np.clip(np.minimum(lasts, end_ns) - np.maximum(firsts, start_ns), 0, None).sum()
    return round(float(covered) / (end_ns - start_ns), 4)


def data_end(frames: dict[str, pd.DataFrame], window_end: datetime) -> pd.Timestamp:
    """The last observation of metrics or logs, at most the window's end (as
    `Evidence.data_end`: a still-firing alert's window runs past its data)."""
    stamps = [f["timestamp"].max() for k in ("metrics", "logs") if len(f := frames[k])]
    end = pd.Timestamp(window_end)
    return min(max(stamps), end) if stamps else end


def series_quality(
    metrics: pd.DataFrame,
    unreadable: pd.Series,
    window: tuple[datetime | pd.Timestamp, datetime | pd.Timestamp],
) -> list[dict[str, Any]]:
    """Per (service, metric), sorted: rows, missing values (empty, NaN), unreadable values (not
    numbers; `unreadable` marks them), duplicate timestamps, native step in seconds, gaps (intervals
    between samples with a value longer than GAP_FACTOR steps), first and last timestamp, and
    `coverage` of the window [start, end] (`coverage`)."""
    if metrics.empty:
        return []
    start_ns, end_ns = (_ns(moment) for moment in window)
    frame = pd.DataFrame(
        {
            "service": metrics["service"].astype(str),
            "metric": metrics["metric"].astype(str),
            "ns": pd.DatetimeIndex(metrics["timestamp"]).as_unit("ns").asi8,
            "value": metrics["value"].to_numpy(dtype="float64"),
            "unreadable": unreadable.to_numpy(dtype=bool),
        }
    )
    found = []
    for (service, metric), rows in frame.groupby(["service", "metric"], sort=True):
        ns = rows["ns"].to_numpy()
        values = rows["value"].to_numpy()
        bad = rows["unreadable"].to_numpy()
        distinct = np.unique(ns)
        step = _step_ns(distinct)
        valued = np.unique(ns[~np.isnan(values)])
        gaps = int((np.diff(valued) > GAP_FACTOR * step).sum()) if step else 0
        found.append(
            {
                "service": service,
                "metric": metric,
                "rows": len(rows),
                "missing": int((np.isnan(values) & ~bad).sum()),
                "unreadable": int(bad.sum()),
                "duplicates": len(rows) - len(distinct),
                "step_seconds": round(step / 1e9, 3) if step else None,
                "gaps": gaps,
                "first": pd.Timestamp(int(distinct[0]), unit="ns", tz="UTC").isoformat(),
                "last": pd.Timestamp(int(distinct[-1]), unit="ns", tz="UTC").isoformat(),
                "coverage": coverage(valued, step, start_ns, end_ns),
            }
        )
    return found
