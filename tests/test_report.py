"""The HTML report: self-contained, and untrusted text is escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path

from rca_kit.intake import parse_alerts
from rca_kit.models import Outcome
from rca_kit.register import Register
from rca_kit.report import render_investigation
from rca_kit.report.render import script_json
from rca_kit.testing import alertmanager_payload

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
