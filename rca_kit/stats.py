"""Small robust statistics shared by hypothesis templates (pure: frames in, numbers out)."""

from __future__ import annotations

from typing import Any

import pandas as pd

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


def longest_run(mask: pd.Series) -> tuple[pd.Timestamp | None, pd.Timestamp | None, float]:
    """Start, end and length in minutes of the longest run of consecutive True values."""
    found = runs(mask)
    if not found:
        return None, None, 0.0
    return max(found, key=lambda run: run[2])


def onset(
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
    """When a series first left its reference level (the hour before `start`) for good.

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
