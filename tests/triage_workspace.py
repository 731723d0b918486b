"""A real workspace with one real investigation (notebooks run in kernels) for the triage, widget
and Lab tests: the bundled workspace with a smaller library, and an alert whose name and labels
carry markup that must stay text wherever a person reads them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rca_kit.config import Workspace, find_workspace
from rca_kit.ingest import ingest_file
from rca_kit.pipeline import investigate, open_register

ROOT = Path(__file__).resolve().parent.parent
KEEP = ("backpressure", "disk-pressure", "error-log-spike", "volume-anomaly")  # `explains` closed
PWNED = "window.__rcaPwned=1"
HOSTILE_NAME = f"ConsumerLagHigh<img src=x onerror={PWNED}>"
HOSTILE_NOTE = f"<script>{PWNED}</script><b>bold?</b>"


def hostile_alert(workspace_root: Path) -> Path:
    """The demo alert, renamed and labelled with markup (its service and evidence unchanged)."""
    payload = json.loads((workspace_root / "examples/alerts/consumer-lag.json").read_text())
    for labels in (payload["commonLabels"], payload["alerts"][0]["labels"]):
        labels["alertname"] = HOSTILE_NAME
        labels["note"] = HOSTILE_NOTE
    payload["groupLabels"]["alertname"] = HOSTILE_NAME
    path = workspace_root / "hostile-alert.json"
    path.write_text(json.dumps(payload))
    return path


def investigated(pristine: Path, dest: Path, keep: tuple[str, ...] = KEEP) -> tuple[Workspace, str]:
    """A copy of the scaffolded workspace at `dest` whose library holds only `keep`, and the id
    of a finished investigation of the hostile alert there."""
    shutil.copytree(pristine, dest)
    for spec in (dest / "library").glob("*.yaml"):
        if spec.stem not in keep:
            spec.unlink()
    workspace = find_workspace(dest)
    register = open_register(workspace)
    try:
        [alert_id] = ingest_file(workspace, register, hostile_alert(dest))
    finally:
        register.close()
    result = investigate(workspace, alert_id)
    assert result.status == "done", result.problem
    return workspace, result.investigation_id
