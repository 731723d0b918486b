"""Frozen snapshots against the register: each investigation that froze one still has it as
frozen (`rca audit verify` reports every difference, one line each).

An investigation's snapshot is `<folder>/snapshot`: its manifest.json must hash to the
`manifest_sha256` the audit log recorded when it was frozen (snapshots frozen before manifests
were sealed: its files digest to the investigation's `snapshot_sha256`), and every file the
manifest lists must still have the sha256 it gives. Files are hashed as streams; an
investigation that never froze a snapshot has nothing to check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..inert import one_line
from .evidence import file_digest
from .schema import audit_events, investigations

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


def recorded_manifests(conn: sa.Connection) -> dict[str, str]:
    """investigation id -> the manifest sha256 the audit log last recorded for its snapshot."""
    query = (
        sa.select(audit_events.c.entity_id, audit_events.c.details)
        .where(
            audit_events.c.entity == "investigation",
            audit_events.c.details.like('%"manifest_sha256"%'),
        )
        .order_by(audit_events.c.seq)
    )
    found: dict[str, str] = {}
    for entity_id, details in conn.execute(query):
        try:
            value = json.loads(details).get("manifest_sha256")
        except (ValueError, AttributeError):
            continue
        if isinstance(value, str) and value:
            found[str(entity_id)] = value
    return found


def snapshot_problems(conn: sa.Connection) -> list[str]:
    """One line per snapshot folder that is missing, manifest edited since it was frozen, or
    file missing or changed, naming the investigation and the file."""
    manifests = recorded_manifests(conn)
    query = sa.select(
        investigations.c.id, investigations.c.folder, investigations.c.snapshot_sha256
    ).order_by(investigations.c.created_at, investigations.c.id)
    problems: list[str] = []
    for investigation_id, folder, files_sha256 in conn.execute(query):
        recorded = manifests.get(str(investigation_id))
        if recorded is None and not files_sha256:
            continue  # it never froze a snapshot
        where = f"investigation {investigation_id}: snapshot"
        problems.extend(
            one_line(f"{where} {line}")
            for line in _problems(Path(folder) / "snapshot", recorded, files_sha256)
        )
    return problems


def _problems(path: Path, recorded: str | None, files_sha256: str | None) -> list[str]:
    if not path.is_dir():
        return [f"folder {path} is missing"]
    manifest, why = _manifest(path / MANIFEST)
    if manifest is None:
        return [f"file {path / MANIFEST} {why}"]
    problems = []
    reason = _manifest_changed(manifest, recorded, files_sha256)
    if reason:
        problems.append(f"file {path / MANIFEST} changed since it was frozen ({reason})")
    for name, entry in sorted(manifest["files"].items()):
        expected = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            problems.append(f"file {path / MANIFEST} lists {name!r}, not a file of the snapshot")
            continue
        file = path / name
        found = file_digest(file)
        if found is None:
            missing = not file.exists() and not file.is_symlink()
            problems.append(f"file {file} {'is missing' if missing else 'is not a regular file'}")
        elif found != expected:
            problems.append(
                f"file {file} changed since it was frozen (sha256 {found[:12]}…, "
                f"manifest {str(expected)[:12]}…)"
            )
    return problems


def _manifest(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The manifest, or None and why it is not one."""
    try:
        if path.is_symlink() or not path.is_file():
            return None, "is missing" if not path.exists() else "is not a regular file"
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            return None, f"is larger than {MAX_MANIFEST_BYTES} bytes"
        manifest = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        return None, f"cannot be read as JSON ({type(exc).__name__})"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return None, "lists no files: not a snapshot manifest"
    return manifest, ""


def _manifest_changed(
    manifest: dict[str, Any], recorded: str | None, files_sha256: str | None
) -> str | None:
    """Why the manifest is not the one frozen, or None."""
    from ..evidence.load import files_digest, manifest_digest  # pandas: only when verifying

    sealed = manifest.get("manifest_sha256")
    found = manifest_digest(manifest)
    if recorded is not None and found != recorded:
        return f"manifest sha256 {found[:12]}…, recorded {recorded[:12]}…"
    if sealed is not None and sealed != found:
        return f"manifest sha256 {found[:12]}…, its seal says {str(sealed)[:12]}…"
    try:
        files = files_digest(manifest["files"])
    except (KeyError, TypeError):
        return "its files are not name -> sha256 entries"
    if files != manifest.get("sha256"):
        return f"files sha256 {files[:12]}…, it says {str(manifest.get('sha256'))[:12]}…"
    if files_sha256 and files != files_sha256:
        return f"files sha256 {files[:12]}…, recorded {files_sha256[:12]}…"
    return None
