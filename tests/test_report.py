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
