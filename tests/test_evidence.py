"""Evidence: files source, snapshot freezing with hashes, and load_evidence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from rca_kit import load_evidence
from rca_kit.config import Workspace
from rca_kit.evidence.snapshot import freeze
from rca_kit.exceptions import EvidenceError
from rca_kit.models import Window

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def frozen(workspace: Workspace, dest: Path, hours_back: int = 1) -> Path:
    window = Window(T0 - timedelta(hours=hours_back), T0)
    freeze(
        workspace,
        dest,
        window=window,
        lookback_start=window.start - timedelta(hours=2),
        context={"service": "orders-consumer", "onset": T0.isoformat(), "topology": {"a": ["b"]}},
    )
    return dest


def test_snapshot_holds_only_the_window_and_hashes_every_file(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Rows outside [lookback_start, window end] are dropped; the manifest hashes each file."""
    snap = frozen(workspace, tmp_path / "snap")
    manifest = json.loads((snap / "manifest.json").read_text())
    assert set(manifest["files"]) == {"metrics.parquet", "logs.parquet", "changes.parquet"}
    ev = load_evidence(snap)
    assert ev.metrics["timestamp"].min() >= pd.Timestamp(T0 - timedelta(hours=3))
    assert ev.metrics["timestamp"].max() <= pd.Timestamp(T0)
    assert manifest["files"]["metrics.parquet"]["rows"] == len(ev.metrics) > 0
    assert ev.service == "orders-consumer"
    assert ev.upstreams == []  # topology keys are services; "orders-consumer" has none here


def test_same_evidence_same_hash_different_window_different_hash(
    workspace: Workspace, tmp_path: Path
) -> None:
    """The content hash is reproducible and changes with the content."""
    a = json.loads((frozen(workspace, tmp_path / "a") / "manifest.json").read_text())["sha256"]
    b = json.loads((frozen(workspace, tmp_path / "b") / "manifest.json").read_text())["sha256"]
    c = json.loads((frozen(workspace, tmp_path / "c", hours_back=2) / "manifest.json").read_text())[
        "sha256"
    ]
    assert a == b != c


def test_duckdb_views_query_the_parquet(workspace: Workspace, tmp_path: Path) -> None:
    """Notebooks can query metrics, logs and changes with SQL."""
    ev = load_evidence(frozen(workspace, tmp_path / "snap"))
    counts = ev.sql("SELECT service, count(*) AS n FROM metrics GROUP BY service ORDER BY service")
    assert {"orders-api", "orders-consumer", "orders-warehouse"} <= set(counts["service"])
    assert int(counts["n"].sum()) == len(ev.metrics)
    series = ev.series("orders-consumer", "processing_rate")
    assert series.index.is_monotonic_increasing
    assert len(series) > 100
    assert ev.series("orders-consumer", "no_such_metric").empty


def test_tampered_snapshot_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    """A Parquet file changed after freezing fails the sha256 check."""
    snap = frozen(workspace, tmp_path / "snap")
    ev = load_evidence(snap)
    ev.metrics.assign(value=0.0).to_parquet(snap / "metrics.parquet", index=False)
    with pytest.raises(EvidenceError, match="sha256"):
        load_evidence(snap)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("timestamp,service,value\n2026-11-20T10:00:00Z,a,1\n", "missing column 'metric'"),
        ("timestamp,service,metric,value\n2026-11-20T10:00:00,a,m,1\n", "has no time zone"),
        ("timestamp,service,metric,value\nlater,a,m,1\n", "invalid timestamp"),
    ],
)
def test_bad_metrics_file_is_a_clear_error(
    workspace: Workspace, tmp_path: Path, content: str, fragment: str
) -> None:
    """A metrics file that breaks the vocabulary names the file and the problem."""
    (workspace.root / "examples" / "data" / "metrics.csv").write_text(content)
    with pytest.raises(EvidenceError) as info:
        frozen(workspace, tmp_path / "snap")
    assert fragment in str(info.value)
    assert "metrics.csv" in str(info.value)
    assert not (tmp_path / "snap").exists()  # nothing half-written


def test_epoch_seconds_and_extra_log_keys(workspace: Workspace, tmp_path: Path) -> None:
    """Epoch timestamps are accepted and extra log keys become attributes."""
    data = workspace.root / "examples" / "data"
    epoch = int(T0.timestamp()) - 60
    (data / "metrics.csv").write_text(
        f"timestamp,service,metric,value\n{epoch},svc,error_rate,2.5\n"
    )
    (data / "logs.jsonl").write_text(
        json.dumps(
            {
                "timestamp": epoch,
                "service": "svc",
                "level": "ERROR",
                "message": "boom",
                "trace_id": "abc",
            }
        )
        + "\n"
    )
    ev = load_evidence(frozen(workspace, tmp_path / "snap"))
    assert ev.metrics["value"].tolist() == [2.5]
    assert ev.logs["level"].tolist() == ["error"]
    assert json.loads(ev.logs["attributes"].iloc[0]) == {"trace_id": "abc"}
