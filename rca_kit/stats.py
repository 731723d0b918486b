"""Small robust statistics shared by hypothesis templates (pure: frames in, numbers out)."""

from __future__ import annotations

from typing import Any

import pandas as pd

IQR_TO_SIGMA = 1.349  # IQR of a normal distribution in standard deviations


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
    return {"z": (a - b) / robust_scale(before.dropna()), "before": b, "after": a}


def longest_run(mask: pd.Series) -> tuple[pd.Timestamp | None, pd.Timestamp | None, float]:
    """Start, end and length in minutes of the longest run of consecutive True values."""
    if mask.empty or not mask.any():
        return None, None, 0.0
    flags = mask.astype(bool).to_numpy()
    best = (0, -1)
    start = None
    for i, flag in enumerate(flags):
        if flag and start is None:
            start = i
        if (not flag or i == len(flags) - 1) and start is not None:
            stop = i if flag else i - 1
            if stop - start > best[1] - best[0]:
                best = (start, stop)
            start = None
    index = mask.index
    step = pd.Series(index).diff().median() if len(index) > 1 else pd.Timedelta(minutes=1)
    minutes = (index[best[1]] - index[best[0]] + step) / pd.Timedelta(minutes=1)
    return index[best[0]], index[best[1]], float(minutes)


def clip01(value: float) -> float:
    return float(min(max(value, 0.0), 1.0))
