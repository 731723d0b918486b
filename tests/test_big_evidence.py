"""Large metrics files (CSV and Parquet) are pre-filtered by DuckDB, and the snapshot is the one
reading the whole file with pandas gives: the same rows, the same NaN values, the same refusals.
The size above which a file is pre-filtered is lowered so that small files take that way."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from rca_kit import load_evidence
from rca_kit.config import Workspace, find_workspace
from rca_kit.evidence import prefilter
from rca_kit.evidence.snapshot import freeze
from rca_kit.evidence.sources import FetchRange
from rca_kit.exceptions import EvidenceError
from rca_kit.models import Window

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
FROZEN = ("fast", "whole")
WINDOW = Window(T0 - timedelta(hours=1), T0)


def snapshot(workspace: Workspace, dest: Path) -> pd.DataFrame:
    freeze(
        workspace,
        dest,
        window=WINDOW,
        lookback_start=WINDOW.start - timedelta(hours=2),
        context={"service": "orders-consumer", "onset": T0.isoformat(), "topology": {}},
    )
    return load_evidence(dest).metrics


def padded(source: Path, dest: Path, extra: str = "") -> Path:
    """The demo's metrics and 60,000 rows of other series: weeks before and after the window
    (left out by DuckDB) and, inside it, other services (kept, as any row in the range)."""
    con = duckdb.connect()
    con.execute(
        f"""COPY (
            SELECT strftime(TIMESTAMP '2026-11-01' + to_minutes(i * 7), '%Y-%m-%dT%H:%M:%SZ')
                       AS timestamp,
                   'other-' || (i % 7)::VARCHAR AS service, 'gc_seconds' AS metric,
                   (i % 13)::VARCHAR AS value
            FROM range(60000) t(i)
            UNION ALL SELECT * FROM read_csv('{source}', all_varchar = true)
        ) TO '{dest}' (HEADER, QUOTE '')"""  # noqa: S608
    )
    if extra:
        with dest.open("a") as handle:
            handle.write(extra)
    return dest


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prefilter, "LARGE_BYTES", 0)
    monkeypatch.setattr(prefilter, "LARGE_ROWS", 0)


def use(workspace: Workspace, metrics: Path) -> Workspace:
    """The workspace with its files source reading `metrics`."""
    toml = workspace.root / "rca.toml"
    text = re.sub(r'(?m)^metrics = ".*"$', f'metrics = "{metrics}"', toml.read_text())
    toml.write_text(text)
    return find_workspace(workspace.root)


def test_a_padded_file_gives_the_rows_the_whole_file_gives(
    workspace: Workspace, tmp_path: Path, large: None
) -> None:
    """CSV and Parquet: the rows pre-filtering keeps make the very snapshot pandas makes from
    the whole file; the padding outside the range is gone, the demo's rows are all there."""
    demo = workspace.root / "examples" / "data" / "metrics.csv"
    plain = snapshot(workspace, tmp_path / "plain")
    big = padded(demo, tmp_path / "big.csv")
    workspace = use(workspace, big)
    fast = snapshot(workspace, tmp_path / "fast")
    prefilter_off = pytest.MonkeyPatch()
    prefilter_off.setattr(prefilter, "LARGE_BYTES", 1 << 62)
    prefilter_off.setattr(prefilter, "LARGE_ROWS", 1 << 62)
    whole = snapshot(workspace, tmp_path / "whole")
    prefilter_off.undo()
    pd.testing.assert_frame_equal(fast, whole)
    ours = fast[~fast["service"].str.startswith("other-")].reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, plain)
    assert fast["service"].str.startswith("other-").any()  # other services in the range: kept
    manifests = [
        json.loads((tmp_path / n / "manifest.json").read_text()) for n in ("fast", "whole")
    ]
    assert manifests[0]["files"] == manifests[1]["files"]  # byte for byte the same Parquet
    parquet = tmp_path / "big.parquet"
    typed = "timestamp::TIMESTAMPTZ AS timestamp, service, metric, value::DOUBLE AS value"
    query = f"COPY (SELECT {typed} FROM read_csv('{big}', all_varchar = true)) TO '{parquet}'"  # noqa: S608
    duckdb.connect().execute(query + " (FORMAT parquet)")
    workspace = use(workspace, parquet)
    pd.testing.assert_frame_equal(snapshot(workspace, tmp_path / "parquet"), fast)
    span = FetchRange(start=WINDOW.start - timedelta(hours=2), end=WINDOW.end)
    for path in (big, parquet):  # both were pre-filtered, not read whole after all
        assert prefilter.prefiltered(path, "metrics", span, str(path)) is not None, path


def test_messy_rows_of_the_series_in_the_range_still_count(
    workspace: Workspace, tmp_path: Path, large: None
) -> None:
    """Unreadable values inside the range stay rows (NaN), in odd timestamp forms too (other
    offsets, a space for the T); unreadable values far outside it do not fail the file."""
    stamp = (T0 - timedelta(minutes=30)).strftime("%Y-%m-%d")
    messy = (
        f"{stamp}T08:30:00Z,orders-consumer,consumer_lag_seconds,n/a\n"
        f"{stamp}T10:31:00+02:00,orders-consumer,consumer_lag_seconds,\n"
        f"{stamp} 08:32:00.5Z,orders-consumer,consumer_lag_seconds,lots\n"
        "2026-10-01T00:00:00Z,other-1,gc_seconds,not a number\n"
    )
    demo = workspace.root / "examples" / "data" / "metrics.csv"
    workspace = use(workspace, padded(demo, tmp_path / "big.csv", messy))
    metrics = snapshot(workspace, tmp_path / "snap")
    lag = metrics[
        (metrics["service"] == "orders-consumer") & (metrics["metric"] == "consumer_lag_seconds")
    ].set_index("timestamp")["value"]
    for minute in ("08:30:00", "08:31:00", "08:32:00.500000"):
        assert lag.loc[[pd.Timestamp(f"{stamp} {minute}", tz="UTC")]].isna().any(), minute


@pytest.mark.parametrize(
    ("row", "problem", "raw"),
    [
        (
            "2026-10-01T00:00:00,other-1,gc_seconds,1\n",
            "timestamp_without_zone",
            "2026-10-01T00:00:00",
        ),
        ("someday,other-1,gc_seconds,1\n", "timestamp_unreadable", "someday"),
        ("1795000000,other-1,gc_seconds,1\n", "timestamp_unreadable", "1795000000"),
    ],
)
def test_an_unreadable_row_anywhere_is_counted_as_before(
    workspace: Workspace, tmp_path: Path, large: None, row: str, problem: str, raw: str
) -> None:
    """A timestamp that cannot be read, even far from the window, leaves its row out and is
    counted with its row in the file, exactly as reading the file whole does."""
    big = tmp_path / "big.csv"
    rows = "".join(f"2026-11-20T0{h}:00:00Z,a,m,1\n" for h in range(6, 10))
    big.write_text(f"timestamp,service,metric,value\n{rows}{row}")
    workspace = use(workspace, big)
    metrics = snapshot(workspace, tmp_path / "snap")
    assert len(metrics) == 4
    manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
    (issue,) = manifest["sources"][0]["row_issues"]
    assert issue["counts"] == {problem: 1}
    assert issue["examples"] == {problem: [{"at": "row 5", "value": raw}]}


def test_wrong_columns_are_one_line(workspace: Workspace, tmp_path: Path, large: None) -> None:
    big = tmp_path / "big.csv"
    big.write_text("time,service,metric,value\n2026-11-20T08:00:00Z,a,m,1\n")
    workspace = use(workspace, big)
    with pytest.raises(EvidenceError) as info:
        snapshot(workspace, tmp_path / "snap")
    assert "missing column 'timestamp' (have: time, service, metric, value)" in str(info.value)
    assert "\n" not in str(info.value)
