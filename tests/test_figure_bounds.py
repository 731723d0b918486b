"""Figures stay bounded whatever the data: long series are downsampled, markers aggregated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

import rca_kit

START = pd.Timestamp("2026-11-20T00:00:00Z")


def test_a_week_at_15_seconds_draws_as_2000_points_keeping_spikes() -> None:
    """40,320 samples become at most 2,000, in time order, with the highest and lowest kept."""
    stamps = pd.date_range(START, periods=40_320, freq="15s")
    values = np.random.default_rng(0).normal(0.5, 0.01, len(stamps))
    values[12_345] = 5.0
    series = pd.Series(values, index=stamps)
    drawn = rca_kit.downsample(series)
    assert len(drawn) <= 2000
    assert drawn.index.is_monotonic_increasing
    assert drawn.max() == 5.0
    assert drawn.min() == series.min()
    short = series.iloc[:100]
    assert rca_kit.downsample(short) is short


def test_thousands_of_markers_become_a_few_dozen_shapes_and_a_count() -> None:
    """A counter misread as a restart per sample must not draw a line per sample: beyond 30
    moments, 30 shapes (bands) at most, and the legend says how many moments there were."""
    moments = [*pd.date_range(START.tz_convert("Europe/Paris"), periods=1440, freq="1min")]
    figure = rca_kit.add_markers(go.Figure(), moments, name="restarts")
    assert len(figure.layout.shapes) <= 30
    assert figure.data[-1].name == "restarts (1440)"
    few = rca_kit.add_markers(go.Figure(), moments[:3], name="restarts")
    assert [shape.type for shape in few.layout.shapes] == ["line"] * 3
    assert rca_kit.add_markers(go.Figure(), []).layout.shapes == ()


def test_markers_in_mixed_offsets_are_drawn_in_utc() -> None:
    """Moments with different UTC offsets are one axis (no 'same UTC offset' error)."""
    moments = [pd.Timestamp("2026-11-20T10:00:00+02:00"), pd.Timestamp("2026-11-20T08:30:00Z")]
    figure = rca_kit.add_markers(go.Figure(), moments)
    xs = sorted(str(shape.x0) for shape in figure.layout.shapes)
    assert xs == ["2026-11-20 08:00:00+00:00", "2026-11-20 08:30:00+00:00"]
    figure.to_json()
