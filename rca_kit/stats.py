"""Small robust statistics shared by hypothesis templates (pure: frames in, numbers out).

Durations are wall time ('5min'), never a number of samples, so a test means the same at a
15 s and a 5 min scrape; the time-axis helpers (align, at, same_time, rolling_median,
coverage, seasonal_baseline) live in rca_kit.timegrid and are re-exported here.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from .evidence.quality import GAP_FACTOR
from .exceptions import InputError
from .timegrid import (
    Duration,
    align,
    at,
    coverage,
    duration,
    normalize,
    points,
    rolling_median,
    same_time,
    seasonal_baseline,
    stamps_ns,
    step,
    utc,
)

__all__ = [
    "align",
    "at",
    "clip01",
    "coverage",
    "duration",
    "finite",
    "longest_run",
    "normalize",
    "onset",
    "points",
    "robust_scale",
    "robust_shift",
    "rolling_median",
    "runs",
    "same_time",
    "seasonal_baseline",
    "step",
    "upstreams",
    "utc",
]

IQR_TO_SIGMA = 1.349  # IQR of a normal distribution in standard deviations
MAX_Z = 1000.0  # a series flat at zero before makes any change "infinite": report it as 1000


def robust_scale(values: pd.Series) -> float:
    """A noise scale that ignores outliers: IQR/1.349, floored at 5% of the median."""
    if values.empty:
        return float("nan")
    q1, q3 = values.quantile([0.25, 0.75])
    floor = 0.05 * abs(float(values.median())) or 1e-6
    return max(float(q3 - q1) / IQR_TO_SIGMA, floor)


def robust_shift(before: pd.Series, after: pd.Series) -> dict[str, Any]:
    """How far the median moved from before to after, in robust noise units (z)."""
    if before.dropna().empty or after.dropna().empty:
        return {"z": float("nan"), "before": float("nan"), "after": float("nan")}
    b, a = float(before.median()), float(after.median())
    z = (a - b) / robust_scale(before.dropna())
    return {"z": max(min(z, MAX_Z), -MAX_Z), "before": b, "after": a}


def runs(mask: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp, float]]:
    """Every run of consecutive True values: (start, end, length in minutes)."""
    if mask.empty:
        return []
    flags = mask.astype(bool).to_numpy()
    index = mask.index
    step = pd.Series(index).diff().median() if len(index) > 1 else pd.Timedelta(minutes=1)
    found, start = [], None
    for i, flag in enumerate(flags):
        if flag and start is None:
            start = i
        if start is not None and (not flag or i == len(flags) - 1):
            stop = i if flag else i - 1
            found.append(
                (
                    index[start],
                    index[stop],
                    float((index[stop] - index[start] + step) / pd.Timedelta(minutes=1)),
                )
            )
            start = None
    return found


def spans(mask: pd.Series, max_gap: Duration | None = None) -> pd.DataFrame:
    """Every run of consecutive True values in wall time, vectorized: columns `start`, `end`
    and `minutes` (from the first to the last sample plus one native step). Two samples more
    than `max_gap` apart (default: 2.5 native steps, a gap as coverage counts it) end a run, so
    a gap in the data is never counted as time the condition held."""
    none = pd.DatetimeIndex([], tz="UTC")
    empty = pd.DataFrame({"start": none, "end": none, "minutes": pd.Series([], dtype=float)})
    flags = mask.fillna(False).astype(bool)
    if not flags.any():
        return empty
    native = step(flags) or pd.Timedelta(minutes=1)
    limit = (duration(max_gap) if max_gap is not None else GAP_FACTOR * native).value
    stamps = stamps_ns(flags)
    values = flags.to_numpy()
    gap = np.diff(stamps, prepend=stamps[0]) > limit
    begins = values & (~np.roll(values, 1) | gap)
    begins[0] = values[0]
    ends = values & (~np.roll(values, -1) | np.roll(gap, -1))
    ends[-1] = values[-1]
    first, last = stamps[begins], stamps[ends]
    minutes = (last - first + native.value) / pd.Timedelta(minutes=1).value
    return pd.DataFrame(
        {
            "start": pd.to_datetime(first, utc=True),
            "end": pd.to_datetime(last, utc=True),
            "minutes": minutes,
        }
    )


def longest_run(mask: pd.Series) -> tuple[pd.Timestamp | None, pd.Timestamp | None, float]:
    """Start, end and length in minutes of the longest run of consecutive True values."""
    found = runs(mask)
    if not found:
        return None, None, 0.0
    return max(found, key=lambda run: run[2])


def onset(
    series: pd.Series,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    *,
    baseline_end: datetime | pd.Timestamp | None = None,
    direction: str = "up",
    z: float = 5.0,
    min_rel: float = 0.3,
    sustain: float | Duration = "10min",
    reference: Duration = "1h",
    lookback: Duration | None = None,
    smooth: Duration | None = None,
    reference_minutes: int = 60,
) -> dict[str, Any] | None:
    """When a series first left its level in `direction` ("up" or "down") and stayed away:
    the symptom's onset, which a late alert may follow by hours.

    Every sample time t from `baseline_end - lookback` (default: the series' start) to `end`
    (default: its last sample) is a candidate, judged against its own reference, the median
    and robust scale of the `reference` span just before t (so a fault that began long before
    the alert is measured against the level before the fault, not the faulty hour before the
    alert). t is the onset when, for `sustain` of wall time from t, the series' median over
    `smooth` (centred; default three native steps) stays beyond the reference by at least `z`
    robust units and at least `min_rel` of the reference level; and, when t is more than
    `sustain` before `baseline_end`, the level over the `sustain` before `baseline_end` is still
    beyond it (an old excursion that recovered is not the symptom; one that began within
    `sustain` of it stayed beyond through it). The first such t is the onset; None if
    there is none.

    Returns {"at", "minutes" (how long it stayed beyond), "z" (its peak in robust units),
    "reference", "scale", "peak", "lead_minutes" (how long before `baseline_end`)}.

    Called with `start, end` as positional arguments (the form templates used first) it keeps
    that test: the reference is the `reference_minutes` before `start`, only [start, end] is
    searched and `sustain` is a number of minutes.
    """
    if start is not None:
        return _onset_after(
            series,
            start,
            end if end is not None else series.index.max(),
            direction=direction,
            z=z,
            min_rel=min_rel,
            sustain=(
                float(sustain)
                if isinstance(sustain, int | float)
                else duration(sustain) / pd.Timedelta(minutes=1)
            ),
            reference_minutes=reference_minutes,
        )
    if baseline_end is None:
        raise InputError("onset needs baseline_end (the alert's start, as `ev.onset`)")
    if direction not in ("up", "down"):
        raise InputError(f"onset direction {direction!r}: use 'up' or 'down'")
    clean = normalize(series)
    native = step(clean)
    if native is None or isinstance(sustain, int | float):
        if isinstance(sustain, int | float):
            raise InputError(
                f"onset sustain={sustain!r}: a duration such as '10min' (a bare number is the "
                "minutes of the positional start/end form only)"
            )
        return None
    anchor = utc(baseline_end)
    lo = anchor - duration(lookback) if lookback is not None else clean.index[0]
    hi = utc(end) if end is not None else clean.index[-1]
    return _departure(
        clean,
        native,
        anchor,
        (lo, hi),
        1.0 if direction == "up" else -1.0,
        (z, min_rel),
        (duration(sustain), duration(reference), duration(smooth) if smooth else 3 * native),
    )


def _departure(
    clean: pd.Series,
    native: pd.Timedelta,
    anchor: pd.Timestamp,
    bounds: tuple[pd.Timestamp, pd.Timestamp],
    sign: float,
    thresholds: tuple[float, float],
    spans: tuple[pd.Timedelta, pd.Timedelta, pd.Timedelta],
) -> dict[str, Any] | None:
    """onset with a reference: the arrays behind it (see onset)."""
    (z, min_rel), (sustain, reference, smooth) = thresholds, spans
    least = max(3, math.ceil(0.5 * reference / native))
    past = clean.rolling(reference, closed="left", min_periods=least)
    level = past.median().to_numpy()
    spread = (past.quantile(0.75) - past.quantile(0.25)).to_numpy() / IQR_TO_SIGMA
    scale = np.maximum(spread, np.maximum(0.05 * np.abs(level), 1e-6))
    need = np.maximum(z * scale, min_rel * np.maximum(np.abs(level), 1e-9))
    signed = sign * clean.rolling(smooth, center=True, min_periods=1).median().to_numpy()
    stamps = stamps_ns(clean)
    # the least signed value over [t, t + sustain) for each t: a rolling min run backwards
    backwards = pd.Series(
        signed[::-1], index=pd.to_datetime(stamps[-1] - stamps[::-1], utc=True)
    ).rolling(sustain, min_periods=1)
    ahead = backwards.min().to_numpy()[::-1]
    last = np.searchsorted(stamps, stamps + sustain.value, side="left") - 1
    # the samples from t reach to within half a step of t + sustain (jitter allowed) and hold
    # at least half the samples that span should
    spans_ok = (stamps[last] - stamps + 1.5 * native.value >= sustain.value) & (
        (last - np.arange(len(stamps)) + 1) >= 0.5 * sustain / native
    )
    recent = clean.loc[anchor - sustain : anchor]
    held = sign * float(recent.median()) if len(recent) else np.nan
    with np.errstate(invalid="ignore"):
        beyond = ahead - sign * level >= need
        # from within `sustain` of the anchor, `beyond` already holds it there through the anchor
        persists = (stamps >= anchor.value - sustain.value) | (held - sign * level >= need)
    lo, hi = bounds
    inside = (stamps >= lo.value) & (stamps <= hi.value)
    found = np.flatnonzero(inside & spans_ok & beyond & persists & ~np.isnan(level))
    if not len(found):
        return None
    i = int(found[0])
    deviation = signed[i:] - sign * level[i]
    stop = np.flatnonzero(
        (deviation < need[i]) | (np.diff(stamps[i:], prepend=stamps[i]) > GAP_FACTOR * native.value)
    )
    j = i + (int(stop[0]) if len(stop) else len(deviation))
    peak = float(deviation[: j - i].max())
    at_ = clean.index[i]
    return {
        "at": at_,
        "minutes": float((clean.index[j - 1] - at_ + native) / pd.Timedelta(minutes=1)),
        "z": min(peak / float(scale[i]), MAX_Z),
        "reference": float(level[i]),
        "scale": float(scale[i]),
        "peak": float(level[i] + sign * peak),
        "lead_minutes": float((anchor - at_) / pd.Timedelta(minutes=1)),
    }


def _onset_after(
    series: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    direction: str = "up",
    z: float = 5.0,
    min_rel: float = 0.3,
    sustain: float = 10,
    reference_minutes: int = 60,
) -> dict[str, Any] | None:
    """The form templates used before `baseline_end`: the reference is the hour before `start`.

    A minute counts as shifted when its 3-minute median moved in `direction` by at least `z`
    robust noise units and by `min_rel` of the reference level; the onset is the start of the
    first run of shifted minutes lasting `sustain` minutes. None if it never shifted.
    """
    reference = series.loc[
        start - pd.Timedelta(minutes=reference_minutes) : start - pd.Timedelta(seconds=1)
    ]
    inside = series.loc[start:end]
    if reference.dropna().empty or inside.dropna().empty:
        return None
    level, scale = float(reference.median()), robust_scale(reference.dropna())
    sign = 1.0 if direction == "up" else -1.0
    deviation = (inside.rolling(3, min_periods=1).median() - level) * sign
    shifted = (deviation >= z * scale) & (deviation >= min_rel * max(abs(level), 1e-9))
    for run_start, run_end, minutes in runs(shifted):
        if minutes >= sustain:
            peak = float(deviation.loc[run_start:run_end].max())
            return {
                "at": run_start,
                "minutes": minutes,
                "z": peak / scale,
                "reference": level,
                "peak": level + sign * peak,
            }
    return None


def upstreams(topology: dict[str, list[str]], service: str | None, depth: int = 3) -> list[str]:
    """Upstream dependencies of a service, nearest first, up to `depth` hops."""
    seen: list[str] = []
    frontier = [service] if service else []
    for _ in range(depth):
        frontier = [
            u for s in frontier for u in topology.get(s, []) if u not in seen and u != service
        ]
        seen.extend(dict.fromkeys(frontier))
    return seen


def clip01(value: float) -> float:
    return float(min(max(value, 0.0), 1.0))


def finite(value: Any) -> float | None:
    """A number for `observed`, or None when it is not one (NaN, ±infinity, None): record_outcome
    refuses NaN and infinity, so write `stats.finite(x)` where a statistic may have none."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
