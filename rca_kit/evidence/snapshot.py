"""Freeze evidence into a content-hashed snapshot: Parquet per kind plus manifest.json.

The manifest is sealed whole: `manifest_sha256` covers the window, onset, context, sources and
every file's hash, and is what the register records as the snapshot's identity. Its files are
read-only (0444) from the moment the snapshot appears.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import Workspace
from ..fsutil import READ_ONLY, file_sha256, fsync_dir, umask  # files, not the folder
from ..models import Snapshot, Window
from .load import files_digest, manifest_digest
from .quality import data_end, series_quality
from .rows import UNREADABLE
from .sources import KINDS, FetchRange, collect, upstream_services

MANIFEST = "manifest.json"
SCHEMA = "rca-kit.snapshot/1"


def write_snapshot(
    frames: dict[str, pd.DataFrame],
    dest: Path,
    *,
    window: Window,
    lookback_start: datetime,
    context: dict[str, Any],
    sources: list[dict[str, Any]],
) -> Snapshot:
    """Write frames to dest atomically (a temp folder renamed into place), each file
    read-only; the manifest's `series` holds each metric series' quality (`quality`)."""
    frames, series = _with_quality(frames, window)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        tmp.chmod(0o777 & ~umask())  # mkdtemp creates 0700; snapshots are shared with analysts
        files: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            path = tmp / f"{kind}.parquet"
            frames[kind].to_parquet(path, index=False, compression="zstd")
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
            files[path.name] = {"sha256": file_sha256(path), "rows": len(frames[kind])}
            path.chmod(READ_ONLY)
        digest = files_digest(files)
        manifest = {
            "schema": SCHEMA,
            "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
            "lookback_start": lookback_start.isoformat(),
            "context": context,
            "sources": sources,
            "series": series,
            "files": files,
            "sha256": digest,
        }
        manifest = json.loads(json.dumps(manifest))  # sealed exactly as it will be read back
        manifest["manifest_sha256"] = sealed = manifest_digest(manifest)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        (tmp / MANIFEST).chmod(READ_ONLY)
        fsync_dir(tmp)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
        fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Snapshot(
        path=dest,
        sha256=digest,
        window=window,
        lookback_start=lookback_start,
        row_counts={kind: len(frames[kind]) for kind in KINDS},
        manifest_sha256=sealed,
    )


def _with_quality(
    frames: dict[str, pd.DataFrame], window: Window
) -> tuple[dict[str, pd.DataFrame], list[dict[str, Any]]]:
    """The frames as the snapshot stores them (metrics without the mark of unreadable values)
    and each metric series' quality over [window start, min(window end, last data)]."""
    metrics = frames["metrics"]
    marked = metrics.get(UNREADABLE)
    unreadable = marked.notna() if marked is not None else pd.Series(False, index=metrics.index)
    end = data_end(frames, window.end)
    series = series_quality(metrics, unreadable, (window.start, end))
    stored = {**frames, "metrics": metrics.drop(columns=[UNREADABLE], errors="ignore")}
    return stored, series


def freeze(
    workspace: Workspace,
    dest: Path,
    *,
    window: Window,
    lookback_start: datetime,
    context: dict[str, Any],
) -> Snapshot:
    """Collect every configured source over [lookback_start, window.end] and freeze it.

    Sources that query by service are asked for the context's service and every service
    upstream of it in the context's topology; each source's outcome is recorded in the manifest.
    """
    onset = context.get("onset")
    span = FetchRange(
        start=lookback_start,
        end=window.end,
        window_start=window.start,
        onset=datetime.fromisoformat(onset) if onset else None,
        services=upstream_services(context.get("service"), context.get("topology") or {}),
    )
    collected = collect(workspace, span)
    return write_snapshot(
        collected.frames,
        dest,
        window=window,
        lookback_start=lookback_start,
        context=context,
        sources=collected.records,
    )
