"""The outcome contract: record_outcome validation and harvest from stored notebooks."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from rca_kit.exceptions import OutcomeError
from rca_kit.figures import PLOTLY_MIMETYPE, display_bundle
from rca_kit.inert import inert_figure, plain
from rca_kit.models import RunResult
from rca_kit.outcome import MIMETYPE, figure_of, harvest, record_outcome

NOTEBOOKS = Path(__file__).parent / "fixtures" / "notebooks"


def test_record_outcome_converts_numpy_and_validates() -> None:
    """numpy numbers become JSON, None stays null, and the payload carries the schema."""
    payload = record_outcome(
        "supported",
        np.float64(0.75),
        {"a": np.int64(3), "b": np.array([1.0, 2.0]), "c": None},
        "a > 2",
        "a was 3",
    )
    assert payload["observed"] == {"a": 3, "b": [1.0, 2.0], "c": None}
    assert payload["schema"] == "rca-kit.outcome/1"
    assert payload["confidence"] == 0.75


@pytest.mark.parametrize(
    ("args", "kwargs", "fragment"),
    [
        (("maybe", 0.5, {}, "c", "s"), {}, "verdict"),
        (("supported", 1.5, {}, "c", "s"), {}, "confidence"),
        (("supported", 0.5, {}, "", "s"), {}, "criterion"),
        (("inconclusive", 0.0, {}, "c", "s"), {}, "missing data"),
        (("supported", 0.5, {"x": object()}, "c", "s"), {}, "observed.x"),
    ],
)
def test_record_outcome_rejects_bad_outcomes(args: tuple, kwargs: dict, fragment: str) -> None:  # type: ignore[type-arg]
    """An outcome outside the schema is refused with the field named."""
    with pytest.raises(OutcomeError, match=fragment):
        record_outcome(*args, **kwargs)


@pytest.mark.parametrize(
    ("confidence", "observed", "fragment"),
    [
        (math.nan, {}, "confidence must be a number in [0, 1], got nan"),
        (np.float64(math.inf), {}, "confidence must be a number in [0, 1], got inf"),
        (0.5, {"ratio": math.nan}, "observed.ratio is nan"),
        (0.5, {"fit": {"slope": np.float64(-math.inf)}}, "observed.fit.slope is -inf"),
        (0.5, {"series": np.array([1.0, math.nan])}, "observed.series[1] is nan"),
    ],
)
def test_a_nan_or_an_infinity_never_reaches_an_outcome(
    confidence: float, observed: dict[str, object], fragment: str
) -> None:
    """NaN or infinity as the confidence or anywhere in observed is refused, naming the
    template and the key; the message says how to record "no value"."""
    with pytest.raises(OutcomeError) as info:
        record_outcome("supported", confidence, observed, "c", "s", template="backpressure.ipynb")
    assert str(info.value).startswith("backpressure.ipynb: ")
    assert fragment in str(info.value)
    if observed:
        assert "stats.finite" in str(info.value)


def test_the_template_is_named_from_the_code_that_records(tmp_path: Path) -> None:
    """Without the keyword, the notebook the calling code was compiled from (run_inline's
    template) names the error."""
    code = compile(
        "from rca_kit.outcome import record_outcome\n"
        "record_outcome('refuted', float('nan'), {}, 'c', 's')\n",
        str(tmp_path / "memory-leak.ipynb"),
        "exec",
    )
    with pytest.raises(OutcomeError, match=r"^memory-leak\.ipynb: confidence"):
        exec(code, {})  # noqa: S102 - fixed code of this test


def run(name: str, error: str | None = None) -> RunResult:
    return RunResult(hypothesis_id="h", notebook=NOTEBOOKS / name, duration_s=1.0, error=error)


def test_harvest_reads_the_recorded_outcome() -> None:
    """A stored executed notebook yields its recorded verdict and numbers."""
    outcome = harvest(run("recorded.ipynb"))
    assert (outcome.verdict, outcome.confidence, outcome.observed) == ("supported", 0.8, {"x": 1.5})
    assert outcome.notebook == NOTEBOOKS / "recorded.ipynb"


def test_runner_error_wins_over_recorded_outcome() -> None:
    """When the runner saw a failure the outcome is errored whatever the notebook says."""
    outcome = harvest(run("recorded.ipynb", error="timed out: a cell ran longer than 5s"))
    assert outcome.verdict == "errored"
    assert outcome.error == "timed out: a cell ran longer than 5s"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("no-outcome.ipynb", "without calling record_outcome"),
        ("two-outcomes.ipynb", "2 outcomes"),
        ("bad-schema.ipynb", "verdict"),
        ("missing.ipynb", "No such file"),
    ],
)
def test_harvest_turns_broken_notebooks_into_errored(name: str, fragment: str) -> None:
    """No outcome, two outcomes, a bad payload or no file at all is errored with the reason."""
    outcome = harvest(run(name))
    assert outcome.verdict == "errored"
    assert fragment in (outcome.error or "")


def test_mimetype_is_versioned() -> None:
    """The outcome mimetype carries its schema version."""
    assert MIMETYPE == "application/vnd.rca-kit.outcome.v1+json"


def test_the_record_is_silent_when_echoed() -> None:
    """Echoed as a cell's last expression the record shows nothing: IPython's formatter asks
    `_ipython_display_`, which displays nothing. It is still the plain dict of the record; the
    figure went to its own output."""
    from IPython.core.formatters import DisplayFormatter

    record = record_outcome("refuted", 0.6, {"n": 1}, "n > 2", "n was 1", figure={"data": []})
    assert "figure" not in record
    assert DisplayFormatter().format(record) == ({}, {})
    assert json.loads(json.dumps(record))["verdict"] == "refuted"


def test_harvest_keeps_the_notebooks_sha256_and_provenance(tmp_path: Path) -> None:
    """The digest is of the very bytes the harvester parsed; provenance is metadata.rca_kit."""
    document = json.loads((NOTEBOOKS / "recorded.ipynb").read_text())
    document["metadata"]["rca_kit"] = {"template": "t.ipynb", "template_sha256": "ab"}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(document))
    outcome = harvest(RunResult("h", path, 1.0))
    assert outcome.verdict == "supported"
    assert outcome.notebook_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert outcome.provenance == {"template": "t.ipynb", "template_sha256": "ab"}
    failed = harvest(RunResult("h", path, 1.0, error="kernel died during execution"))
    assert (failed.verdict, failed.notebook_sha256) == ("errored", outcome.notebook_sha256)


def test_harvest_reads_only_a_regular_file(tmp_path: Path) -> None:
    """A kernel could leave a symlink or a FIFO where its notebook belongs: errored, at once."""
    link = tmp_path / "link.ipynb"
    link.symlink_to(NOTEBOOKS / "recorded.ipynb")
    fifo = tmp_path / "fifo.ipynb"
    os.mkfifo(fifo)
    assert harvest(RunResult("h", link, 1.0)).verdict == "errored"
    outcome = harvest(RunResult("h", fifo, 1.0))
    assert (outcome.verdict, outcome.error) == (
        "errored",
        "the evidence notebook is not a regular file",
    )


def test_figure_of_is_inert_whichever_output_holds_it() -> None:
    """The outcome's figure output (a hostile one too) or, in notebooks recorded before it
    existed, the figure inside the record: made inert, and inert once only (`plain` is
    idempotent, so a figure already made inert reads back as it was)."""
    link = '<a href="https://evil.example">R&D</a> &lt;'
    figure = {"data": [{"name": link, "x": [1], "y": [2]}], "layout": {"title": {"text": link}}}
    inert = inert_figure(figure)
    assert (
        inert["layout"]["title"]["text"]
        == '&lt;a href="https://evil.example"&gt;R&amp;D&lt;/a&gt; &lt;'
    )
    data, marker = display_bundle(inert)
    shown = {"cells": [{"cell_type": "code", "outputs": [{"data": data, "metadata": marker}]}]}
    hostile = {
        "cells": [
            {
                "cell_type": "code",
                "outputs": [{"data": {PLOTLY_MIMETYPE: figure}, "metadata": marker}],
            }
        ]
    }
    legacy = {
        "cells": [{"cell_type": "code", "outputs": [{"data": {MIMETYPE: {"figure": figure}}}]}]
    }
    assert figure_of(shown) == figure_of(hostile) == figure_of(legacy) == inert
    assert figure_of({"cells": [{"outputs": [{"data": {PLOTLY_MIMETYPE: figure}}]}]}) is None
    assert figure_of([]) is None


@pytest.mark.parametrize(
    "text", ["R&D", "&lt;b&gt;", "&#60;&#x3c;", "&amp;lt;", "a & b;", "<&>", "&bogus", "\n&\x1b"]
)
def test_plain_is_idempotent(text: str) -> None:
    once = plain(text)
    assert plain(once) == once
    assert "<" not in once
    assert ">" not in once


def test_the_figure_is_displayed_inert_before_the_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a kernel: the figure first (plotly JSON and HTML, every label inert, marked as the
    outcome's figure), then the record without it and a one-line text."""
    from IPython import display as ipython_display

    shown: list[tuple[dict, dict]] = []  # type: ignore[type-arg]
    monkeypatch.setattr(
        ipython_display, "display", lambda data, raw, metadata=None: shown.append((data, metadata))
    )
    link = '<a href="https://evil.example">x</a>\n'
    figure = {"data": [{"name": link, "y": [1]}], "layout": {"title": {"text": link}}}
    record_outcome("supported", 0.9, {}, "c", "line one\nline two " * 40, figure=figure)
    (data, marker), (record, none) = shown
    assert marker == {"rca_kit": {"outcome_figure": True}}
    assert none is None
    assert data[PLOTLY_MIMETYPE]["layout"]["title"]["text"] == plain(link)
    assert "<a href" not in data["text/html"]
    assert "figure" not in record[MIMETYPE]
    assert "\n" not in record["text/plain"]
    assert len(record["text/plain"]) <= 160
