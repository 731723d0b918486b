"""Details of the review from recorded investigations (no notebooks run): evidence pages kept
while the notebook's bytes are unchanged, an error said once, time to detect and to notify."""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import timedelta
from pathlib import Path

from investigated import fact, section

from rca_kit.intake import parse_alerts
from rca_kit.learning import parse_ts
from rca_kit.models import Outcome
from rca_kit.register import Register
from rca_kit.report import render_investigation
from rca_kit.testing import alertmanager_payload


def recorded(tmp_path: Path, outcomes: list[Outcome]) -> tuple[Register, str]:
    """A register holding one investigation of a stored alert with these outcomes."""
    alert = parse_alerts(json.dumps(alertmanager_payload("Lag", service="orders")))[0]
    reg = Register(f"sqlite:///{tmp_path}/rca.db")
    alert_id, _ = reg.store_alert(alert)
    inv, _ = reg.create_investigation(alert_id, tmp_path / "investigations")
    reg.record_outcomes(inv, outcomes, {o.hypothesis_id: 1 for o in outcomes})
    return reg, inv


def test_a_page_is_exported_again_only_when_the_notebook_bytes_change(tmp_path: Path) -> None:
    """A notebook touched but not changed keeps its page; the page names the sha256 it was
    exported from, the one its run recorded."""
    notebook = tmp_path / "02-backpressure.ipynb"
    body = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    notebook.write_text(json.dumps(body))
    digest = hashlib.sha256(notebook.read_bytes()).hexdigest()
    outcome = Outcome(
        "backpressure", "refuted", 0.8, "s", "c", notebook=notebook, notebook_sha256=digest
    )
    reg, inv = recorded(tmp_path, [outcome])
    reports = tmp_path / "reports"
    render_investigation(reg, inv, reports, {})
    page = reports / inv / "backpressure.html"
    written = page.stat().st_mtime_ns
    assert f'<meta name="rca-kit-notebook-sha256" content="{digest}">' in page.read_text()
    later = notebook.stat().st_mtime_ns + 10**10
    os.utime(notebook, ns=(later, later))
    html = render_investigation(reg, inv, reports, {}).read_text()
    reg.close()
    assert page.stat().st_mtime_ns == written
    assert 'class="evidence-link"' in section(html, "backpressure")


def test_an_errored_test_says_its_error_once(tmp_path: Path) -> None:
    """The error is the card's Error, not also its Result and its no-plot line."""
    message = "ZeroDivisionError: division by zero in cell 4"
    outcome = Outcome("backpressure", "errored", 0.0, message, "", error=message)
    reg, inv = recorded(tmp_path, [outcome])
    html = render_investigation(reg, inv, tmp_path / "reports", {}).read_text()
    reg.close()
    card = section(html, "backpressure")
    assert card.count(message) == 1
    assert f'<dt>Error</dt><dd class="error">{message}</dd>' in card
    assert "No plot: the test errored (the error is above)" in card


def test_time_to_detect_runs_from_onset_to_the_alert_start(tmp_path: Path) -> None:
    """Time to detect: the symptom's onset the snapshot recorded → the alert's startsAt; time
    to notify: startsAt → received by rca-kit. The timeline starts at that onset."""
    reg, inv = recorded(tmp_path, [Outcome("backpressure", "refuted", 0.8, "s", "c")])
    row = reg.alert_row(reg.investigation(inv)["alert_id"])
    starts = parse_ts(row["starts_at"])
    assert starts is not None
    onset = (starts - timedelta(minutes=12)).isoformat()
    html = render_investigation(reg, inv, tmp_path / "reports", {}).read_text()
    assert fact(html, "Time to detect") == "0 s"  # no onset recorded: the alert's start
    snapshot = Path(reg.investigation(inv)["folder"]) / "snapshot"
    snapshot.mkdir(parents=True)
    (snapshot / "manifest.json").write_text(json.dumps({"context": {"onset": onset}}))
    html = render_investigation(reg, inv, tmp_path / "reports", {}).read_text()
    reg.close()
    assert fact(html, "Time to detect") == "12 min"
    assert re.fullmatch(r"[\d.]+ (s|min|h|d)", fact(html, "Time to notify"))
    table = re.search(r'<table id="timeline-events">(.*?)</table>', html, re.S)
    assert table
    cell = r"<td>([^<]+)</td>"
    events = re.findall(
        rf'<tr class="k-[^"]+">{cell}<td class="num">[^<]*</td>{cell}{cell}', table[1]
    )
    assert events[0][2] == "Symptom onset"
    assert "Alert starts (startsAt)" in [label for _, _, label in events]
