"""Each fault type, with a fixed seed, through the real pipeline (papermill, real kernels)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from rca_kit.intake import parse_alerts
from rca_kit.library import load_library
from rca_kit.pipeline import job_parameters
from rca_kit.scenarios import DEMO_ALERT, FAULTS, MISSING_DATA, generate
from rca_kit.testing import investigate_scenario, run_inline

pytestmark = pytest.mark.slow
SEED = 20261125


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_the_true_cause_leads_and_bystanders_stay_unsupported(fault: str, tmp_path: Path) -> None:
    """The injected fault is the leading hypothesis; nothing undocumented is supported."""
    workspace, result = investigate_scenario(generate(fault, SEED), tmp_path)
    alert_id = result.alert_id
    specs = {s.id: s for s in load_library(workspace.library_dir, workspace.templates_dir)}
    verdicts = {o.hypothesis_id: o.verdict for o in result.outcomes}
    assert "errored" not in verdicts.values(), [o.error for o in result.outcomes]
    assert result.leading is not None, verdicts
    assert result.leading.hypothesis_id == fault, verdicts
    allowed = {fault, *specs[fault].explains}
    assert {h for h, v in verdicts.items() if v == "supported"} <= allowed, verdicts
    assert result.tasks
    assert result.tasks[0]["hypothesis_id"] == fault

    # the in-process executor used by `make bench-accuracy` agrees with papermill
    alert = replace(
        parse_alerts((workspace.root / "examples" / DEMO_ALERT).read_bytes())[0], id=alert_id
    )
    snapshot = next(workspace.investigations_dir.glob("*/snapshot"))
    from rca_kit.evidence.load import load_evidence
    from rca_kit.models import Snapshot, Window

    ev = load_evidence(snapshot)
    frozen = Snapshot(
        snapshot,
        "",
        Window(ev.window_start.to_pydatetime(), ev.window_end.to_pydatetime()),
        ev.lookback_start.to_pydatetime(),
        {},
    )
    for outcome in result.outcomes:
        spec = specs[outcome.hypothesis_id]
        inline = run_inline(
            workspace.templates_dir / spec.template,
            snapshot,
            **job_parameters(spec, workspace, alert, result.investigation_id, frozen),
        )
        assert (inline.verdict, round(inline.confidence, 6)) == (
            outcome.verdict,
            round(outcome.confidence, 6),
        )


def test_missing_data_is_inconclusive_and_named(tmp_path: Path) -> None:
    """Without processing_rate, backpressure is inconclusive naming it; nothing else is blamed."""
    _, result = investigate_scenario(generate(MISSING_DATA, SEED), tmp_path)
    outcome = next(o for o in result.outcomes if o.hypothesis_id == "backpressure")
    assert outcome.verdict == "inconclusive"
    assert any("processing_rate" in m for m in outcome.missing_data)
    assert result.leading is None, [(o.hypothesis_id, o.verdict) for o in result.outcomes]
