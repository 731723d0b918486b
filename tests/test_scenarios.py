"""The scenario generator, auto-suspects and the cause-vs-consequence leading rule."""

from __future__ import annotations

import pandas as pd
import pytest

from rca_kit.models import HypothesisSpec, Outcome
from rca_kit.scenarios import FAULTS, MISSING_DATA, generate
from rca_kit.selection import consequences, leading
from rca_kit.suspects import rank_suspects


def test_same_seed_same_scenario_other_seed_other_scenario() -> None:
    """Seeds make scenarios reproducible; a new seed gives new magnitudes and onsets."""
    a, b, c = (
        generate("backpressure", 11),
        generate("backpressure", 11),
        generate("backpressure", 12),
    )
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    assert a.alert == b.alert
    assert not a.metrics["value"].equals(c.metrics["value"])


@pytest.mark.parametrize("fault", [*FAULTS, MISSING_DATA])
def test_every_fault_raises_its_alert_after_onset(fault: str) -> None:
    """Each fault's alert fires at or after the onset, within the exported two days."""
    scenario = generate(fault, 5)
    starts = pd.Timestamp(scenario.alert["alerts"][0]["startsAt"])
    assert scenario.onset <= starts <= scenario.end
    assert scenario.metrics["timestamp"].max() == pd.Timestamp(scenario.end)
    assert scenario.metrics["timestamp"].min() >= pd.Timestamp(scenario.end) - pd.Timedelta(days=2)
    assert scenario.alert["alerts"][0]["labels"]["service"] in scenario.topology
    assert scenario.distractors


def test_missing_data_scenario_drops_the_series() -> None:
    """The missing-data scenario has no processing_rate for the consumer and says so."""
    scenario = generate(MISSING_DATA, 3)
    consumer = scenario.alert["alerts"][0]["labels"]["service"]
    assert scenario.missing == [f"{consumer}/processing_rate"]
    have = scenario.metrics.loc[scenario.metrics["service"] == consumer, "metric"].unique()
    assert "processing_rate" not in have
    assert "consumer_lag_seconds" in have


def test_unknown_fault_is_refused() -> None:
    """Asking for a fault the generator does not know is a ValueError naming the known ones."""
    with pytest.raises(ValueError, match="backpressure"):
        generate("gremlins", 1)


def test_suspects_rank_the_series_that_moved() -> None:
    """The series that shifted at the window start ranks first; flat ones score near zero."""
    times = pd.date_range("2026-11-20T10:00Z", periods=240, freq="min")
    rows = []
    for i, t in enumerate(times):
        rows.append(
            {
                "timestamp": t,
                "service": "a",
                "metric": "lag",
                "value": 1.0 + (200.0 if i >= 120 else 0.0),
            }
        )
        rows.append(
            {"timestamp": t, "service": "b", "metric": "cpu", "value": 0.5 + 0.01 * (i % 3)}
        )
    ranked = rank_suspects(pd.DataFrame(rows), times[120], times[-1])
    assert [(r["service"], r["metric"]) for r in ranked] == [("a", "lag"), ("b", "cpu")]
    assert ranked[0]["direction"] == "up"
    assert ranked[0]["score"] > 10 > ranked[1]["score"]


def spec(hid: str, explains: tuple[str, ...] = ()) -> HypothesisSpec:
    return HypothesisSpec(
        hid,
        hid,
        "If a then b",
        f"{hid}.ipynb",
        (),
        {},
        "criterion",
        {},
        (),
        (),
        60,
        1,
        explains=explains,
    )


def test_the_cause_leads_even_when_a_consequence_is_more_confident() -> None:
    """A supported hypothesis explained by another supported one is a consequence, not the lead."""
    specs = {
        "deploy": spec("deploy", ("errors",)),
        "errors": spec("errors"),
        "other": spec("other"),
    }
    outcomes = [
        Outcome("deploy", "supported", 0.6, "", ""),
        Outcome("errors", "supported", 0.95, "", ""),
        Outcome("other", "refuted", 0.9, "", ""),
    ]
    assert consequences(outcomes, specs) == {"errors": "deploy"}
    assert leading(outcomes, specs).hypothesis_id == "deploy"  # type: ignore[union-attr]
    assert leading(outcomes).hypothesis_id == "errors"  # type: ignore[union-attr]  # without specs: confidence


def test_mutual_explanations_fall_back_to_confidence() -> None:
    """When two supported hypotheses explain each other, confidence decides."""
    specs = {"a": spec("a", ("b",)), "b": spec("b", ("a",))}
    outcomes = [Outcome("a", "supported", 0.6, "", ""), Outcome("b", "supported", 0.8, "", "")]
    assert consequences(outcomes, specs) == {}
    assert leading(outcomes, specs).hypothesis_id == "b"  # type: ignore[union-attr]


def test_every_template_is_inconclusive_without_a_service(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An alert that names no service makes every hypothesis inconclusive, never errored."""
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from rca_kit.testing import make_snapshot, run_inline

    t0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
    times = pd.date_range(t0 - timedelta(hours=8), t0, freq="min")
    metrics = pd.DataFrame(
        {"timestamp": times, "service": "svc", "metric": "cpu_utilization", "value": 0.5}
    )
    snapshot = make_snapshot(
        tmp_path / "snap", window=(t0 - timedelta(hours=1), t0), service="", metrics=metrics
    )
    templates = sorted(
        (Path(__file__).resolve().parent.parent / "notebooks" / "templates").glob("*.ipynb")
    )
    assert len(templates) == 9
    for template in templates:
        outcome = run_inline(template, snapshot)
        assert outcome.verdict == "inconclusive", (template.name, outcome.error, outcome.summary)
        assert any("service" in m for m in outcome.missing_data)
