"""The whole investigation through the real `rca` command, on the bundled demo scenario."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.slow
Rca = Callable[..., subprocess.CompletedProcess[str]]


def test_investigate_demo_alert_json_contract(rca: Rca, workspace_dir: Path) -> None:
    """`rca investigate --json` prints the contract object with the expected verdicts."""
    done = rca("investigate", "examples/alerts/consumer-lag.json", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {
        "investigation_id",
        "alert_id",
        "status",
        "hypotheses",
        "leading_hypothesis",
        "tasks",
        "report",
        "evidence",
    }
    evidence = result["evidence"]
    assert evidence["metrics"] > 0
    assert [(s["kind"], s["status"], s["error"]) for s in evidence["sources"]] == [
        ("files", "ok", None)
    ]
    verdicts = {h["id"]: h["verdict"] for h in result["hypotheses"]}
    assert len(verdicts) == 9
    assert verdicts["backpressure"] == "supported"
    assert verdicts["recent-change"] == "refuted"  # the harmless orders-api deploy is ruled out
    assert verdicts["resource-saturation"] == "refuted"
    assert [h for h, v in verdicts.items() if v == "supported"] == ["backpressure"]
    assert result["leading_hypothesis"] == "backpressure"
    for h in result["hypotheses"]:
        assert set(h) == {"id", "verdict", "confidence", "notebook", "duration_s"}
        assert Path(h["notebook"]).is_file()
        assert Path(h["notebook"]).parent.name == result["investigation_id"]
        assert 0 <= h["confidence"] <= 1
    top = result["tasks"][0]
    assert set(top) == {"id", "title", "hypothesis", "score", "rank"}
    assert (top["rank"], top["hypothesis"]) == (1, "backpressure")
    assert "Scale out orders-consumer" in top["title"]
    assert [t["rank"] for t in result["tasks"]] == list(range(1, len(result["tasks"]) + 1))
    report = Path(result["report"])
    html = report.read_text()
    assert report.parent == workspace_dir / "reports"
    assert "Post-incident review: ConsumerLagHigh" in html
    assert "Plotly.newPlot" in html
    judged = [h for h, v in verdicts.items() if v in ("supported", "refuted")]
    assert 0 < html.count('data-target="fig-') <= len(judged)  # inconclusive ones draw nothing
    assert html.count('data-target="fig-') + html.count('class="no-plot"') == len(verdicts)
    assert "Auto-suspects" in html

    listed = json.loads(rca("register", "list", "--json", check=True).stdout)
    assert [t["id"] for t in listed] == [t["id"] for t in result["tasks"]]
    assert listed[0]["breakdown"]
    assert "impact" in listed[0]["explanation"]
    assert "audit chain intact" in rca("audit", "verify", check=True).stdout
    rerendered = rca("report", result["investigation_id"], check=True).stdout.strip()
    assert rerendered == str(report)

    again = json.loads(
        rca("investigate", "examples/alerts/consumer-lag.json", "--json", check=True).stdout
    )
    assert again["alert_id"] == result["alert_id"]  # the repeated alert is deduplicated
    assert again["investigation_id"] != result["investigation_id"]


def test_a_template_that_raises_is_errored_and_kept(rca: Rca, workspace_dir: Path) -> None:
    """A broken template yields errored with its partial notebook; the others still run."""
    template = workspace_dir / "notebooks" / "templates" / "resource-saturation.ipynb"
    doc = json.loads(template.read_text())
    doc["cells"][3]["source"] = "raise ValueError('broken on purpose')"
    template.write_text(json.dumps(doc))
    done = rca("investigate", "examples/alerts/consumer-lag.json", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    errored = next(h for h in result["hypotheses"] if h["id"] == "resource-saturation")
    assert errored["verdict"] == "errored"
    kept = Path(errored["notebook"])
    assert "broken on purpose" in kept.read_text()
    assert result["leading_hypothesis"] == "backpressure"
    engine = sa.create_engine(f"sqlite:///{workspace_dir}/rca.db")
    with engine.connect() as conn:
        error = conn.execute(
            sa.text("SELECT error FROM runs WHERE hypothesis_id = 'resource-saturation'")
        ).scalar()
    engine.dispose()
    assert "ValueError: broken on purpose" in error


def test_demo_from_an_empty_folder(rca: Rca, tmp_path: Path) -> None:
    """`rca demo` outside any workspace scaffolds one and prints the report path."""
    empty = tmp_path / "empty"
    empty.mkdir()
    done = rca("demo", cwd=empty)
    assert done.returncode == 0, done.stderr
    report = Path(done.stdout.strip().splitlines()[-1])
    assert report.is_file()
    assert report.is_relative_to(empty / "rca-demo")
    assert "leading hypothesis: backpressure" in done.stderr
