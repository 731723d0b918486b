"""Auto-suspects (pure): rank every (service, metric) series by how much it shifted at onset.

The idea behind BARO (RCAEval): compare each series' median after the window opens with its
median in the hour before, in robust noise units (IQR/1.349). The noise floor is at least 5% of
the level and 2% of the series' whole range, so series flat at zero do not all score "infinite".
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .stats import IQR_TO_SIGMA, MAX_Z

BEFORE = pd.Timedelta(minutes=60)
AFTER_LEAD = pd.Timedelta(minutes=30)


def rank_suspects(
    metrics: pd.DataFrame,
    window_start: pd.Timestamp,
    window_end: pd.Timestamp,
    onset: pd.Timestamp | None = None,
    *,
    top: int = 10,
) -> list[dict[str, Any]]:
    """The `top` series that moved most, largest shift first (ties by service, metric).

    "Before" is the hour before the window; "after" runs from 30 minutes before the alert's
    onset (when the symptom was building) to the end of the window.
    """
    after_start = max(window_start, onset - AFTER_LEAD) if onset is not None else window_start
    rows: list[dict[str, Any]] = []
    for (service, metric), group in metrics.groupby(["service", "metric"], sort=True):
        series = group.set_index("timestamp")["value"].dropna()
        before = series.loc[window_start - BEFORE : window_start - pd.Timedelta(seconds=1)]
        after = series.loc[after_start:window_end]
        if len(before) < 5 or len(after) < 5:
            continue
        q1, q3 = before.quantile([0.25, 0.75])
        spread = float(series.quantile(0.99) - series.quantile(0.01))
        scale = max(
            float(q3 - q1) / IQR_TO_SIGMA, 0.05 * abs(float(before.median())), 0.02 * spread, 1e-9
        )
        shift = (float(after.median()) - float(before.median())) / scale
        rows.append(
            {
                "service": str(service),
                "metric": str(metric),
                "score": round(min(abs(shift), MAX_Z), 2),
                "direction": "up" if shift > 0 else "down",
                "before": float(before.median()),
                "after": float(after.median()),
            }
        )
    rows.sort(key=lambda r: (-float(r["score"]), str(r["service"]), str(r["metric"])))
    return rows[:top]
