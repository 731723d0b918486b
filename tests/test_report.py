"""The HTML reports from recorded investigations (no notebooks run): untrusted text escaped,
overrides, reruns and provenance shown, evidence pages named safely, the index."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rca_kit.intake import parse_alerts
from rca_kit.models import Outcome
from rca_kit.register import Register
from rca_kit.report import render_index, render_investigation
from rca_kit.report.html import script_json
from rca_kit.testing import alertmanager_payload, record_investigation

EVIL = "<script>window.pwned=1</script><img src=x onerror=alert(1)>"


def test_untrusted_text_is_escaped(tmp_path: Path) -> None:
    """Labels, annotations and summaries with markup render as text, never as HTML."""
    payload = alertmanager_payload("Lag" + EVIL, service=EVIL)
    payload["alerts"][0]["annotations"] = {"summary": EVIL, EVIL: "x"}
    alert = parse_alerts(json.dumps(payload))[0]
    reg = Register(f"sqlite:///{tmp_path}/rca.db")
    alert_id, _ = reg.store_alert(alert)
    inv, _ = reg.create_investigation(alert_id, tmp_path)
    reg.record_outcomes(
        inv, [Outcome("h", "supported", 0.9, EVIL, EVIL, observed={EVIL: EVIL})], {}
    )
    html = render_investigation(reg, inv, tmp_path / "reports", {}).read_text()
    reg.close()
    assert "<script>window.pwned" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html


def test_report_is_self_contained(tmp_path: Path) -> None:
    """No script, stylesheet or image is loaded from anywhere else."""
    alert = parse_alerts(json.dumps(alertmanager_payload("X")))[0]
    reg = Register(f"sqlite:///{tmp_path}/rca.db")
    alert_id, _ = reg.store_alert(alert)
    inv, _ = reg.create_investigation(alert_id, tmp_path)
    html = render_investigation(reg, inv, tmp_path / "reports", {}).read_text()
    reg.close()
    assert not re.search(r"<(script|img|link)[^>]+(src|href)=\"(https?:)?//", html)


def test_script_json_cannot_close_its_element() -> None:
    """Figure JSON embedded in <script> escapes every markup character."""
    text = str(script_json({"title": "</script><script>alert(1)</script>&"}))
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text
    assert json.loads(text)["title"].startswith("</script>")


def test_suspects_become_candidate_hypotheses_when_nothing_is_supported(tmp_path: Path) -> None:
    """With no supported hypothesis the report proposes the top suspects as new hypotheses."""
    alert = parse_alerts(json.dumps(alertmanager_payload("Mystery", service="svc")))[0]
    reg = Register(f"sqlite:///{tmp_path}/rca.db")
    alert_id, _ = reg.store_alert(alert)
    inv, _ = reg.create_investigation(alert_id, tmp_path)
    suspect = {
        "service": "svc",
        "metric": "gc_pause_<i>seconds</i>",
        "score": 42.0,
        "direction": "up",
        "before": 0.01,
        "after": 0.9,
    }
    reg.update_investigation(inv, action="test", suspects=[suspect])
    reg.record_outcomes(inv, [Outcome("h", "refuted", 0.8, "no", "c")], {})
    html = render_investigation(reg, inv, tmp_path / "reports", {}).read_text()
    reg.close()
    assert "Candidate new hypotheses" in html
    assert "gc_pause_&lt;i&gt;seconds&lt;/i&gt;" in html
    assert "caused Mystery" in html
    reg2 = Register(f"sqlite:///{tmp_path}/rca2.db")
    alert_id, _ = reg2.store_alert(alert)
    inv2, _ = reg2.create_investigation(alert_id, tmp_path)
    reg2.update_investigation(inv2, action="test", suspects=[suspect])
    reg2.record_outcomes(inv2, [Outcome("h", "supported", 0.8, "yes", "c")], {})
    html2 = render_investigation(reg2, inv2, tmp_path / "reports2", {}).read_text()
    reg2.close()
    assert "Candidate new hypotheses" not in html2
    assert "Auto-suspects" in html2


def recorded(tmp_path: Path, outcomes: list[Outcome], **payload: Any) -> tuple[Register, str]:
    """A register holding one investigation of a stored alert with these outcomes."""
    alert = parse_alerts(json.dumps(alertmanager_payload("Lag", service="orders", **payload)))[0]
    reg = Register(f"sqlite:///{tmp_path}/rca.db")
    alert_id, _ = reg.store_alert(alert)
    inv, _ = reg.create_investigation(alert_id, tmp_path / "investigations")
    reg.record_outcomes(inv, outcomes, {o.hypothesis_id: 1 for o in outcomes})
    return reg, inv


def hypothesis_section(html: str, hypothesis_id: str) -> str:
    for found in re.findall(r'<section class="hypothesis" id="h-\d+">.*?</section>', html, re.S):
        if f"<code>{hypothesis_id}</code>" in found:
            return str(found)
    raise AssertionError(f"no section for {hypothesis_id}")


def test_a_persons_override_and_reruns_stand_beside_the_recorded_verdict(tmp_path: Path) -> None:
    """The review stands by a person's verdict, names who set it and why and what the test
    said, and lists analysts' reruns under the run they repeat (never in its place)."""
    reg, inv = recorded(tmp_path, [Outcome("backpressure", "inconclusive", 0.0, "no lag", "c")])
    [run] = reg.runs(inv)
    reg.override_verdict(run["id"], "supported", "the lag graph in Grafana shows it <b>")
    rerun = Outcome("backpressure", "refuted", 0.7, "with min_minutes 30", "c")
    rerun_id = reg.record_rerun(
        run["id"], rerun, spec_version=1, parameters={}, edited={"min_minutes": 30}
    )
    html = render_investigation(reg, inv, tmp_path / "reports", {}).read_text()
    reg.close()
    section = hypothesis_section(html, "backpressure")
    assert html.count('<section class="hypothesis"') == 1  # the rerun is not a hypothesis
    assert '<span class="verdict supported">supported</span>' in section
    assert re.search(
        r'<p class="override">Verdict set to <strong>supported</strong> by [^<]+ '
        r"on [\d-]+ [\d:]+ UTC: "
        r"“the lag graph in Grafana shows it &lt;b&gt;” \(the test recorded inconclusive\)",
        section,
    )
    assert f"<code>{rerun_id}</code>" in section
    assert "<code>min_minutes</code> = 30" in section
    assert '<span class="verdict refuted">refuted</span> 0.70' in section
    assert "<td>Decisions</td><td>Verdict overridden: supported</td>" in html


def test_the_provenance_line_shows_how_the_notebook_was_made(tmp_path: Path) -> None:
    """The run's provenance (else the notebook's metadata) names template, spec, library,
    rca-kit, snapshot and kernel; without any, the review says none was recorded."""
    notebook = tmp_path / "nb.ipynb"
    provenance = {
        "schema": "rca-kit.provenance/1",
        "template": "notebooks/templates/backpressure.ipynb",
        "template_sha256": "a" * 64,
        "spec": {"id": "backpressure", "version": 3, "sha256": "b" * 64},
        "library": {"path": "library", "sha256": "c" * 64},
        "rca_kit": "0.1.0",
        "snapshot_sha256": "d" * 64,
        "kernel": {"name": "python3", "python": "3.11.7"},
        "packages": {"pandas": "2.2.3"},
    }
    document = {"cells": [], "metadata": {"rca_kit": provenance}, "nbformat": 4}
    document["nbformat_minor"] = 5
    notebook.write_text(json.dumps(document))
    outcomes = [
        Outcome("backpressure", "refuted", 0.8, "s", "c", notebook=notebook),
        Outcome("disk-pressure", "refuted", 0.8, "s", "c"),
    ]
    reg, inv = recorded(tmp_path, outcomes)
    html = render_investigation(reg, inv, tmp_path / "reports", {}).read_text()
    reg.close()
    line = re.search(r'<p class="provenance">(.*?)</p>', hypothesis_section(html, "backpressure"))
    assert line
    for text in (
        "template <code>notebooks/templates/backpressure.ipynb</code>",
        "spec <code>backpressure</code> · spec version <code>3</code>",
        f'library sha256 <code title="{"c" * 64}">{"c" * 12}</code>',
        "rca-kit <code>0.1.0</code>",
        f'snapshot sha256 <code title="{"d" * 64}">{"d" * 12}</code>',
        "Python <code>3.11.7</code>",
    ):
        assert text in line.group(1)
    assert "pandas" not in line.group(1)
    assert "No provenance recorded" in hypothesis_section(html, "disk-pressure")


def test_a_hypothesis_id_that_cannot_name_a_file_gets_no_evidence_page(tmp_path: Path) -> None:
    """An id like ../x is never a path: the review names the notebook and writes nothing."""
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4}))
    reg, inv = recorded(tmp_path, [Outcome("../../x", "refuted", 0.8, "s", "c", notebook=notebook)])
    reports = tmp_path / "reports"
    html = render_investigation(reg, inv, reports, {}).read_text()
    reg.close()
    assert 'class="evidence-link"' not in html
    assert "evidence notebook <code>nb.ipynb</code>" in html
    assert not (tmp_path / "x.html").exists()
    assert sorted(p.name for p in reports.iterdir()) == ["assets", f"{inv}.html"]


def test_the_index_is_newest_first_and_links_only_rendered_reviews(tmp_path: Path) -> None:
    """Every investigation is listed, newest first; a review not rendered yet is named with
    the command that renders it, never linked."""
    reg = Register(f"sqlite:///{tmp_path}/rca.db")
    _, older, _ = record_investigation(
        reg, name="Older" + EVIL, folder=tmp_path, starts_at="2026-11-20T10:00:00Z"
    )
    _, newer, _ = record_investigation(
        reg, name="Newer", service="ledger", folder=tmp_path, starts_at="2026-11-21T10:00:00Z"
    )
    reports = tmp_path / "reports"
    render_investigation(reg, older, reports, {})
    html = render_index(reg, reports).read_text()
    reg.close()
    rows = re.findall(r'<tr id="i-([^"]+)">(.*?)</tr>', html, re.S)
    assert [row_id for row_id, _ in rows] == [newer, older]
    assert f'<a href="{older}.html">{older}</a>' in rows[1][1]
    assert f"rca report {newer}" in rows[0][1]
    assert 'href="' + newer not in html
    assert "<script>window.pwned" not in html
    assert "Older&lt;script&gt;" in html


def test_a_notebook_that_cannot_be_exported_leaves_the_review_whole(tmp_path: Path) -> None:
    """A kernel wrote the notebook: one nbconvert refuses still gets a review that names it
    and says why it has no page."""
    notebook = tmp_path / "broken.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "nonsense"}], "metadata": {}}))
    reg, inv = recorded(
        tmp_path, [Outcome("backpressure", "refuted", 0.8, "s", "c", notebook=notebook)]
    )
    html = render_investigation(reg, inv, tmp_path / "reports", {}).read_text()
    reg.close()
    section = hypothesis_section(html, "backpressure")
    assert (
        "evidence notebook <code>broken.ipynb</code> in the investigation folder (no page: "
        in section
    )
    assert 'class="evidence-link"' not in section
