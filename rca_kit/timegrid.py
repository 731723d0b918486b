"""Series on a time axis: durations in wall time, alignment by time, "same time yesterday".

Pure functions over pandas Series indexed by UTC timestamps (`Evidence.series` gives them);
`rca_kit.stats` re-exports every public name, so templates write `stats.align(...)`. Two
exporters scrape at their own second and their own step, so nothing here matches timestamps
exactly: a value is looked up at the nearest sample within a stated tolerance, which defaults
to the series' native step (`rca_kit.evidence.quality.infer_step`), and a lookup that finds
no sample within it finds nothing, never a sample further away.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from .evidence import quality
from .evidence.quality import infer_step
from .exceptions import InputError

Duration = str | timedelta | pd.Timedelta


def duration(value: Duration) -> pd.Timedelta:
    """A duration in wall time: '5min', '90s', '1h', a timedelta. A bare number is refused: it
    could mean samples, seconds or minutes (write '5min')."""
    if isinstance(value, bool | int | float | np.number):
        msg = f"a duration must be wall time such as '5min' or '90s', not the number {value!r}"
        raise InputError(msg, hint="write the unit: '5min', '30s', '2h'")
    try:
        found = pd.Timedelta(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{value!r} is not a duration ({exc})", hint="e.g. '5min'") from None
    if pd.isna(found) or found < pd.Timedelta(0):
        raise InputError(f"{value!r} is not a positive duration")
    return found


def utc(moment: datetime | pd.Timestamp | str) -> pd.Timestamp:
    """A moment as a UTC timestamp (a naive one is taken as UTC, as the snapshot stores them)."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def normalize(series: pd.Series) -> pd.Series:
    """Finite values, UTC nanosecond index, sorted, one value per timestamp (their mean)."""
    index = series.index
    if (  # already clean (as `Evidence.series` gives it): checked, not rebuilt
        isinstance(index, pd.DatetimeIndex)
        and str(index.tz) == "UTC"
        and series.dtype == "float64"
        and index.is_monotonic_increasing
        and index.is_unique
        and bool(np.isfinite(series.to_numpy()).all())
    ):
        return series if index.unit == "ns" else series.set_axis(index.as_unit("ns"))
    values = pd.to_numeric(series, errors="coerce").astype("float64")
    index = pd.DatetimeIndex(pd.to_datetime(series.index, utc=True)).as_unit("ns")
    frame = pd.Series(values.to_numpy(), index=index, name=series.name)
    frame = frame[np.isfinite(frame.to_numpy())]
    if not frame.index.is_unique:
        frame = frame.groupby(level=0).mean()
    return frame.sort_index() if not frame.index.is_monotonic_increasing else frame


def stamps_ns(series: pd.Series) -> np.ndarray:
    """The series' timestamps as epoch nanoseconds (its index must be a DatetimeIndex)."""
    return np.asarray(pd.DatetimeIndex(series.index).as_unit("ns").asi8)


def step(series: pd.Series) -> pd.Timedelta | None:
    """The series' native sampling step (median interval), None under two timestamps."""
    return infer_step(series.index)


def points(series: pd.Series, span: Duration) -> int:
    """How many samples `span` holds at the series' native step (at least 1): for code that
    must count samples, e.g. `series.diff(stats.points(series, "15min"))`."""
    native = step(series)
    wanted = duration(span)
    return max(1, round(wanted / native)) if native else 1


def rolling_median(
    series: pd.Series, window: Duration, *, min_coverage: float = 0.5, center: bool = False
) -> pd.Series:
    """The median over a window of wall time ending at each sample (centred on it with
    `center`), whatever the step: '5min' is five minutes at a 15 s or a 5 min scrape.

    A window needs `min_coverage` of the samples it holds at the native step (at least one);
    points whose window holds fewer (the series' first minutes, after a gap) are left out.
    """
    clean = normalize(series)
    span = duration(window)
    native = step(clean) or span
    expected = max(1, int(span / native)) if native > pd.Timedelta(0) else 1
    least = max(1, math.ceil(min_coverage * expected))
    found: pd.Series = clean.rolling(span, min_periods=least, center=center).median().dropna()
    found.name = series.name
    return found


def coverage(
    series: pd.Series,
    start: datetime | pd.Timestamp,
    end: datetime | pd.Timestamp,
    native: pd.Timedelta | None = None,
) -> float:
    """The share of [start, end] the series covers, in 0..1, as the manifest's `coverage`
    counts it (`quality.coverage`): each sample covers half a step either side of it, and two
    samples at most 2.5 steps apart cover the time between them (a longer interval is a gap).
    0.0 when empty or the step is unknown (a single sample)."""
    clean = normalize(series)
    native = native or step(clean)
    lo, hi = utc(start).as_unit("ns").value, utc(end).as_unit("ns").value
    if native is None or clean.empty:
        return 0.0
    return min(quality.coverage(stamps_ns(clean), native.value, lo, hi), 1.0)


def _names(series: Sequence[pd.Series], names: Sequence[str] | None) -> list[str]:
    chosen = list(names) if names is not None else [str(s.name) for s in series]
    if len(chosen) != len(series) or len(set(chosen)) != len(chosen):
        msg = f"align needs one distinct name per series (have {chosen})"
        raise InputError(msg, hint="pass names=[...] when two series share a metric name")
    return chosen


def align(
    *series: pd.Series,
    tolerance: Duration | None = None,
    names: Sequence[str] | None = None,
    how: str = "nearest",
) -> pd.DataFrame:
    """Several series on one time grid, one column each, rows where every one has a value.

    The grid is the timestamps of the coarsest series (the largest native step; the first
    of equals). Every other series contributes, at each grid time, with `how="nearest"` its
    nearest sample within `tolerance` (default: that coarsest step), with `how="mean"` the
    mean of its samples within half a coarse step either side. Exporters at different steps,
    phases and jitter therefore meet; a grid time that has nothing within the tolerance in
    some series is dropped, never filled from further away.
    """
    if how not in ("nearest", "mean"):
        raise InputError(f"align how={how!r}: use 'nearest' or 'mean'")
    columns = _names(series, names)
    clean = [normalize(s) for s in series]
    if not clean:
        return pd.DataFrame()
    steps = [step(s) or pd.Timedelta(0) for s in clean]
    coarse = max(range(len(clean)), key=lambda i: (steps[i], -i))
    window = duration(tolerance) if tolerance is not None else steps[coarse]
    grid = pd.DatetimeIndex(clean[coarse].index)
    frame = pd.DataFrame(index=grid)
    for name, values, i in zip(columns, clean, range(len(clean)), strict=True):
        if i == coarse:
            frame[name] = values.to_numpy()
        elif how == "nearest":
            frame[name] = _nearest(values, grid, window)
        else:
            frame[name] = _window_mean(values, grid, steps[coarse] / 2)
    frame.index.name = "timestamp"
    return frame.dropna()


def _nearest(values: pd.Series, at: pd.DatetimeIndex, tolerance: pd.Timedelta) -> np.ndarray:
    """The value of the sample nearest each of `at` within `tolerance` (NaN when none); on a
    tie, the earlier sample."""
    result = np.full(len(at), np.nan)
    if values.empty or not len(at):
        return result
    stamps, wanted = stamps_ns(values), pd.DatetimeIndex(at).as_unit("ns").asi8
    right = np.clip(np.searchsorted(stamps, wanted, side="left"), 0, len(stamps) - 1)
    left = np.clip(right - 1, 0, len(stamps) - 1)
    pick = np.where(np.abs(wanted - stamps[left]) <= np.abs(stamps[right] - wanted), left, right)
    close = np.abs(stamps[pick] - wanted) <= tolerance.value
    result[close] = values.to_numpy()[pick[close]]
    return result


def _window_mean(values: pd.Series, at: pd.DatetimeIndex, half: pd.Timedelta) -> np.ndarray:
    """The mean of the samples in [t - half, t + half) around each of `at` (NaN when none)."""
    stamps, wanted = stamps_ns(values), pd.DatetimeIndex(at).as_unit("ns").asi8
    lo = np.searchsorted(stamps, wanted - half.value, side="left")
    hi = np.searchsorted(stamps, wanted + half.value, side="left")
    sums = np.concatenate(([0.0], np.cumsum(values.to_numpy())))
    counts = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (sums[hi] - sums[lo]) / counts
    return np.where(counts > 0, means, np.nan)


def at(
    series: pd.Series, when: datetime | pd.Timestamp | str, tolerance: Duration | None = None
) -> float | None:
    """The value of the sample nearest `when` within `tolerance` (default: the native step);
    None when no sample is that close (never a chance match further away)."""
    clean = normalize(series)
    window = duration(tolerance) if tolerance is not None else (step(clean) or pd.Timedelta(0))
    found = _nearest(clean, pd.DatetimeIndex([utc(when)]), window)[0]
    return None if np.isnan(found) else float(found)


def same_time(
    series: pd.Series,
    when: datetime | pd.Timestamp | str,
    *,
    days: float = 1,
    tolerance: Duration | None = None,
) -> float | None:
    """The value `days` before `when` ("same time yesterday": days=1, last week: days=7), from
    the nearest sample within `tolerance` (default: the native step); None when there is none."""
    return at(series, utc(when) - pd.Timedelta(days=days), tolerance)


def seasonal_baseline(
    series: pd.Series,
    at_times: Iterable[Any],
    periods: Sequence[Duration] = ("1D", "7D"),
    tolerance: Duration | None = None,
) -> pd.DataFrame:
    """For each of `at_times`, the series' value one period earlier (same time yesterday, last
    week: nearest sample within `tolerance`, default the native step), one column per period
    (named as given), and `baseline`: their median where any exists. NaN marks no sample that
    close (the lookback does not reach that far): check `.notna().mean()` before relying on it.
    """
    clean = normalize(series)
    window = duration(tolerance) if tolerance is not None else (step(clean) or pd.Timedelta(0))
    index = pd.DatetimeIndex([utc(t) for t in at_times]).as_unit("ns")
    frame = pd.DataFrame(index=index)
    for period in periods:
        frame[str(period)] = _nearest(clean, index - duration(period), window)
    values = frame.to_numpy()
    has = ~np.isnan(values).all(axis=1) if len(frame.columns) else np.zeros(len(frame), bool)
    median = np.full(len(frame), np.nan)
    if has.any():
        median[has] = np.nanmedian(values[has], axis=1)
    frame["baseline"] = median
    frame.index.name = "timestamp"
    return frame
