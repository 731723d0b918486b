"""No empty chart on a made-up year-2000 axis: an inconclusive outcome, or a figure without a
single data point, shows no figure in the notebook (Lab, nbconvert) nor on its evidence page;
the record's line still says what is missing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rca_kit.figures import PLOTLY_MIMETYPE, display_bundle, plotted
from rca_kit.models import RunResult
from rca_kit.outcome import MIMETYPE, SCHEMA, figure_of, harvest
from rca_kit.report.evidence_pages import export_evidence_page
from rca_kit.testing import make_snapshot, run_template

ROOT = Path(__file__).resolve().parent.parent
EMPTY = {"data": [{"type": "scatter", "x": [], "y": []}], "layout": {"xaxis": {"type": "date"}}}
DRAWN = {"data": [{"type": "scatter", "x": ["2024-01-01T00:00:00"], "y": [1]}], "layout": {}}


def outputs(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for c in document["cells"] if c["cell_type"] == "code" for o in c["outputs"]]


def figure_outputs(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for o in outputs(document) if PLOTLY_MIMETYPE in o.get("data", {})]


@pytest.mark.parametrize(
    ("figure", "expected"),
    [
        (None, False),
        ({"data": [], "layout": {"shapes": [{"type": "line"}]}}, False),  # a vline alone
        (EMPTY, False),
        ({"data": [{"x": [None, None], "y": [None, None]}]}, False),
        ({"data": [{"x": {"dtype": "f8", "bdata": ""}}]}, False),
        (DRAWN, True),
        ({"data": [{"x": {"dtype": "f8", "bdata": "AAAAAAAA8D8="}}]}, True),
        ({"data": [{"type": "pie", "values": [1, 2]}]}, True),
    ],
)
def test_plotted_tells_a_figure_with_data_points(figure: Any, expected: bool) -> None:
    assert plotted(figure) is expected


def notebook_with(verdict: str, figure: dict[str, Any]) -> dict[str, Any]:
    """An executed notebook as record_outcome leaves it: a figure output, then the record."""
    data, metadata = display_bundle(figure)
    record = {
        "schema": SCHEMA,
        "verdict": verdict,
        "confidence": 0.0 if verdict == "inconclusive" else 0.7,
        "observed": {},
        "criterion": "c",
        "summary": "s",
        "missing_data": ["metric m of svc"] if verdict == "inconclusive" else [],
    }
    outputs = [
        {"output_type": "display_data", "data": data, "metadata": metadata},
        {
            "output_type": "display_data",
            "data": {MIMETYPE: record, "text/plain": "x"},
            "metadata": {},
        },
    ]
    cell = {"cell_type": "code", "execution_count": 1, "id": "c1", "metadata": {}, "source": "x"}
    return {
        "cells": [{**cell, "outputs": outputs}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.mark.parametrize(("verdict", "figure"), [("inconclusive", DRAWN), ("refuted", EMPTY)])
def test_notebooks_recorded_with_an_empty_or_inconclusive_figure_show_none(
    verdict: str, figure: dict[str, Any], tmp_path: Path
) -> None:
    """Notebooks executed before (their figure output is there): the harvested outcome, the
    review's figure and the evidence page have no figure."""
    path = tmp_path / "h.ipynb"
    document = notebook_with(verdict, figure)
    path.write_text(json.dumps(document))
    assert harvest(RunResult("h", path, 0.0)).figure is None
    assert figure_of(document) is None
    page = export_evidence_page(path, tmp_path / "h.html", plotly_src="plotly.js")
    html = page.read_text()
    assert 'id="rca-kit-figure-' not in html
    assert '"figures":[]' in html


def test_a_figure_with_data_of_a_judged_outcome_is_still_drawn(tmp_path: Path) -> None:
    path = tmp_path / "h.ipynb"
    path.write_text(json.dumps(notebook_with("supported", DRAWN)))
    assert harvest(RunResult("h", path, 0.0)).figure is not None
    html = export_evidence_page(path, tmp_path / "h.html", plotly_src="plotly.js").read_text()
    assert 'id="rca-kit-figure-0"' in html


@pytest.mark.slow
def test_a_template_missing_its_metric_displays_no_figure(tmp_path: Path) -> None:
    """volume-anomaly on a snapshot without its row_count metric, run by papermill in a real
    kernel: inconclusive, no figure output in the notebook (nothing for Lab or nbconvert to
    draw), the record's line names the missing metric, and the evidence page has no plot."""
    start = datetime(2024, 5, 1, 12, tzinfo=UTC)
    stamps = pd.date_range(start - timedelta(hours=6), start + timedelta(hours=1), freq="1min")
    metrics = pd.DataFrame(
        {"timestamp": stamps, "service": "svc", "metric": "cpu_utilization", "value": 0.5}
    )
    snapshot = make_snapshot(
        tmp_path / "snapshot",
        window=(start, start + timedelta(hours=1)),
        service="svc",
        metrics=metrics,
    )
    template = ROOT / "notebooks" / "templates" / "volume-anomaly.ipynb"
    outcome = run_template(template, snapshot, workdir=tmp_path)
    assert outcome.verdict == "inconclusive", outcome.summary
    assert outcome.figure is None
    notebook = tmp_path / template.name
    document = json.loads(notebook.read_text())
    assert figure_outputs(document) == []
    [record] = [o for o in outputs(document) if MIMETYPE in o.get("data", {})]
    line = "".join(record["data"]["text/plain"])
    assert line.startswith("inconclusive")
    assert "row_count" in line
    page = export_evidence_page(notebook, tmp_path / "volume-anomaly.html", plotly_src="p.js")
    html = page.read_text()
    assert 'id="rca-kit-figure-' not in html
    assert '"figures":[]' in html
    assert "inconclusive" in html
