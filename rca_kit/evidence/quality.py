"""Per-series quality of frozen metrics: native step, gaps, duplicates and window coverage.

Pure functions over frames (no I/O), computed when a snapshot is frozen and recorded in its
manifest (docs/evidence.md, "The snapshot").
"""

from __future__ import annotations

from collections.abc import Iterable
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
    stamps = pd.DatetimeIndex(pd.to_datetime(list(timestamps), utc=True)).dropna()
    ns = np.unique(stamps.as_unit("ns").asi8)
    if len(ns) < 2:
        return None
    step = pd.Timedelta(int(np.median(np.diff(ns))), unit="ns")
    rounded = step.round("s")
    return rounded if rounded >= pd.Timedelta(seconds=1) else step.round("ms")
