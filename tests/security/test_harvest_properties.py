"""The harvester reads notebooks a kernel (that is, any code) wrote: whatever the file holds,
it returns an outcome — the recorded one if exactly one valid payload is there, else
`errored` with the reason — and never raises, never lets NaN or a bad verdict through."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rca_kit.models import RunResult
from rca_kit.outcome import MIMETYPE, harvest

EXAMPLES = 300  # per property

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "verdict": st.sampled_from(["supported", "refuted", "inconclusive", "errored", "maybe"])
        | json_values,
        "confidence": st.floats(allow_nan=True, allow_infinity=True) | json_values,
        "summary": st.text(max_size=50) | json_values,
        "criterion": st.text(max_size=50) | json_values,
        "observed": json_values,
        "missing_data": json_values,
        "figure": json_values,
    },
)
notebooks = st.one_of(
    json_values,
    st.builds(
        lambda outputs: {"cells": [{"cell_type": "code", "outputs": outputs}]},
        st.lists(
            st.one_of(json_values, payloads.map(lambda p: {"data": {MIMETYPE: p}})), max_size=3
        ),
    ),
)


def _check(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    outcome = harvest(RunResult("h", path, 1.0))
    assert outcome.verdict in ("supported", "refuted", "inconclusive", "errored")
    assert isinstance(outcome.confidence, float)
    assert math.isfinite(outcome.confidence)
    assert 0.0 <= outcome.confidence <= 1.0
    if outcome.verdict == "errored":
        assert outcome.error


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(notebook=notebooks)
def test_any_notebook_json_becomes_an_outcome(tmp_path: Path, notebook: Any) -> None:
    _check(tmp_path / "nb.ipynb", json.dumps(notebook, allow_nan=True).encode())


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(content=st.binary(max_size=200))
def test_any_bytes_become_an_outcome(tmp_path: Path, content: bytes) -> None:
    _check(tmp_path / "nb.ipynb", content)
