"""`rca alert ingest | list | show | dead-letters`, and investigating an alert with no service."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from rca_kit.cli.alerts import FORMATS
from rca_kit.intake import formats
from rca_kit.testing import one_line_error

Rca = Callable[..., subprocess.CompletedProcess[str]]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alerts"
ENV = {k: v for k, v in os.environ.items() if k not in ("RCA_WORKSPACE", "RCA_DATABASE_URL")}


def copy_fixture(name: str, workspace_dir: Path, **changes: object) -> Path:
    """tests/fixtures/alerts/<name>.json in the workspace; with changes to its first alert."""
    payload = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    if changes:
        payload["status"] = changes.get("status", payload["status"])
        payload["alerts"][0].update(changes)
    dest = workspace_dir / f"{name}-{len(changes)}.json"
    dest.write_text(json.dumps(payload), encoding="utf-8")
    return dest


def test_ingest_resolve_list_and_show(rca: Rca, workspace_dir: Path) -> None:
    """The resolved notice prints the firing alert's id; list and show give time to resolve."""
    firing = rca("alert", "ingest", str(copy_fixture("alertmanager", workspace_dir)))
    assert firing.returncode == 0, firing.stderr
    [alert_id] = firing.stdout.split()
    notice = copy_fixture(
        "alertmanager", workspace_dir, status="resolved", endsAt="2026-11-20T14:17:30Z"
    )
    done = rca("alert", "ingest", str(notice), "--format", "alertmanager")
    assert (done.returncode, done.stdout.split(), done.stderr) == (0, [alert_id], "")
    [row] = json.loads(rca("alert", "list", "--json", check=True).stdout)
    assert (row["id"], row["status"], row["investigations"]) == (alert_id, "resolved", 0)
    assert round(row["time_to_resolve_s"]) == 3690
    listed = rca("alert", "list", "--status", "resolved", check=True).stdout
    assert "resolved in 1h 01m" in listed
    assert "orders-consumer" in listed
    assert rca("alert", "list", "--status", "firing", check=True).stdout.strip() == "no alerts"
    shown = rca("alert", "show", alert_id, check=True).stdout
    assert "time to resolve 1h 01m" in shown
    assert "https://runbooks.example.com/kafka/consumer-lag" in shown
    assert "investigations  none" in shown
    detail = json.loads(rca("alert", "show", alert_id, "--json", check=True).stdout)
    assert detail["links"]["runbook"] == "https://runbooks.example.com/kafka/consumer-lag"
    assert detail["labels"]["consumergroup"] == "orders-warehouse-loader"
    assert detail["investigations"] == []
    assert "no alert with id 'al-nope'" in one_line_error(rca("alert", "show", "al-nope"))


def test_alert_without_service_is_stored_with_a_warning_and_not_investigated(
    rca: Rca, workspace_dir: Path
) -> None:
    """job/instance are no service: ingest warns in one line; investigate stops, exit 2."""
    shutil.copy(FIXTURES / "alertmanager-api.json", workspace_dir / "api.json")
    done = rca("alert", "ingest", "api.json")
    assert done.returncode == 0, done.stderr
    named, unnamed = done.stdout.split()
    [warning] = done.stderr.splitlines()
    assert warning.startswith(f"rca: warning: {unnamed} names no service")
    assert "(labels tried: service, app)" in warning
    line = one_line_error(rca("investigate", unnamed))
    assert line == (
        f"rca: error: alert {unnamed} names no service (labels tried: service, app); "
        "set [alerts] service_labels or add a service label"
    )
    assert (
        json.loads(rca("alert", "show", unnamed, "--json", check=True).stdout)["investigations"]
        == []
    )
    assert named != unnamed


def test_dead_letters_list_and_raw_bytes(rca: Rca, workspace_dir: Path) -> None:
    """A bad payload exits 2 and is listed; --show writes its bytes unchanged."""
    raw = b'{"event": {"event_type": "incident.acknowledged"}}\n\xff'
    (workspace_dir / "bad.json").write_bytes(raw)
    one_line_error(rca("alert", "ingest", "bad.json"))
    (workspace_dir / "ack.json").write_bytes(raw[:-2])
    assert "is not an alert" in one_line_error(rca("alert", "ingest", "ack.json"))
    first, second = json.loads(rca("alert", "dead-letters", "--json", check=True).stdout)
    assert (first["size"], second["size"]) == (len(raw), len(raw) - 2)
    assert "not valid JSON" in first["error"]
    assert second["source"].endswith("ack.json")
    listed = rca("alert", "dead-letters", check=True).stdout
    assert f"{len(raw)} B" in listed
    shown = subprocess.run(
        [sys.executable, "-m", "rca_kit", "alert", "dead-letters", "--show", str(first["id"])],
        cwd=workspace_dir,
        env=ENV,
        capture_output=True,
        check=True,
    )
    assert shown.stdout == raw
    assert "no dead letter" in one_line_error(rca("alert", "dead-letters", "--show", "99"))


def test_format_option_names_every_registered_format() -> None:
    assert FORMATS.split(", ") == formats.names()


def test_listing_alerts_imports_neither_pandas_nor_papermill(workspace_dir: Path) -> None:
    code = (
        "import sys; from rca_kit.cli import main; sys.argv = ['rca', 'alert', 'list']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print([m for m in ('pandas', 'papermill') if m in sys.modules], file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=workspace_dir, env=ENV, capture_output=True, text=True
    )
    assert done.stdout.strip() == "no alerts"
    assert done.stderr.strip() == "[]"
