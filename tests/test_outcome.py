"""The outcome contract: record_outcome validation and harvest from stored notebooks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rca_kit.exceptions import OutcomeError
from rca_kit.models import RunResult
from rca_kit.outcome import MIMETYPE, harvest, record_outcome

NOTEBOOKS = Path(__file__).parent / "fixtures" / "notebooks"


def test_record_outcome_converts_numpy_and_validates() -> None:
    """numpy numbers become JSON, NaN becomes null, and the payload carries the schema."""
    payload = record_outcome(
        "supported",
        np.float64(0.75),
        {"a": np.int64(3), "b": np.array([1.0, 2.0]), "c": math.nan},
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
