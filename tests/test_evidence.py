"""Evidence: files source, snapshot freezing with hashes, and load_evidence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rca_kit import load_evidence
from rca_kit.config import Workspace
from rca_kit.evidence.snapshot import freeze
from rca_kit.evidence.vocabulary import KINDS
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


def test_a_file_is_read_again_only_when_it_changed(workspace: Workspace, tmp_path: Path) -> None:
    """A process that freezes again (a warm `rca serve` host) gets the same snapshot from an
    unchanged file, and the new values from a file changed in place, even at the same size."""
    digest = lambda snap: json.loads((snap / "manifest.json").read_text())["sha256"]  # noqa: E731
    first = frozen(workspace, tmp_path / "a")
    assert digest(frozen(workspace, tmp_path / "b")) == digest(first)
    path = workspace.root / "examples" / "data" / "metrics.csv"
    lines = path.read_text().splitlines(keepends=True)
    stamp = (T0 - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")
    row = next(i for i, line in enumerate(lines) if line.startswith(stamp))
    head, value = lines[row].rsplit(",", 1)
    changed = ("9" if value[0] != "9" else "8") + value[1:]  # the same length
    lines[row] = f"{head},{changed}"
    path.write_text("".join(lines))
    second = frozen(workspace, tmp_path / "c")
    assert digest(second) != digest(first)
    service, metric = head.split(",")[1:3]
    found = load_evidence(second).series(service, metric)
    assert float(changed) in found.to_numpy()


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
        ("time,service,metric,value\n2026-11-20T10:00:00Z,a,m,1\n", "missing column 'timestamp'"),
    ],
)
def test_bad_metrics_file_is_a_clear_error(
    workspace: Workspace, tmp_path: Path, content: str, fragment: str
) -> None:
    """A metrics file whose columns are wrong names the file and the missing column."""
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


# Sources recorded, coverage, and templates that never refute for lack of data -----------------

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "notebooks" / "templates").glob("*.ipynb"))


def record(kind: str, provides: list[str], status: str, error: str | None = None) -> dict[str, Any]:
    """A manifest source record as rca_kit.evidence.coverage.source_record writes it."""
    return {
        "kind": kind,
        "label": f"{kind} test",
        "provides": provides,
        "status": status,
        "rows": dict.fromkeys(provides, 0),
        "span": dict.fromkeys(provides),
        "covers": {k: status != "failed" and (k != "metrics" or status == "ok") for k in provides},
        "error": error,
        "errors": [error] if error else [],
        "problem": None,
    }


def demo_snapshot(tmp_path: Path, name: str, **given: Any) -> Path:
    from rca_kit.scenarios import demo, export_end
    from rca_kit.testing import make_snapshot

    scenario = demo()
    onset = pd.Timestamp(scenario.alert["alerts"][0]["startsAt"]).to_pydatetime()
    given.setdefault("topology", scenario.topology)
    return make_snapshot(
        tmp_path / name,
        window=(onset - timedelta(minutes=60), export_end(scenario)),
        service="orders-consumer",
        onset=onset,
        **given,
    )


def test_failing_sources_make_every_template_inconclusive_naming_them(tmp_path: Path) -> None:
    """With every source failed, no template refutes: each names the failure it lacks."""
    from rca_kit.testing import run_inline

    snapshot = demo_snapshot(
        tmp_path,
        "failed",
        sources=[
            record("prometheus", ["metrics"], "failed", "connection refused"),
            record("git", ["changes"], "failed", "git log timed out after 120s"),
        ],
    )
    assert len(TEMPLATES) == 9
    for template in TEMPLATES:
        outcome = run_inline(template, snapshot)
        assert outcome.verdict == "inconclusive", (template.name, outcome.error, outcome.summary)
        named = " ".join(outcome.missing_data)
        assert any(
            reason in named
            for reason in ("failed: connection refused", "failed: git log timed out", "logs (no")
        ), (template.name, named)


def test_no_change_counts_only_from_a_change_source_that_worked(tmp_path: Path) -> None:
    """recent-change: a failed change log is inconclusive; a working one with nothing in it
    refutes (nothing changed); with metrics that fall short of the window, inconclusive."""
    from rca_kit.scenarios import demo
    from rca_kit.testing import run_inline

    metrics = demo().metrics
    ok = record("prometheus", ["metrics"], "ok")
    verdicts = {}
    for name, changes in {
        "failed": record("git", ["changes"], "failed", "git log timed out after 120s"),
        "empty": record("git", ["changes"], "empty"),
    }.items():
        snapshot = demo_snapshot(tmp_path, name, metrics=metrics, sources=[ok, changes])
        outcome = run_inline(ROOT / "notebooks/templates/recent-change.ipynb", snapshot)
        verdicts[name] = outcome.verdict
        if name == "failed":
            assert list(outcome.missing_data) == [
                "changes (source 2 (git test) failed: git log timed out after 120s)"
            ]
    assert verdicts == {"failed": "inconclusive", "empty": "refuted"}

    short = record("prometheus", ["metrics"], "ok") | {"covers": {"metrics": False}}
    snapshot = demo_snapshot(tmp_path, "short", metrics=metrics, sources=[short])
    outcome = run_inline(ROOT / "notebooks/templates/backpressure.ipynb", snapshot)
    assert outcome.verdict == "inconclusive"
    assert outcome.missing_data[0].startswith("metrics across the window")


def test_a_failed_change_source_beside_a_working_one_is_not_no_change(tmp_path: Path) -> None:
    """Files provide changes (none in range) but the git source timed out: the change log is
    incomplete, so changes are not covered and recent-change is inconclusive naming git; a
    failed metrics source beside a working one is still named among the problems."""
    from rca_kit.scenarios import demo
    from rca_kit.testing import run_inline

    files = record("files", ["metrics", "changes"], "ok")
    git = record("git", ["changes"], "failed", "git log timed out after 120s")
    snapshot = demo_snapshot(tmp_path, "mixed", metrics=demo().metrics, sources=[files, git])
    ev = load_evidence(snapshot)
    found = ev.coverage("changes")
    failure = "source 2 (git test) failed: git log timed out after 120s"
    assert (found.provided, found.covers, found.problems) == (True, False, (failure,))
    assert ev.gaps("changes") == [f"changes ({failure})"]
    outcome = run_inline(ROOT / "notebooks/templates/recent-change.ipynb", snapshot)
    assert outcome.verdict == "inconclusive", outcome.summary
    assert list(outcome.missing_data) == [f"changes ({failure})"]

    partial = record("git", ["changes"], "partial", "2 commit(s) change files that name no service")
    partial["covers"] = {"changes": False}  # as source_record writes a partial event source
    snapshot = demo_snapshot(tmp_path, "partial", metrics=demo().metrics, sources=[files, partial])
    assert load_evidence(snapshot).gaps("changes") == [
        "changes (source 2 (git test) answered in part: 2 commit(s) change files that name no "
        "service)"
    ]

    down = record("prometheus", ["metrics"], "failed", "connection refused")
    ev = load_evidence(demo_snapshot(tmp_path, "metrics", sources=[files, down]))
    assert ev.coverage("metrics").covers  # the files still span the window
    assert ev.coverage("metrics").problems == (
        "source 2 (prometheus test) failed: connection refused",
    )


@pytest.mark.parametrize(
    ("template", "shape", "lost"),
    [
        ("disk-pressure", "full", ["ingest_rate", "processing_rate"]),  # logs show no stall
        ("memory-leak", "climb", ["restarts"]),  # a leak's climb, below the OOM level
    ],
)
def test_a_lost_series_that_would_decide_is_inconclusive(
    tmp_path: Path, template: str, shape: str, lost: list[str]
) -> None:
    """The same evidence refutes when the deciding series is simply not configured, and is
    inconclusive, naming it, when a source was to fetch it and failed."""
    from rca_kit.testing import make_snapshot, run_inline

    stamps = pd.date_range(T0 - timedelta(hours=7), T0, freq="1min")
    ramp = [i / (len(stamps) - 1) for i in range(len(stamps))]
    values = {
        "full": (
            "disk_utilization",
            [0.97 if t >= T0 - timedelta(minutes=40) else 0.5 for t in stamps],
        ),
        "climb": ("memory_utilization", [0.4 + 0.48 * r for r in ramp]),
    }[shape]
    metrics = pd.DataFrame(
        {"timestamp": stamps, "service": "svc", "metric": values[0], "value": values[1]}
    )
    metrics_ok = record("prometheus", ["metrics"], "ok") | {"covers": {"metrics": True}}
    failed = [
        {"metric": m, "service": "svc", "error": "HTTP 503 Service Unavailable"} for m in lost
    ]
    verdicts = {}
    for name, source in {
        "unconfigured": metrics_ok,
        "lost": metrics_ok | {"missing_series": failed},
    }.items():
        snapshot = make_snapshot(
            tmp_path / name,
            window=(T0 - timedelta(hours=1), T0),
            service="svc",
            onset=T0 - timedelta(minutes=30),
            metrics=metrics,
            topology={"svc": []},
            sources=[source, record("files", ["logs", "changes"], "ok")],
        )
        outcome = run_inline(ROOT / f"notebooks/templates/{template}.ipynb", snapshot)
        verdicts[name] = outcome.verdict
        if name == "lost":
            why = "source 1 (prometheus test): HTTP 503 Service Unavailable"
            assert outcome.missing_data[0] == f"metric {lost[0]} of svc ({why})", outcome.summary
    assert verdicts == {"unconfigured": "refuted", "lost": "inconclusive"}


def test_a_service_absent_from_the_topology_is_not_refuted_upstream(tmp_path: Path) -> None:
    """upstream-degradation: no [topology] entry means unknown upstreams (inconclusive); an
    entry listing none refutes."""
    from rca_kit.scenarios import demo
    from rca_kit.testing import run_inline

    template = ROOT / "notebooks/templates/upstream-degradation.ipynb"
    metrics = demo().metrics
    absent = demo_snapshot(tmp_path, "absent", metrics=metrics, topology={"orders-api": []})
    outcome = run_inline(template, absent)
    assert outcome.verdict == "inconclusive"
    assert list(outcome.missing_data) == [
        "the upstreams of orders-consumer (it has no entry in [topology])"
    ]
    none = demo_snapshot(tmp_path, "none", metrics=metrics, topology={"orders-consumer": []})
    assert run_inline(template, none).verdict == "refuted"


@pytest.mark.slow
def test_papermill_run_against_a_snapshot_without_metrics_or_changes(tmp_path: Path) -> None:
    """The real kernel agrees: nothing to look at is inconclusive, not refuted."""
    from rca_kit.testing import run_template

    snapshot = demo_snapshot(tmp_path, "bare", provides=("logs",))
    for name in ("recent-change", "backpressure"):
        outcome = run_template(ROOT / f"notebooks/templates/{name}.ipynb", snapshot)
        assert outcome.verdict == "inconclusive", (name, outcome.error)
        assert any("no evidence source provides them" in m for m in outcome.missing_data)


def test_a_down_source_is_recorded_and_the_others_still_count(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Files plus a Prometheus that refuses connections: freezing goes on, the manifest records
    both, metrics are still provided (by the files), the failure is one line."""
    from rca_kit.config import PrometheusSource

    down = PrometheusSource.model_validate(
        {
            "kind": "prometheus",
            "url": "http://127.0.0.1:9",  # discard port: nothing listens
            "queries": {"ingest_rate": 'rca_demo_ingest_rate{service="{service}"}'},
        }
    )
    settings = workspace.settings.model_copy(
        update={"sources": [*workspace.settings.sources, down]}
    )
    ws = Workspace(root=workspace.root, settings=settings)
    ev = load_evidence(frozen(ws, tmp_path / "snap"))
    files, prom = ev.sources
    assert (files["status"], prom["status"], prom["error"]) == (
        "ok",
        "failed",
        "connection refused",
    )
    assert ev.provided("metrics")
    assert ev.coverage("metrics").covers
    assert prom["missing_series"] == [
        {"metric": "ingest_rate", "service": "orders-consumer", "error": "connection refused"}
    ]
    assert ev.has("orders-consumer", "ingest_rate")  # the files delivered it: present wins
    assert ev.lost("orders-consumer", "ingest_rate") is None
    assert ev.series_gaps(["orders-consumer"], ["ingest_rate"]) == []
    assert ev.source_errors == [
        "source 2 (prometheus http://127.0.0.1:9): connection refused — hypotheses needing "
        "metrics will be inconclusive"
    ]
    summary = ev.summary()
    assert summary["metrics"] == len(ev.metrics) > 0
    assert [(s["kind"], s["status"], s["rows"]) for s in summary["sources"]] == [
        ("files", "ok", len(ev.metrics) + len(ev.logs) + len(ev.changes)),
        ("prometheus", "failed", 0),
    ]


def test_snapshots_frozen_before_sources_were_recorded_still_read(tmp_path: Path) -> None:
    """examples/snapshot names its files source without a status: everything it names counts."""
    ev = load_evidence(ROOT / "examples" / "snapshot")
    assert all(ev.provided(kind) and ev.coverage(kind).covers for kind in KINDS)
    assert ev.source_errors == []
    assert ev.gaps("metrics", "logs", "changes") == []


def test_upstream_services_are_transitive_without_repeats() -> None:
    from rca_kit.evidence.sources import upstream_services

    topology = {"c": ["b", "x"], "b": ["a"], "a": ["c"], "x": []}
    assert upstream_services("c", topology) == ("c", "b", "x", "a")
    assert upstream_services("z", topology) == ("z",)
    assert upstream_services(None, topology) == ()
