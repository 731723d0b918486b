"""Messy evidence files: rows that cannot be read are left out or kept, counted per file, kind
and series in the manifest, and shown (escaped, truncated) by the CLI and the review."""

from __future__ import annotations

import csv
import json
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rca_kit import load_evidence
from rca_kit.config import Workspace
from rca_kit.evidence.load import check_manifest
from rca_kit.evidence.quality import infer_step
from rca_kit.evidence.snapshot import freeze
from rca_kit.models import Window
from rca_kit.testing import one_line_error

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
WINDOW = Window(T0 - timedelta(hours=1), T0)
START = WINDOW.start - timedelta(hours=2)  # the snapshot's range: [START, T0]
SERIES = [("a", "m1"), ("a", "m2"), ("b", "m1")]
BAD_STAMPS = ["later", "2026-13-45T00:00:00Z", "", "n/a", "<b>x</b>", "2026-11-20T09:61:00Z"]
NOT_NUMBERS = ["n/a", "1,5", "--", "abc", "null", "<script>", "1.2.3"]
MISSING = ["", "NaN", "nan"]
OFFSETS = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]


def frozen(workspace: Workspace, dest: Path) -> dict[str, Any]:
    freeze(
        workspace,
        dest,
        window=WINDOW,
        lookback_start=START,
        context={"service": "a", "onset": T0.isoformat(), "topology": {}},
    )
    return dict(json.loads((dest / "manifest.json").read_text()))


def write(workspace: Workspace, name: str, text: str) -> None:
    (workspace.root / "examples" / "data" / name).write_text(text)


row = st.tuples(
    st.sampled_from(range(len(SERIES))),
    st.integers(0, 179),  # minute after START
    st.sampled_from(["good", "bad_stamp", "no_zone", "not_number", "missing"]),
    st.sampled_from(range(len(OFFSETS))),
    st.integers(0, 100),  # picks the bad text
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(row, min_size=1, max_size=60), order=st.randoms(use_true_random=False))
def test_a_messy_metrics_csv_is_never_refused_and_counted_exactly(
    workspace: Workspace, rows: list[tuple[int, int, str, int, int]], order: Any
) -> None:
    """Bad and zone-less timestamps, non-numbers, empty cells, NaN, duplicates, shuffled rows
    and mixed offsets: the file is read, and the manifest's counts are exactly those injected."""
    rows = rows + rows[: len(rows) // 3]  # duplicate rows (same series and timestamp)
    order.shuffle(rows)
    expected: dict[tuple[str, str], Counter[str]] = {}
    stamps: dict[tuple[str, str], list[datetime]] = {}
    left_out: Counter[str] = Counter()
    lines = []
    for series, minute, what, offset, pick in rows:
        moment = (START + timedelta(minutes=minute)).astimezone(OFFSETS[offset])
        stamp, value = moment.isoformat(), f"{pick / 7:.3f}"
        if what == "bad_stamp":
            stamp = BAD_STAMPS[pick % len(BAD_STAMPS)]
            left_out["timestamp_unreadable"] += 1
        elif what == "no_zone":
            stamp = moment.replace(tzinfo=None).isoformat(sep=" " if pick % 2 else "T")
            left_out["timestamp_without_zone"] += 1
        else:
            key = SERIES[series]
            counts = expected.setdefault(key, Counter())
            counts["rows"] += 1
            stamps.setdefault(key, []).append(moment)
            if what == "not_number":
                value = NOT_NUMBERS[pick % len(NOT_NUMBERS)]
                counts["unreadable"] += 1
            elif what == "missing":
                value = MISSING[pick % len(MISSING)]
                counts["missing"] += 1
        lines.append([stamp, *SERIES[series], value])
    path = workspace.root / "examples" / "data" / "metrics.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "service", "metric", "value"])
        writer.writerows(lines)
    with tempfile.TemporaryDirectory() as folder:
        manifest = frozen(workspace, Path(folder) / "snap")
        ev = load_evidence(Path(folder) / "snap")  # sealed and verified as ever
    found = {(s["service"], s["metric"]): s for s in manifest["series"]}
    assert set(found) == set(expected)
    for key, counts in expected.items():
        assert found[key]["rows"] == counts["rows"]
        assert found[key]["unreadable"] == counts["unreadable"]
        assert found[key]["missing"] == counts["missing"]
        assert found[key]["duplicates"] == counts["rows"] - len(set(stamps[key]))
    assert len(ev.metrics) == sum(c["rows"] for c in expected.values())
    issues = manifest["sources"][0]["row_issues"]
    metrics = [i for i in issues if i["kind"] == "metrics"]
    total = Counter(
        {
            **left_out,
            "value_not_a_number": sum(c["unreadable"] for c in expected.values()),
            "value_missing": sum(c["missing"] for c in expected.values()),
        }
    )
    assert (metrics[0]["counts"] if metrics else {}) == {k: v for k, v in total.items() if v}


def test_level_aliases_and_unknown_levels_and_kinds_are_kept_and_counted(
    workspace: Workspace, tmp_path: Path
) -> None:
    """WARN, Err, FATAL and notice map onto the five levels; an unknown level or change kind is
    kept lower-cased and counted with its line; a line that is not JSON is left out, counted."""
    at = (T0 - timedelta(minutes=5)).isoformat()
    logs = [
        {"level": "WARN"},
        {"level": "Err"},
        {"level": "FATAL"},
        {"level": "notice"},
        {"level": "Verbose"},
    ]
    write(
        workspace,
        "logs.jsonl",
        "\n".join(json.dumps({"timestamp": at, "service": "a", "message": "m", **r}) for r in logs)
        + "\nnot json\n",
    )
    changes = [{"kind": "Deploy"}, {"kind": "feature_flag"}, {"kind": "Rollback"}]
    write(
        workspace,
        "changes.jsonl",
        "\n".join(
            json.dumps({"timestamp": at, "service": "a", "summary": "s", **c}) for c in changes
        ),
    )
    manifest = frozen(workspace, tmp_path / "snap")
    ev = load_evidence(tmp_path / "snap")
    assert ev.logs["level"].tolist() == ["warning", "error", "critical", "info", "verbose"]
    assert ev.changes["kind"].tolist() == ["deploy", "flag", "rollback"]
    issues = {i["kind"]: i for i in manifest["sources"][0]["row_issues"]}
    assert issues["logs"]["counts"] == {"level_unknown": 1, "line_unreadable": 1}
    assert issues["logs"]["examples"]["level_unknown"] == [{"at": "line 5", "value": "verbose"}]
    assert issues["logs"]["examples"]["line_unreadable"] == [{"at": "line 6", "value": "not json"}]
    assert issues["changes"]["counts"] == {"kind_unknown": 1}


def test_a_file_of_no_json_objects_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    """A logs file with no JSON object at all is refused in one line naming the file."""
    write(workspace, "logs.jsonl", "timestamp,service\n1,2\n")
    with pytest.raises(Exception, match=r"logs\.jsonl: line 1 is not valid JSON"):
        frozen(workspace, tmp_path / "a")


def test_wrong_columns_exit_2_in_one_line(rca: Any, workspace_dir: Path) -> None:
    """`rca investigate` on a metrics file whose columns are wrong: exit 2, one line."""
    (workspace_dir / "examples" / "data" / "metrics.csv").write_text(
        "time,service,metric,reading\n2026-11-20T08:00:00Z,a,m,1\n"
    )
    done = rca("investigate", "examples/alerts/consumer-lag.json")
    assert done.returncode == 2
    assert "missing column 'timestamp' (have: time, service, metric, reading)" in one_line_error(
        done
    )


def test_same_messy_files_same_sealed_manifest(workspace: Workspace, tmp_path: Path) -> None:
    """Freezing the same messy files twice gives the same manifest sha256, and the seal holds."""
    path = workspace.root / "examples" / "data" / "metrics.csv"
    with path.open("a") as handle:
        handle.write(f"{T0.isoformat()},a,m1,n/a\nlater,a,m1,1\n2026-11-20T08:00:00,a,m1,2\n")
    first = frozen(workspace, tmp_path / "one")
    second = frozen(workspace, tmp_path / "two")
    assert first["manifest_sha256"] == second["manifest_sha256"]
    check_manifest(tmp_path / "one", first, first["manifest_sha256"])
    lag = next(
        s
        for s in first["series"]
        if (s["service"], s["metric"]) == ("orders-consumer", "consumer_lag_seconds")
    )
    assert lag["step_seconds"] == 60.0
    assert 0 < lag["coverage"] <= 1


def test_infer_step_is_the_median_interval() -> None:
    """Jitter, a gap, duplicates and disorder leave the step at the scrape interval; under two
    distinct timestamps there is none."""
    grid = pd.date_range("2026-11-20T09:00Z", periods=40, freq="15s")
    jittered = [t + pd.Timedelta(milliseconds=(i * 37) % 400 - 200) for i, t in enumerate(grid)]
    messy = jittered[:10] + jittered[20:] + jittered[:5]
    assert infer_step(reversed(messy)) == pd.Timedelta(seconds=15)
    assert infer_step([grid[0], grid[0]]) is None
    assert infer_step([]) is None
    assert infer_step(["2026-11-20T09:00:00Z", "2026-11-20T11:05:00+02:00"]) == pd.Timedelta(
        minutes=5
    )


def test_hostile_raw_values_are_escaped_and_truncated_in_cli_and_review(
    rca: Any, workspace_dir: Path
) -> None:
    """Markup, control characters and very long raw values reach the CLI as one short escaped
    line each and the review as escaped text, never as markup."""
    data = workspace_dir / "examples" / "data"
    last = (data / "metrics.csv").read_text().strip().splitlines()[-1].split(",")[0]
    long = "\x1b[31m" + "A" * 5000
    with (data / "metrics.csv").open("a") as handle:
        handle.write(f"{long},orders-consumer,evil,1\n")
        handle.write(f"{last},orders-consumer,evil,<script>alert(1)</script>\n")
    done = rca("investigate", "examples/alerts/consumer-lag.json", "--json")
    assert done.returncode == 0, done.stderr
    (line,) = [x for x in done.stderr.splitlines() if "metrics.csv" in x]
    assert line.startswith("warning: examples/data/metrics.csv: 1 rows with unreadable timestamps")
    assert "\\x1b[31mAAA" in line
    assert "\x1b" not in line
    assert len(line) < 400
    assert "1 values not numbers in orders-consumer/evil" in line
    result = json.loads(done.stdout)
    (source,) = result["evidence"]["sources"]
    assert source["unreadable"] == [line.removeprefix("warning: ")]
    html = Path(result["report"]).read_text()
    assert "<script>alert(1)</script>" not in html
    assert "\x1b" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "A" * 200 not in html
