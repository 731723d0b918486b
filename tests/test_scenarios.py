"""The scenario generator, auto-suspects and the cause-vs-consequence leading rule."""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rca_kit.models import HypothesisSpec, Outcome
from rca_kit.scenarios import (
    DEMO_ALERT,
    FAULTS,
    MISSING_DATA,
    NO_FAULT,
    Scenario,
    demo,
    generate,
    write_scenario,
)
from rca_kit.scenarios.realism import JITTER, NON_NUMERIC, STEPS, export, render
from rca_kit.scenarios.simulate import PIPELINES
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


# --- scenario families: realism the templates must survive (rca_kit/scenarios/families.py) ---

ROOT = Path(__file__).resolve().parent.parent
ZONED = re.compile(r"(?:Z|[+-]\d\d:\d\d)$")


def _written(scenario: Scenario, folder: Path) -> dict[str, bytes]:
    paths = write_scenario(scenario, folder)
    return {name: path.read_bytes() for name, path in paths.items()}


def _metrics_file(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def test_the_demo_writes_the_bundled_example_files_byte_for_byte(tmp_path: Path) -> None:
    """The default (clean) family writes exactly the files bundled in examples/."""
    written = _written(demo(), tmp_path)
    for name, relative in (
        ("metrics", "data/metrics.csv"),
        ("logs", "data/logs.jsonl"),
        ("changes", "data/changes.jsonl"),
        ("alert", DEMO_ALERT),
    ):
        assert written[name] == (ROOT / "examples" / relative).read_bytes(), name


def test_the_clean_family_is_the_default(tmp_path: Path) -> None:
    """family="clean" is what generate() gives without a family, file for file."""
    assert _written(generate("schema-drift", 4), tmp_path / "a") == _written(
        generate("schema-drift", 4, family="clean"), tmp_path / "b"
    )


def test_same_seed_same_files_in_every_family(tmp_path: Path) -> None:
    """A family's files are a function of its seed; another seed writes other files."""
    a = _written(generate("disk-pressure", 6, family="realistic"), tmp_path / "a")
    b = _written(generate("disk-pressure", 6, family="realistic"), tmp_path / "b")
    assert a == b
    other = export(generate("disk-pressure", 7, family="realistic")).metrics
    assert not other.equals(export(generate("disk-pressure", 6, family="realistic")).metrics)


def test_unknown_family_and_a_fault_in_no_fault_are_refused() -> None:
    """An unknown family names the known ones; the no-fault family only takes NO_FAULT."""
    with pytest.raises(ValueError, match="realistic"):
        generate("backpressure", 1, family="chaos")
    with pytest.raises(ValueError, match="injects no fault"):
        generate("backpressure", 1, family="no-fault")


def test_steps_vary_per_series_within_15s_to_5min() -> None:
    """Each series has its own scrape step (15 s-5 min), its exporter's phase and jitter."""
    exported = export(generate("backpressure", 2, family="steps"))
    assert set(exported.steps.values()) <= set(STEPS)
    assert len(set(exported.steps.values())) >= 3
    seconds_of_minute = defaultdict(set)
    for (service, metric), rows in exported.metrics.groupby(["service", "metric"]):
        epochs = np.sort(rows["epoch"].to_numpy())
        gaps = np.diff(epochs)
        step = exported.steps[(service, metric)]
        assert abs(float(np.median(gaps)) - step) <= 2 * JITTER
        assert gaps[1:-1].min() >= 15 - 2 * JITTER
        assert gaps.max() <= 300 + 2 * JITTER
        assert not np.allclose(gaps, step)  # jittered, not on a perfect grid
        if step == 60:
            seconds_of_minute[service].add(round(float(np.median(epochs % 60))))
    phases = {min(s) for s in seconds_of_minute.values()}
    assert len(phases) >= 2  # exporters scrape at their own second


def test_messy_files_have_every_kind_of_mess_and_the_truth_is_unchanged() -> None:
    """Mixed offsets, epoch files, gaps, empty, NaN and non-numeric values, duplicate and
    unordered rows are written; the scenario's truth is the clean family's."""
    scenario = generate("memory-leak", 1, family="messy")
    pd.testing.assert_frame_equal(scenario.metrics, generate("memory-leak", 1).metrics)
    exported = export(scenario)
    texts = render(exported)
    metrics = _metrics_file(texts["metrics"])
    zones = metrics["timestamp"].str.extract(r"(Z|[+-]\d\d:\d\d)$")[0]
    assert zones.notna().all()
    assert len(set(zones)) >= 4  # offsets differ row to row
    values = metrics["value"]
    assert (values == "").any()
    assert (values == "NaN").any()
    assert values.isin(NON_NUMERIC).sum() >= 10
    stamps = pd.to_datetime(metrics["timestamp"], utc=True, format="ISO8601")
    assert not stamps.is_monotonic_increasing  # out of order
    keys = pd.DataFrame({"t": stamps, "s": metrics["service"], "m": metrics["metric"]})
    assert keys.duplicated().any()  # the same sample written twice (maybe in another offset)
    per_series = keys.groupby(["s", "m"]).size()
    assert per_series.min() < 2 * 24 * 60  # missed scrapes
    silence = keys.sort_values("t").groupby("s")["t"].apply(lambda t: t.diff().max())
    assert silence.max() >= pd.Timedelta(minutes=3)  # an exporter restarted: all its series
    logs = [json.loads(line) for line in texts["logs"].splitlines()]
    assert all(isinstance(row["timestamp"], (int, float)) for row in logs)  # an epoch file
    assert {"ERROR", "Error", "error"} <= {row["level"] for row in logs}


def test_every_written_timestamp_has_a_zone_or_is_epoch_seconds() -> None:
    """Files stay inside docs/evidence.md: a column is all epoch seconds or all zoned ISO."""
    for fault, family in (("upstream-degradation", "realistic"), ("memory-leak", "messy")):
        texts = render(export(generate(fault, 3, family=family)))  # the messy one: epoch
        metrics = _metrics_file(texts["metrics"])
        assert list(metrics.columns) == ["timestamp", "service", "metric", "value"]
        stamps = {"metrics": metrics["timestamp"].tolist()}
        for kind in ("logs", "changes"):
            stamps[kind] = [json.loads(line)["timestamp"] for line in texts[kind].splitlines()]
        for kind, column in stamps.items():
            numeric = [str(v).replace(".", "", 1).isdigit() for v in column]
            assert all(numeric) or not any(numeric), kind
            assert all(numeric) or all(ZONED.search(str(v)) for v in column), kind


def test_counters_are_monotonic_with_resets() -> None:
    """restarts (and errors_total) are cumulative: they only grow, except at resets to 0,
    and the OOM kill of a memory leak is an increment."""
    scenario = generate("memory-leak", 2, family="counters")
    exported = export(scenario)
    assert exported.counters == ("restarts", "errors_total")
    resets = 0
    for (_, metric), rows in exported.metrics.groupby(["service", "metric"]):
        if metric not in exported.counters:
            continue
        steps = np.diff(rows.sort_values("epoch")["value"].to_numpy(dtype=float))
        drops = steps[steps < 0]
        resets += len(drops)
        assert len(drops) <= 3
    assert resets >= 1
    service = scenario.alert["alerts"][0]["labels"]["service"]
    mine = exported.metrics.loc[
        (exported.metrics["service"] == service) & (exported.metrics["metric"] == "restarts")
    ].sort_values("epoch")
    onset = scenario.onset.timestamp()
    before = mine.loc[mine["epoch"] < onset, "value"].iloc[-1]
    assert mine.loc[mine["epoch"] >= onset, "value"].iloc[0] == before + 1


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_late_alerts_fire_at_least_an_hour_after_onset(fault: str) -> None:
    """In the late family the alert fires 1-4 h after the fault began, inside the export."""
    for seed in (8, 810000, 810001):  # onsets early in the simulation too
        scenario = generate(fault, seed, family="late")
        starts = pd.Timestamp(scenario.alert["alerts"][0]["startsAt"])
        assert pd.Timedelta(hours=1) <= starts - scenario.onset <= pd.Timedelta(hours=5)
        assert starts <= scenario.end
        metrics = scenario.metrics
        assert metrics["timestamp"].min() <= scenario.onset - pd.Timedelta(hours=6), seed
        assert metrics["timestamp"].max() >= starts, seed


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_no_fault_alerts_fire_on_traffic_alone(seed: int) -> None:
    """The no-fault family raises an alert but injects nothing: no change to the resources,
    restarts, nulls, errors or lag a fault would move, and no magnitude."""
    scenario = generate(NO_FAULT, seed, family="no-fault")
    assert scenario.fault == NO_FAULT
    assert not scenario.magnitudes
    assert scenario.onset <= pd.Timestamp(scenario.alert["alerts"][0]["startsAt"])
    m = scenario.metrics
    value = m.set_index(["metric"])["value"]
    assert value.loc["restarts"].max() == 0
    assert value.loc["disk_utilization"].max() < 0.9
    assert value.loc["null_fraction"].max() < 0.05
    assert value.loc["consumer_lag_seconds"].max() < 60
    service = scenario.alert["alerts"][0]["labels"]["service"]
    mine = m.loc[m["service"] == service].pivot(index="timestamp", columns="metric", values="value")
    sustained = mine.rolling(10).median()  # a brief spike (a distractor) is no saturation
    assert sustained["cpu_utilization"].max() < 0.9
    assert sustained["memory_utilization"].max() < 0.9
    assert mine["error_rate"].tail(60).median() < 2 * mine["error_rate"].median()
    assert not (scenario.changes["kind"] == "schema").any()


def test_fan_in_gives_the_consumer_several_upstreams_under_new_names() -> None:
    """The fan-in consumer has at least two upstreams, each measured, summing to its ingest."""
    for seed in (1, 2, 3):
        scenario = generate("upstream-degradation", seed, family="fan-in")
        service = scenario.alert["alerts"][0]["labels"]["service"]
        consumer = service if len(scenario.topology[service]) > 1 else scenario.topology[service][0]
        upstreams = scenario.topology[consumer]
        assert len(upstreams) >= 2
        assert not set(scenario.topology) & {name for names in PIPELINES for name in names}
        ingest = scenario.metrics.loc[scenario.metrics["metric"] == "ingest_rate"].pivot(
            index="timestamp", columns="service", values="value"
        )
        total = ingest[upstreams].sum(axis=1)
        assert np.allclose(total, ingest[consumer], rtol=1e-3)


def test_concurrent_anomalies_are_added_and_named() -> None:
    """The concurrent family adds unrelated anomalies, named among the distractors."""
    scenario = generate("backpressure", 3, family="concurrent")
    assert any(d.startswith("concurrent:") for d in scenario.distractors)


# the largest distance past its threshold a subtle magnitude may lie (units of the threshold)
MARGINS = {
    "excess": 0.06,
    "z": 3.0,
    "level": 0.035,
    "drop": 0.15,
    "slope_per_hour": 0.011,
    "peak": 0.08,
    "ratio": 3.1,
    "latency_rise": 0.11,
    "throughput_drop": 0.15,
    "null_jump": 0.021,
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_subtle_magnitudes_lie_just_past_the_spec_thresholds(fault: str) -> None:
    """Every subtle fault records its magnitudes; each lies beyond the threshold the spec's
    criterion names, by no more than a small margin (volume drops lie below 0.6)."""
    scenario = generate(fault, 2, family="subtle")
    assert scenario.magnitudes
    for name, (value, threshold) in scenario.magnitudes.items():
        past = threshold - value if name == "ratio" and threshold < 1 else value - threshold
        assert 0 < past <= MARGINS[name], (name, value, threshold)
    assert generate(fault, 2).magnitudes == {}
