"""Outcome.figure is read only when asked for: harvest keeps the figure's JSON text, and reading
`outcome.figure` gives what harvest gave before (json.loads of it, without `config`, None when it
draws no data point), for every reader (equality, pickling, dataclasses.replace, asdict)."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_notebook_scan import MARK, RECORD

from rca_kit.figures import PLOTLY_MIMETYPE, plotted
from rca_kit.models import Outcome, RunResult
from rca_kit.notebook_scan import FigureText, first_figure, scan, shown_figure, walk
from rca_kit.outcome import MIMETYPE, harvest

FIGURE = {"data": [{"x": ["a", "b"], "y": {"bdata": "AAA=", "dtype": "f8"}}], "layout": {}}
EMPTY = {"data": [{"x": [None, None], "y": []}], "layout": {}}


def notebook(figures: list[Any], record: dict[str, Any] = RECORD) -> bytes:
    outputs = [{"data": {PLOTLY_MIMETYPE: f}, "metadata": MARK} for f in figures]
    cells = [{"cell_type": "code", "outputs": [*outputs, {"data": {MIMETYPE: record}}]}]
    return json.dumps({"cells": cells, "metadata": {}}, indent=1).encode()


def harvested(tmp_path: Path, data: bytes) -> Outcome:
    path = tmp_path / "nb.ipynb"
    path.write_bytes(data)
    return harvest(RunResult("h", path, 1.0))


def eager(data: bytes) -> dict[str, Any] | None:
    """The figure harvest kept before it was deferred: the first object, shown if plotted."""
    figure = first_figure(walk(json.loads(data))[1])
    return figure if plotted(figure) else None


def pickled(outcome: Outcome) -> Outcome:
    copied = pickle.loads(pickle.dumps(outcome))  # noqa: S301 (our own bytes)
    assert isinstance(copied, Outcome)
    return copied


def test_the_figure_stays_text_until_read(tmp_path: Path) -> None:
    outcome = harvested(tmp_path, notebook([[1], {**FIGURE, "config": {"responsive": True}}]))
    assert isinstance(vars(outcome)["figure"], FigureText)
    figure = outcome.figure
    assert figure == FIGURE
    assert outcome.figure is figure  # read once, kept
    assert not isinstance(vars(outcome)["figure"], FigureText)


def test_a_figure_without_points_reads_as_none(tmp_path: Path) -> None:
    assert harvested(tmp_path, notebook([EMPTY])).figure is None
    assert harvested(tmp_path, notebook(["not an object"])).figure is None
    inconclusive = {**RECORD, "verdict": "inconclusive", "missing_data": ["m"]}
    assert harvested(tmp_path, notebook([FIGURE], inconclusive)).figure is None
    assert harvested(tmp_path, notebook([EMPTY, FIGURE])).figure is None  # the first object


def test_every_reader_sees_the_dict(tmp_path: Path) -> None:
    data = notebook([FIGURE])
    eager_outcome = dataclasses.replace(harvested(tmp_path, data), figure=dict(FIGURE))
    for read in (
        lambda o: o,
        pickled,
        copy.copy,
        copy.deepcopy,
        lambda o: dataclasses.replace(o, summary="s"),
    ):
        outcome = read(harvested(tmp_path, data))
        assert outcome == eager_outcome
        assert outcome.figure == FIGURE
        assert repr(outcome) == repr(eager_outcome)
    outcome = harvested(tmp_path, data)
    assert dataclasses.asdict(outcome)["figure"] == FIGURE
    assert dataclasses.replace(outcome, figure=None).figure is None
    assert Outcome("h", "supported", 1.0, "s", "c").figure is None
    assert Outcome("h", "supported", 1.0, "s", "c", figure=FIGURE).figure is FIGURE
    assert pickled(outcome).figure == FIGURE  # after reading it too


points = st.one_of(
    st.lists(st.none() | st.integers() | st.text(max_size=3), max_size=3),
    st.fixed_dictionaries({}, optional={"bdata": st.sampled_from(["", "AA==", 0, 1])}),
    st.integers(),
    st.none(),
)
traces = st.one_of(
    st.fixed_dictionaries({}, optional=dict.fromkeys(("x", "y", "values", "name"), points)),
    st.integers(),
)
figures = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "data": st.lists(traces, max_size=3) | st.none(),
            "layout": st.just({"title": {"text": "t"}}),
            "config": st.just({"responsive": True}),
        },
    ),
    st.lists(st.integers(), max_size=2),
    st.text(max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(found=st.lists(figures, max_size=3), indent=st.sampled_from([None, 1]))
def test_the_deferred_figure_is_the_eager_one(found: list[Any], indent: int | None) -> None:
    outputs = [{"data": {PLOTLY_MIMETYPE: f}, "metadata": MARK} for f in found]
    data = json.dumps({"cells": [{"cell_type": "code", "outputs": outputs}]}, indent=indent)
    shown = shown_figure(scan(data.encode())[1])
    assert (shown.read() if isinstance(shown, FigureText) else shown) == eager(data.encode())
    assert shown_figure(walk(json.loads(data))[1]) == eager(data.encode())  # read whole
