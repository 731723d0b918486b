"""`rca audit verify` checks every frozen snapshot: each file against the manifest's sha256, the
manifest against the manifest sha256 the audit log recorded; a missing snapshot folder too.
Each difference is one line naming the investigation and the file; the exit code is 1. An
investigation that never froze a snapshot is not an error."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from rca_kit.config import Workspace
from rca_kit.evidence.load import manifest_digest
from rca_kit.ingest import ingest_file
from rca_kit.register import Register
from rca_kit.testing import make_snapshot

Rca = Callable[..., subprocess.CompletedProcess[str]]


def frozen(workspace: Workspace) -> tuple[str, Path]:
    """An investigation that froze a snapshot (as the pipeline records it), and another that
    never did; the first's id and snapshot folder."""
    register = Register(workspace.database_url, workspace.settings)
    try:
        [alert_id] = ingest_file(
            workspace, register, workspace.root / "examples/alerts/consumer-lag.json"
        )
        investigation_id, folder = register.create_investigation(
            alert_id, workspace.investigations_dir
        )
        register.create_investigation(alert_id, workspace.investigations_dir)  # froze nothing
        start = datetime(2024, 5, 1, 12, tzinfo=UTC)
        stamps = pd.date_range(start - timedelta(hours=1), start, freq="1min")
        logs = pd.DataFrame(
            {"timestamp": stamps, "service": "svc", "level": "info", "message": "ok"}
        )
        snapshot = make_snapshot(
            folder / "snapshot",
            window=(start, start + timedelta(hours=1)),
            service="svc",
            logs=logs,
        )
        manifest = json.loads((snapshot / "manifest.json").read_text())
        register.update_investigation(
            investigation_id,
            action="investigation.snapshot_frozen",
            snapshot_sha256=manifest["sha256"],
            audit_details={"manifest_sha256": manifest["manifest_sha256"]},
        )
    finally:
        register.close()
    return investigation_id, snapshot


def writable(path: Path) -> Path:
    path.chmod(0o644)
    return path


def test_an_intact_snapshot_passes(workspace: Workspace, rca: Rca) -> None:
    frozen(workspace)
    done = rca("audit", "verify")
    assert done.returncode == 0, done.stderr
    assert "audit chain intact" in done.stdout


def test_a_changed_snapshot_file_is_named(workspace: Workspace, rca: Rca) -> None:
    """One byte appended to logs.parquet: exit 1, one line naming the investigation and file."""
    investigation_id, snapshot = frozen(workspace)
    logs = writable(snapshot / "logs.parquet")
    logs.write_bytes(logs.read_bytes() + b"\0")
    done = rca("audit", "verify")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"investigation {investigation_id}: snapshot file {logs} changed" in lines[0]


def test_an_edited_manifest_is_named_even_resealed(workspace: Workspace, rca: Rca) -> None:
    """A manifest edited (its seal then wrong) or edited and sealed again by hand (not what the
    audit log recorded) is reported; so is a file whose hash was changed in it."""
    investigation_id, snapshot = frozen(workspace)
    path = writable(snapshot / "manifest.json")
    manifest = json.loads(path.read_text())
    manifest["window"]["end"] = manifest["window"]["start"]
    path.write_text(json.dumps(manifest))
    done = rca("audit", "verify")
    assert done.returncode == 1
    expected = f"investigation {investigation_id}: snapshot file {path} changed since it was frozen"
    assert expected in done.stderr
    manifest["files"]["logs.parquet"]["sha256"] = "0" * 64
    manifest["manifest_sha256"] = manifest_digest(manifest)  # re-sealed by hand
    path.write_text(json.dumps(manifest))
    done = rca("audit", "verify")
    assert done.returncode == 1
    assert expected in done.stderr
    assert f"snapshot file {snapshot / 'logs.parquet'} changed" in done.stderr
    assert "2 snapshot files do not match the register" in done.stderr


def test_a_missing_snapshot_folder_or_file_is_named(workspace: Workspace, rca: Rca) -> None:
    investigation_id, snapshot = frozen(workspace)
    (snapshot / "changes.parquet").unlink()
    done = rca("audit", "verify")
    assert done.returncode == 1
    missing = (
        f"investigation {investigation_id}: snapshot file {snapshot}/changes.parquet is missing"
    )
    assert missing in done.stderr
    for file in snapshot.iterdir():
        writable(file)
    shutil.rmtree(snapshot)
    done = rca("audit", "verify")
    assert done.returncode == 1
    assert f"investigation {investigation_id}: snapshot folder {snapshot} is missing" in done.stderr
