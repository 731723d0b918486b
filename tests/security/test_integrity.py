"""Integrity end to end: a keyed audit chain (RCA_AUDIT_KEY) exposes an edit recomputed without
the key; a snapshot's whole manifest is sealed and checked against what the register recorded."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from rca_kit.config import find_workspace
from rca_kit.evidence.load import load_evidence, manifest_digest
from rca_kit.exceptions import AuditChainError, EvidenceError
from rca_kit.intake import parse_alerts
from rca_kit.register import Register
from rca_kit.register.audit import GENESIS, event_hash
from rca_kit.testing import make_snapshot, one_line_error, record_investigation

ROOT = Path(__file__).resolve().parents[2]
RCA = str(Path(sys.executable).parent / "rca")
KEY = "correct horse battery staple"
WINDOW = (datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC))


def _rehash_all(reg: Register, edit: Callable[[dict[str, Any]], None], start: int = 1) -> None:
    """An attacker without the key: edit events, then recompute every hash and link (sha256)
    from event `start` on."""
    with reg.engine.begin() as conn:
        rows = [dict(r) for r in conn.execute(sa.text("SELECT * FROM audit_events ORDER BY seq"))
                .mappings()]  # fmt: skip
        previous = rows[start - 2]["hash"] if start > 1 else GENESIS
        for row in rows[start - 1 :]:
            edit(row)
            row["prev_hash"] = previous
            row["hash"] = previous = event_hash(row)
            conn.execute(
                sa.text(
                    "UPDATE audit_events SET actor = :actor, details = :details, "
                    "prev_hash = :prev_hash, hash = :hash WHERE seq = :seq"
                ),
                row,
            )


def test_keyed_chain_detects_an_edit_recomputed_without_the_key(
    register: Register, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RCA_AUDIT_KEY", KEY)
    record_investigation(register)
    count, _ = register.verify_audit()
    with register.engine.connect() as conn:
        details = conn.execute(sa.text("SELECT details FROM audit_events")).scalars().all()
    assert all(json.loads(d)["keyed"] == "hmac-sha256" for d in details)
    assert not any(KEY in d for d in details)  # the key itself is never stored
    assert register.unauthenticated_events() == 0

    _rehash_all(register, lambda row: row.update(actor="mallory") if row["seq"] == 2 else None)
    with pytest.raises(AuditChainError, match=r"^event 1: keyed hash does not match: changed "
                       "without the audit key"):  # fmt: skip
        register.verify_audit()
    monkeypatch.setenv("RCA_AUDIT_KEY", "a guess")
    with pytest.raises(AuditChainError, match="keyed hash does not match"):
        register.verify_audit()
    assert count > 2


def test_stripping_the_keyed_marker_is_a_rewrite(
    register: Register, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events downgraded to plain sha256 after a keyed one fail with the key set."""
    monkeypatch.setenv("RCA_AUDIT_KEY", KEY)
    record_investigation(register)

    def strip(row: dict[str, Any]) -> None:
        if row["seq"] >= 3:
            details = json.loads(row["details"])
            details.pop("keyed")
            row["details"] = json.dumps(details, sort_keys=True, separators=(",", ":"))

    _rehash_all(register, strip, start=3)  # events 1-2 untouched, 3 onward plain and relinked
    with pytest.raises(AuditChainError, match=r"^event 3 is not keyed though event 1 before it is"):
        register.verify_audit()
    monkeypatch.delenv("RCA_AUDIT_KEY")
    register.verify_audit()  # without the key the downgrade cannot be told from a writer
    assert register.unauthenticated_events() == 2  # …but the output says what went unchecked


def test_unkeyed_events_still_verify_and_keyed_ones_follow(
    register: Register, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older, unkeyed database keeps verifying; events appended once the key is set are
    keyed; without the key, those are checked for linkage only."""
    monkeypatch.delenv("RCA_AUDIT_KEY", raising=False)
    record_investigation(register)
    old, _ = register.verify_audit()
    monkeypatch.setenv("RCA_AUDIT_KEY", KEY)
    record_investigation(register, starts_at="2026-11-21T10:00:00Z")
    total, _ = register.verify_audit()
    assert register.unauthenticated_events() == 0
    monkeypatch.delenv("RCA_AUDIT_KEY")
    assert register.verify_audit()[0] == total
    assert register.unauthenticated_events() == total - old > 0
    with register.engine.begin() as conn:  # without the key, linkage is still checked
        conn.execute(sa.text("UPDATE audit_events SET prev_hash = :h WHERE seq = :s"),
                     {"h": "f" * 64, "s": total})  # fmt: skip
    with pytest.raises(AuditChainError, match=f"event {total} does not follow"):
        register.verify_audit()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RCA_WORKSPACE", "RCA_DATABASE_URL", "RCA_AUDIT_KEY")}  # fmt: skip
    return {**env, **extra}


def test_cli_audit_verify_with_and_without_the_key(workspace_dir: Path) -> None:
    reg = Register(f"sqlite:///{workspace_dir / 'rca.db'}")
    try:
        os.environ["RCA_AUDIT_KEY"] = KEY
        record_investigation(reg)
    finally:
        os.environ.pop("RCA_AUDIT_KEY", None)
        reg.close()

    def verify(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([RCA, "audit", "verify"], cwd=workspace_dir, env=_env(**env),
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    keyed = verify(RCA_AUDIT_KEY=KEY)
    assert keyed.returncode == 0, keyed.stderr
    assert keyed.stdout.startswith("audit chain intact")
    assert "note" not in keyed.stdout
    plain = verify()
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert lines[0].startswith("audit chain intact")
    assert len(lines) == 2
    assert "keyed events were checked only for linkage, not authenticity" in lines[1]
    assert KEY not in keyed.stdout + keyed.stderr + plain.stdout

    reg = Register(f"sqlite:///{workspace_dir / 'rca.db'}")
    try:
        _rehash_all(reg, lambda row: row.update(actor="mallory") if row["seq"] == 1 else None)
    finally:
        reg.close()
    line = one_line_error(verify(RCA_AUDIT_KEY=KEY), code=1)
    assert "event 1: keyed hash does not match: changed without the audit key" in line


# The whole manifest is sealed ---------------------------------------------------------------


def _snapshot(tmp_path: Path) -> Path:
    return make_snapshot(tmp_path / "snap", window=WINDOW, service="orders-consumer",
                         topology={"orders-consumer": ["kafka"]})  # fmt: skip


def _edit(path: Path, change: Callable[[dict[str, Any]], None], *, reseal: bool) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    if reseal:
        manifest["manifest_sha256"] = manifest_digest(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "window": lambda m: m["window"].update(start="2026-11-20T10:30:00+00:00"),
    "lookback": lambda m: m.update(lookback_start="2026-11-20T09:00:00+00:00"),
    "onset": lambda m: m["context"].update(onset="2026-11-20T10:45:00+00:00"),
    "topology": lambda m: m["context"].update(topology={}),
    "service": lambda m: m["context"].update(service="payments"),
    "sources": lambda m: m.update(sources=[]),
}


@pytest.mark.parametrize("field", sorted(EDITS))
def test_an_edited_manifest_is_refused(tmp_path: Path, field: str) -> None:
    snap = _snapshot(tmp_path)
    sealed = json.loads((snap / "manifest.json").read_text())["manifest_sha256"]
    assert load_evidence(snap, expected_sha256=sealed).service == "orders-consumer"
    _edit(snap, EDITS[field], reseal=False)
    with pytest.raises(EvidenceError) as caught:
        load_evidence(snap)
    assert "manifest.json changed after the snapshot was frozen" in str(caught.value)
    assert "\n" not in str(caught.value)
    _edit(snap, EDITS[field], reseal=True)  # re-sealed by hand: only the register knows
    load_evidence(snap)
    with pytest.raises(EvidenceError, match="not the one the register recorded"):
        load_evidence(snap, expected_sha256=sealed)


def test_a_parquet_file_changed_with_its_manifest_hash_is_refused(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path)
    sealed = json.loads((snap / "manifest.json").read_text())["manifest_sha256"]
    ev = load_evidence(snap)
    ev.metrics.assign(value=0.0).to_parquet(snap / "metrics.parquet", index=False)
    digest = hashlib.sha256((snap / "metrics.parquet").read_bytes()).hexdigest()

    def swap(manifest: dict[str, Any]) -> None:
        manifest["files"]["metrics.parquet"]["sha256"] = digest

    _edit(snap, swap, reseal=False)
    with pytest.raises(EvidenceError, match="manifest sha256 mismatch"):
        load_evidence(snap)
    _edit(snap, swap, reseal=True)  # the files hash (`sha256`) was not recomputed
    with pytest.raises(EvidenceError, match="files sha256 mismatch"):
        load_evidence(snap)
    from rca_kit.evidence.load import files_digest

    _edit(snap, lambda m: m.update(sha256=files_digest(m["files"])), reseal=True)
    load_evidence(snap)  # consistent on its own…
    with pytest.raises(EvidenceError, match="not the one the register recorded"):
        load_evidence(snap, expected_sha256=sealed)  # …but not the snapshot recorded


def test_snapshots_frozen_before_manifests_were_sealed_still_load(tmp_path: Path) -> None:
    example = ROOT / "examples" / "snapshot"
    manifest = json.loads((example / "manifest.json").read_text())
    assert "manifest_sha256" not in manifest
    assert load_evidence(example, expected_sha256=manifest["sha256"]).metrics is not None


def test_an_investigation_whose_snapshot_changed_before_harvest_fails(workspace_dir: Path) -> None:
    """The snapshot edited (and re-sealed) while notebooks run: the investigation fails with
    one line before anything is scored; `rca investigate --resume` refuses it too."""
    from rca_kit import pipeline

    for spec in (workspace_dir / "library").glob("*.yaml"):
        if spec.stem != "backpressure":
            spec.unlink()
    workspace = find_workspace(workspace_dir)
    [alert] = parse_alerts((ROOT / "examples" / "alerts" / "consumer-lag.json").read_text())
    reg = pipeline.open_register(workspace)
    try:
        alert_id, _ = reg.store_alert(alert)
    finally:
        reg.close()

    def tamper(jobs: list[Any], progress: Any) -> list[Any]:
        snap = Path(jobs[0].parameters["snapshot_path"])
        _edit(snap, EDITS["onset"], reseal=True)
        return []  # the notebooks ran (none here) against the edited snapshot

    with pytest.raises(EvidenceError, match="not the one the register recorded"):
        pipeline.investigate(workspace, alert_id, run_jobs=tamper)
    with sa.create_engine(f"sqlite:///{workspace_dir / 'rca.db'}").connect() as conn:
        investigation_id, status, error = conn.execute(
            sa.text("SELECT id, status, error FROM investigations")
        ).one()
        runs = conn.execute(sa.text("SELECT count(*) FROM runs")).scalar()
    assert (status, runs) == ("failed", 0)  # nothing was scored
    assert "not the one the register recorded" in error
    assert "\n" not in error

    resumed = subprocess.run([RCA, "investigate", "--resume", investigation_id],
                             cwd=workspace_dir, env=_env(), capture_output=True, text=True,
                             timeout=300)  # fmt: skip
    line = one_line_error(resumed, code=2)
    assert "not the one the register recorded" in line
