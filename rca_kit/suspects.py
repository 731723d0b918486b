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
_SECOND = pd.Timedelta(seconds=1)


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
    frame = metrics.loc[metrics["value"].notna(), ["service", "metric", "timestamp", "value"]]
    if frame.empty:
        return []
    keys = ["service", "metric"]
    stamps = frame["timestamp"]
    before = frame[(stamps >= window_start - BEFORE) & (stamps <= window_start - _SECOND)]
    after = frame[(stamps >= after_start) & (stamps <= window_end)]
    # every series at once, per (service, metric): what the loop over series computed
    whole = frame.groupby(keys, sort=True)["value"]
    ahead = before.groupby(keys)["value"]
    later = after.groupby(keys)["value"]
    table = pd.DataFrame(
        {
            "low": whole.quantile(0.01),
            "high": whole.quantile(0.99),
            "n_before": ahead.count(),
            "q1": ahead.quantile(0.25),
            "q3": ahead.quantile(0.75),
            "before": ahead.median(),
            "n_after": later.count(),
            "after": later.median(),
        }
    )
    table = table[(table["n_before"] >= 5) & (table["n_after"] >= 5)]
    rows: list[dict[str, Any]] = []
    for key, row in table.iterrows():
        service, metric = (str(part) for part in key)  # type: ignore[attr-defined]
        spread = float(row["high"] - row["low"])
        scale = max(
            float(row["q3"] - row["q1"]) / IQR_TO_SIGMA,
            0.05 * abs(float(row["before"])),
            0.02 * spread,
            1e-9,
        )
        shift = (float(row["after"]) - float(row["before"])) / scale
        rows.append(
            {
                "service": str(service),
                "metric": str(metric),
                "score": round(min(abs(shift), MAX_Z), 2),
                "direction": "up" if shift > 0 else "down",
                "before": float(row["before"]),
                "after": float(row["after"]),
            }
        )
    rows.sort(key=lambda r: (-float(r["score"]), str(r["service"]), str(r["metric"])))
    return rows[:top]
