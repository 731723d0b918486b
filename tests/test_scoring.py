"""Pure scoring, ranking and leading-hypothesis selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from rca_kit.models import Outcome, ScoredTask, TaskTemplate
from rca_kit.scoring import DEFAULT_WEIGHTS, plan, rank, score, task_from
from rca_kit.selection import leading


def outcome(hid: str, verdict: str = "supported", confidence: float = 0.8) -> Outcome:
    return Outcome(
        hypothesis_id=hid, verdict=verdict, confidence=confidence, summary="s", criterion="c"
    )  # type: ignore[arg-type]


def test_score_adds_up_to_its_breakdown() -> None:
    """The score is the sum of its per-factor points, and the explanation shows them."""
    value, points, explanation = score(impact=4, confidence=0.8, effort=2, risk=3)
    assert value == pytest.approx(sum(points.values()), abs=0.01)
    assert set(points) == set(DEFAULT_WEIGHTS)
    assert f"= {value:.1f}" in explanation


def test_score_bounds_and_monotonicity() -> None:
    """Best case scores 100, worst 0; more impact or confidence never lowers a score."""
    assert score(5, 1.0, 1, 1)[0] == 100.0
    assert score(1, 0.0, 5, 5)[0] == 0.0
    for impact in range(1, 5):
        assert score(impact + 1, 0.5, 3, 3)[0] > score(impact, 0.5, 3, 3)[0]
    assert score(3, 0.9, 3, 3)[0] > score(3, 0.4, 3, 3)[0]
    assert score(3, 0.5, 2, 3)[0] > score(3, 0.5, 4, 3)[0]


def test_weights_change_the_balance_and_zero_weights_are_refused() -> None:
    """Weights from rca.toml shift the score; all-zero weights are an error."""
    heavy_effort = {"impact": 0.1, "confidence": 0.1, "effort": 0.7, "risk": 0.1}
    assert score(5, 0.9, 5, 1, heavy_effort)[0] < score(5, 0.9, 5, 1)[0]
    with pytest.raises(ValueError, match="zero"):
        score(3, 0.5, 3, 3, {"impact": 0, "confidence": 0, "effort": 0, "risk": 0})


def test_rank_is_deterministic_with_ties() -> None:
    """Equal scores are ordered by impact, effort, risk, hypothesis, then title."""

    def task(title: str, hid: str = "h", impact: int = 3, effort: int = 3) -> ScoredTask:
        return ScoredTask(hid, title, "", impact, effort, 3, 0.5, 50.0, {}, "", 7)

    tasks = [task("b"), task("a"), task("z", impact=4), task("c", hid="a")]
    ranked = rank(tasks)
    assert [t.title for t in ranked] == ["z", "c", "a", "b"]
    assert [t.rank for t in ranked] == [1, 2, 3, 4]
    assert [t.title for t in rank(list(reversed(tasks)))] == ["z", "c", "a", "b"]


def test_plan_only_supported_outcomes_propose_tasks() -> None:
    """Refuted, inconclusive and errored outcomes propose nothing; titles get the service."""
    from rca_kit.models import HypothesisSpec

    template = TaskTemplate("Scale {service}", "", impact=4, effort=2, risk=2)
    spec = HypothesisSpec(
        "h1",
        "t",
        "If a then b",
        "h1.ipynb",
        (),
        {},
        "crit",
        {},
        (),
        (template,),
        60,
        1,
        path=Path("h1.yaml"),
    )
    specs = {"h1": spec, "h2": spec}
    tasks = plan([outcome("h1"), outcome("h2", "refuted")], specs, "orders-<b>")
    assert [t.title for t in tasks] == ["Scale orders-<b>"]
    assert (
        task_from(template, outcome("h1", confidence=0.2), "s", DEFAULT_WEIGHTS).score
        < tasks[0].score
    )


def test_leading_is_the_most_confident_supported() -> None:
    """The leading hypothesis is the supported one with the highest confidence, else None."""
    assert (
        leading(
            [
                outcome("a", confidence=0.7),
                outcome("b", confidence=0.9),
                outcome("c", "refuted", 1.0),
            ]
        ).hypothesis_id
        == "b"
    )  # type: ignore[union-attr]
    assert leading([outcome("a", "refuted"), outcome("b", "errored")]) is None
    assert (
        leading([outcome("b", confidence=0.8), outcome("a", confidence=0.8)]).hypothesis_id == "a"
    )  # type: ignore[union-attr]


def test_a_learned_prior_breaks_ties_but_never_outranks_evidence() -> None:
    """Equally confident causes are ordered by the history's prior; more confidence wins."""
    tied = [outcome("a", confidence=0.95), outcome("b", confidence=0.95)]
    assert leading(tied).hypothesis_id == "a"  # type: ignore[union-attr]
    assert leading(tied, priors={"a": 0.2, "b": 0.8}).hypothesis_id == "b"  # type: ignore[union-attr]
    stronger = [outcome("a", confidence=0.96), outcome("b", confidence=0.95)]
    assert leading(stronger, priors={"a": 0.0, "b": 1.0}).hypothesis_id == "a"  # type: ignore[union-attr]


def test_recurrence_closes_a_share_of_the_gap_and_never_passes_100() -> None:
    """A first occurrence scores its base; each repeat closes `recurrence` of the gap to 100."""
    base = score(4, 0.8, 2, 3)[0]
    value, points, explanation = score(4, 0.8, 2, 3, occurrences=3)
    assert points["recurrence"] == pytest.approx((100 - base) * (1 - 0.75**2), abs=0.01)
    assert value == pytest.approx(base + points["recurrence"], abs=0.02)
    assert "seen 3×" in explanation
    assert score(5, 1.0, 1, 1, occurrences=50)[0] == 100.0
    assert score(4, 0.8, 2, 3, {**DEFAULT_WEIGHTS, "recurrence": 0}, occurrences=9)[0] == base
