"""Notebook side: one metric series as a template should read it (`Evidence.series`).

A snapshot keeps metrics as they came: duplicate and NaN rows, counters as running totals.
Here a series becomes one finite float per UTC timestamp, sorted, and a counter becomes what
happened in each interval, so `restarts > 0` means "a restart in this interval" whichever way
the exporter wrote it. Pure functions over frames.

**Counters.** A metric is a counter when the vocabulary declares it one (a name ending in
`_total`), a gauge when it declares it one (every vocabulary name but `restarts`, and any
other name), and for `restarts`, which exporters write either way, when its values look
cumulative (`looks_cumulative`). A counter's increments follow Prometheus' `increase()`: the
difference from the previous sample, and after a reset (a drop) the value after the reset
(the counter restarted from zero and counted that much since).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..timegrid import coverage, normalize, stamps_ns, utc
from . import vocabulary
from .quality import series_quality

COUNTER = "counter"
GAUGE = "gauge"


def clean(rows: pd.DataFrame, name: str) -> pd.Series:
    """The `timestamp`/`value` rows of one series as a float Series named `name`: UTC index
    named `timestamp`, sorted, NaN and ±infinity dropped, the finite values of one timestamp
    averaged (a timestamp without one is left out)."""
    raw = pd.Series(
        pd.to_numeric(rows["value"], errors="coerce").to_numpy(dtype="float64"),
        index=pd.DatetimeIndex(pd.to_datetime(rows["timestamp"], utc=True)),
        name=name,
    )
    series = normalize(raw)
    series.index.name = "timestamp"
    return series


def looks_cumulative(values: Any) -> bool:
    """Whether a count series is a running total rather than a count per interval.

    Over consecutive pairs of its finite values: *held* pairs keep the same value above zero,
    *jumped* pairs change to a value above zero, *rises* go up, *drops* go down. It is a
    running total when every value is ≥ 0, one is above zero, and either held > jumped (a
    total holds its value between events; a count per interval returns to zero after each
    one, so 0,0,1,0,2,0 has no held pair) or rises ≥ 2·drops + 2 (a total climbing
    through frequent events; counts per interval go up as often as down). So 3,3,3 and
    0,1,1,1,0,0,1,1 are running totals; 0,0,1,0,2,0 and 0,1,2,0 are counts per interval. A
    count per interval that repeats the same non-zero value for most of its non-zero samples
    (a restart every interval for minutes) reads as a running total: declare such a metric.
    """
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    if len(v) < 2 or v.min() < 0 or v.max() <= 0:
        return False
    before, after = v[:-1], v[1:]
    held = int(((after == before) & (after > 0)).sum())
    jumped = int(((after != before) & (after > 0)).sum())
    rises, drops = int((after > before).sum()), int((after < before).sum())
    return held > jumped or rises >= 2 * drops + 2


def kind(metric: str, values: Any) -> str:
    """'counter' or 'gauge': as the vocabulary declares the metric, else as `values` look."""
    declared = vocabulary.declared_kind(metric)
    if declared == "either":
        return COUNTER if looks_cumulative(values) else GAUGE
    return COUNTER if declared == COUNTER else GAUGE


def increments(counter: pd.Series) -> pd.Series:
    """What a running total counted in each interval, at the interval's end (the first sample
    has none): the rise since the previous sample, or after a reset (a drop) the value after
    it, as Prometheus' increase() does."""
    values = counter.to_numpy(dtype="float64")
    if len(values) < 2:
        return counter.iloc[0:0].astype("float64")
    rise = np.diff(values)
    counted = np.where(rise >= 0, rise, values[1:])
    return pd.Series(counted, index=counter.index[1:], name=counter.name)


def rate(counter: pd.Series) -> pd.Series:
    """A running total as a rate per second over each interval (its increments over the
    interval's seconds), at the interval's end."""
    counted = increments(counter)
    seconds = np.diff(stamps_ns(counter)) / 1e9
    return pd.Series(counted.to_numpy() / seconds, index=counted.index, name=counter.name)


def describe(
    rows: pd.DataFrame, key: tuple[str | None, str], window: tuple[pd.Timestamp, pd.Timestamp]
) -> dict[str, Any]:
    """A series' quality computed from its `timestamp`/`value` rows as the snapshot records it
    (`quality.series_quality`), for a snapshot frozen before its manifest had `series`: values
    that were not numbers were stored as NaN there, so they count as `missing`."""
    service, metric = key
    frame = rows.assign(service=str(service), metric=metric)
    found = series_quality(frame, pd.Series(False, index=frame.index), window)
    entry = found[0] if found else {"service": service, "metric": metric, "rows": 0}
    return {**entry, "service": service}


def shortfall(
    label: str,
    series: pd.Series,
    window: tuple[pd.Timestamp, pd.Timestamp],
    min_coverage: float,
    whole: bool,
) -> str | None:
    """None when `series` covers at least `min_coverage` of the window, else the
    `missing_data` entry: "<label> covers 41% of the window (needs 60%)"."""
    start, end = window
    share = coverage(series, start, end)
    if share >= min_coverage:
        return None
    where = "the window" if whole else f"{utc(start):%Y-%m-%d %H:%M}–{utc(end):%H:%M} UTC"
    return f"{label} covers {share:.0%} of {where} (needs {min_coverage:.0%})"
