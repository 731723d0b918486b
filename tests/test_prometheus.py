"""kind = "prometheus": query templates, chunking, config errors, and a real Prometheus (Debian's
2.42) with the demo scenario backfilled so that it ends now."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from monitoring import Server, free_port, openmetrics, start_prometheus, use_prometheus

from rca_kit.config import PrometheusSource, load_settings
from rca_kit.evidence import prometheus, promql
from rca_kit.evidence.coverage import source_record
from rca_kit.evidence.sources import Fetched, FetchRange
from rca_kit.exceptions import ConfigError, SourceError
from rca_kit.scenarios import demo, export_end
from rca_kit.testing import one_line_error

Rca = Callable[..., subprocess.CompletedProcess[str]]
CHUNK_SAMPLES = 12_600  # at 1 s: longer than 11,000 steps, so two range queries
NASTY = ['"', "}", "\\", "\n", 'x"} or vector(1) or x{a="', 'a\\"b', "é\t\x00\x7f", "#{service}"]


def section(**fields: Any) -> PrometheusSource:
    base: dict[str, Any] = {"kind": "prometheus", "url": "http://127.0.0.1:9"}
    base.setdefault("queries", {"ingest_rate": 'rca_demo_ingest_rate{service="{service}"}'})
    return PrometheusSource.model_validate({**base, **fields})


def moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


# Templates, escaping and chunks (no server) ---------------------------------------------------


@settings(deadline=None)
@given(
    start=st.integers(0, 10**7),
    length=st.integers(0, 40_000),
    step=st.sampled_from([1, 15, 30, 60, 0.5]),
    limit=st.sampled_from([1, 7, 11_000]),
)
def test_chunks_cover_every_step_once_and_stay_under_the_limit(
    start: int, length: int, step: float, limit: int
) -> None:
    """Every evaluation instant in [start, end] lands in exactly one chunk of ≤ limit points."""
    step_ms = int(step * 1000)
    found = promql.chunks(
        moment(start), moment(start + length), timedelta(milliseconds=step_ms), limit
    )
    points = [t for first, last in found for t in range(first, last + 1, step_ms)]
    assert points == sorted(set(points))  # no instant twice, in order
    first = start * 1000 + (-start * 1000) % step_ms  # the first instant on the step's grid
    expected = list(range(first, (start + length) * 1000 + 1, step_ms))
    assert all(t % step_ms == 0 for t in expected)
    assert points == expected
    assert all((last - first) / step_ms + 1 <= limit for first, last in found)


def _outside_strings(text: str) -> tuple[str, list[str]]:
    """The query with each double-quoted string emptied, and the strings' raw bodies."""
    shape, bodies, i = [], [], 0
    while i < len(text):
        if text[i] == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            bodies.append(text[i + 1 : j])
            shape.append('""')
            i = j + 1
        else:
            shape.append(text[i])
            i += 1
    return "".join(shape), bodies


@given(name=st.text(min_size=1, max_size=30))
@example(name='"')
@example(name="}")
@example(name="\\")
@example(name="\n")
@example(name='x"} or vector(1) #')
def test_a_service_name_only_ever_fills_its_own_matcher(name: str) -> None:
    """Parser-free: the rendered query has the template's shape, the name inside one string."""
    template = 'sum by (service) (rca_demo_ingest_rate{service="{service}", env!="{x}"})'
    rendered = promql.render(template, service=name)
    shape, bodies = _outside_strings(rendered)
    assert shape == _outside_strings(template)[0]
    assert len(bodies) == 2
    assert "\n" not in rendered
    assert bodies[1] == "{x}"


@given(name=st.text(min_size=1, max_size=30))
@example(name=".*")
@example(name=".+|orders-api")
@example(name="orders-(api")
@example(name="a\\")
@example(name='"} or vector(1) #')
def test_a_service_name_in_a_regex_matcher_matches_only_itself(name: str) -> None:
    """In a `=~` or `!~` value, `{service}` is the name as a literal regex: `.*` matches `.*`,
    not every service; elsewhere in the same query it is the name as written."""
    template = 'x{job=~"{service}", env !~ "{service}-canary", svc="{service}"}'
    shape, bodies = _outside_strings(promql.render(template, service=name))
    assert shape == _outside_strings(template)[0]
    job, canary, plain = (_go_unquote(body) for body in bodies)
    assert plain == name
    assert re.fullmatch(job, name, re.DOTALL)
    assert re.fullmatch(canary, name + "-canary", re.DOTALL)
    for other in ("orders-api", "", name + "x", "x" + name, name * 2):
        if other != name:
            assert not re.fullmatch(job, other, re.DOTALL), other


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("rca_demo_ingest_rate{service={service}}", "stands outside a string"),
        ("rca_demo_ingest_rate{service='{service}'}", "must stand inside double quotes"),
        ('rca_demo_ingest_rate{service="{service}}', "never closed"),
        ('x{a="{service}", b=~"{services}"}', "not both"),
    ],
)
def test_misplaced_placeholders_are_config_errors(
    tmp_path: Path, query: str, fragment: str
) -> None:
    """A placeholder outside a double-quoted matcher is refused when rca.toml loads."""
    (tmp_path / "rca.toml").write_text(
        '[[sources]]\nkind = "prometheus"\nurl = "http://prom:9090"\n'
        f"[sources.queries]\ningest_rate = {json.dumps(query)}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "rca.toml")
    assert fragment in str(info.value)
    assert "sources.0.queries" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('kind = "prometheus"\nurll = "http://prom"', "unknown key 'sources.0.urll'"),
        ('kind = "promethues"', "'promethues' is not a source kind (one of files, prometheus"),
        ('url = "http://prom"', "'sources.0.kind': 'kind' is required"),
        ('kind = "prometheus"\nurl = "http://p"\nqueries = {ingest = "x"}', "'ingest' is not a"),
        ('kind = "prometheus"\nurl = "http://p"\nstep = "0s"\nqueries = {queue_depth = "x"}', "0s"),
        ('kind = "prometheus"\nurl = "prom:9090"\nqueries = {queue_depth = "x"}', "sources.0.url"),
        ('kind = "git"\nrepo = "."\npaths = { "deploy/**" = "deployment" }', "sources.0.paths"),
        ('kind = "git"\nrepo = "."\nbranch = "--output=/tmp/x"', "sources.0.branch"),
    ],
)
def test_source_config_mistakes_are_one_line_errors(
    tmp_path: Path, body: str, fragment: str
) -> None:
    """Typos in a [[sources]] entry name the key and the expectation in one line."""
    (tmp_path / "rca.toml").write_text(f"[[sources]]\n{body}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "rca.toml")
    assert fragment in str(info.value)
    assert info.value.exit_code == 2
    assert "\n" not in str(info.value)


def test_the_manifest_description_holds_no_secret() -> None:
    """Credentials in the URL are dropped; only the token variable's name is kept."""
    source = section(url="https://user:pa55@prom.example:9090/prom?api_key=k3y", token_env="TOK")
    record = source_record(
        1, source, Fetched({}), "connection refused", FetchRange(moment(0), moment(60))
    )
    text = json.dumps(record)
    assert "pa55" not in text
    assert "k3y" not in text
    assert record["url"] == "https://prom.example:9090/prom"
    assert record["token_env"] == "TOK"
    assert record["status"] == "failed"
    assert record["problem"] == (
        "source 1 (prometheus https://prom.example:9090/prom): connection refused — "
        "hypotheses needing metrics will be inconclusive"
    )


def test_unreachable_servers_fail_the_source_quickly() -> None:
    """Refused connections and servers that never answer are SourceErrors (never a hang)."""
    span = FetchRange(moment(1_800_000_000), moment(1_800_003_600), services=("svc",))
    with pytest.raises(SourceError, match=r"^connection refused$") as info:
        prometheus.fetch(section(url=f"http://127.0.0.1:{free_port()}"), span)
    assert getattr(info.value, "missing_series", None) == [
        {"metric": "ingest_rate", "service": "svc", "error": "connection refused"}
    ]
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(SourceError, match="timed out after 1s"):
            prometheus.fetch(section(url=f"http://127.0.0.1:{port}", timeout="1s"), span)
        assert time.monotonic() - started < 10


def test_a_missing_token_variable_fails_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RCA_TEST_NO_SUCH_TOKEN", raising=False)
    span = FetchRange(moment(0), moment(60), services=("svc",))
    with pytest.raises(SourceError, match="RCA_TEST_NO_SUCH_TOKEN"):
        prometheus.fetch(section(token_env="RCA_TEST_NO_SUCH_TOKEN"), span)


# Series a query did not deliver (a fake server) ----------------------------------------------

DEMO_QUERY = re.compile(r'rca_demo_(\w+)\{service="(.*)"\}')


def _demo_prometheus(
    monkeypatch: pytest.MonkeyPatch, refuse: dict[tuple[str, str], str], down_after: int = 10**6
) -> None:
    """Client.range answering `rca_demo_<metric>{service="…"}` from the demo's metrics: a
    refused (metric, service) answers its error; after `down_after` calls the server is gone."""
    metrics = demo().metrics
    calls: list[str] = []

    def fake(self: prometheus.Client, expr: str, first_ms: int, last_ms: int) -> Any:
        calls.append(expr)
        if len(calls) > down_after:
            raise prometheus._Unreachable("timed out after 30s")
        match = DEMO_QUERY.fullmatch(expr)
        assert match, expr
        metric, service = match.groups()
        if (metric, service) in refuse:
            raise prometheus._Refused(refuse[(metric, service)])
        rows = metrics.loc[(metrics["metric"] == metric) & (metrics["service"] == service)]
        values = [
            [t.timestamp(), str(v)]
            for t, v in zip(rows["timestamp"], rows["value"], strict=True)
            if first_ms <= t.timestamp() * 1000 <= last_ms
        ]
        return [{"metric": {"service": service}, "values": values}] if values else []

    monkeypatch.setattr(prometheus.Client, "range", fake)


def _demo_span() -> tuple[FetchRange, datetime, datetime]:
    scenario = demo()
    onset = pd.Timestamp(scenario.alert["alerts"][0]["startsAt"]).to_pydatetime()
    start, end = onset - timedelta(minutes=60), export_end(scenario)
    span = FetchRange(
        start - timedelta(hours=6), end, start, onset, ("orders-consumer", "orders-api")
    )
    return span, start, onset


def _demo_source() -> PrometheusSource:
    metrics = sorted(set(demo().metrics["metric"]))
    return section(
        step="60s", queries={m: f'rca_demo_{m}{{service="{{service}}"}}' for m in metrics}
    )


def test_a_refused_series_is_missing_never_normal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Prometheus answers 503 to orders-api's error_rate: the manifest names that series, the
    evidence reads it as lost (not as a metric that stayed normal): recent-change is
    inconclusive naming it instead of refuted, and upstream-degradation is refuted only by
    what was fetched (the consumer's ingest rose, which no degraded upstream explains)."""
    from rca_kit import load_evidence
    from rca_kit.testing import make_snapshot, run_inline

    _demo_prometheus(monkeypatch, {("error_rate", "orders-api"): "HTTP 503 Service Unavailable"})
    source, (span, start, onset) = _demo_source(), _demo_span()
    fetched = prometheus.fetch(source, span)
    record = source_record(1, source, fetched, None, span)
    assert record["status"] == "partial"
    assert record["covers"] == {"metrics": True}  # the frame spans the window all the same
    assert record["missing_series"] == [
        {"metric": "error_rate", "service": "orders-api", "error": "HTTP 503 Service Unavailable"}
    ]
    changes = {"kind": "git", "label": "git test", "provides": ["changes"], "status": "ok"}
    scenario = demo()
    snapshot = make_snapshot(
        tmp_path / "snap",
        window=(start, span.end),
        service="orders-consumer",
        onset=onset,
        metrics=fetched.frames["metrics"],
        changes=scenario.changes,
        topology=scenario.topology,
        sources=[record, changes | {"covers": {"changes": True}}],
    )
    ev = load_evidence(snapshot)
    lost = "metric error_rate of orders-api (source 1 (prometheus http://127.0.0.1:9): HTTP 503 "
    assert not ev.has("orders-api", "error_rate")
    assert ev.has("orders-api", "latency_p99_seconds")
    assert ev.gaps("metrics") == []
    assert ev.series_gaps(["orders-api"], ["error_rate", "latency_p99_seconds"]) == [
        lost + "Service Unavailable)"
    ]
    root = Path(__file__).resolve().parent.parent / "notebooks" / "templates"
    outcome = run_inline(root / "recent-change.ipynb", snapshot)
    assert outcome.verdict == "inconclusive", (outcome.summary, outcome.error)
    assert list(outcome.missing_data) == [lost + "Service Unavailable)"]
    # upstream-degradation is refuted by what was fetched, whatever the lost series says: the
    # consumer's ingest rose, and an upstream that degraded sends less (its relevance)
    outcome = run_inline(root / "upstream-degradation.ipynb", snapshot)
    assert outcome.verdict == "refuted", (outcome.summary, outcome.error)
    assert "ingest_rate rose" in outcome.summary
    assert "error_rate" not in outcome.summary
    whole = make_snapshot(  # every series fetched: the same evidence refutes both
        tmp_path / "whole",
        window=(start, span.end),
        service="orders-consumer",
        onset=onset,
        metrics=scenario.metrics,
        changes=scenario.changes,
        topology=scenario.topology,
        sources=[
            record | {"missing_series": [], "status": "ok"},
            changes | {"covers": {"changes": True}},
        ],
    )
    for name in ("upstream-degradation", "recent-change"):
        assert run_inline(root / f"{name}.ipynb", whole).verdict == "refuted", name


def test_queries_not_run_once_the_server_is_gone_are_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server stops answering after five queries: the rest are named, series by series."""
    _demo_prometheus(monkeypatch, {}, down_after=5)
    source, (span, _, _) = _demo_source(), _demo_span()
    fetched = prometheus.fetch(source, span)
    planned = [(m, s) for m in source.queries for s in span.services]
    assert fetched.errors == [f"timed out after 30s; {len(planned) - 5} queries not run"]
    assert [(m["metric"], m["service"]) for m in fetched.missing_series] == planned[5:]
    assert {m["error"] for m in fetched.missing_series} == {"timed out after 30s; not run"}
    frame = fetched.frames["metrics"]
    assert set(zip(frame["metric"], frame["service"], strict=True)) <= set(planned[:5])


# A real Prometheus -----------------------------------------------------------------------------


class Backfilled:
    """The server, the demo's shift to now, and where the chunking series starts."""

    def __init__(self, server: Server, offset: timedelta, chunk_start: int, odd: int) -> None:
        self.server, self.offset, self.chunk_start, self.odd_start = (
            server,
            offset,
            chunk_start,
            odd,
        )
        self.url = server.url


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    """Prometheus holding the demo's metrics (as rca_demo_<metric>{service}) shifted to end
    now, a 1 s series of 12,600 samples valued 0, 1, 2, … and one of NaN/±Inf values."""
    scenario = demo()
    offset = (datetime.now(UTC) - export_end(scenario)) // timedelta(minutes=1)
    shift = offset * timedelta(minutes=1)
    samples: list[tuple[str, dict[str, str], float, float]] = [
        (f"rca_demo_{r.metric}", {"service": r.service}, (r.timestamp + shift).timestamp(), r.value)
        for r in scenario.metrics.itertuples()
    ]
    chunk_start = int(time.time()) - 14_400
    samples += [
        ("rca_chunk_test", {"service": "svc"}, chunk_start + i, float(i))
        for i in range(CHUNK_SAMPLES)
    ]
    odd = [1.0, float("nan"), float("inf"), float("-inf")]
    odd_start = (chunk_start // 60 + 1) * 60  # on the 60 s grid the test queries
    samples += [("rca_odd", {"service": "svc"}, odd_start + 60 * i, v) for i, v in enumerate(odd)]
    tmp = tmp_path_factory.mktemp("prometheus")
    with start_prometheus(tmp, history=openmetrics(samples)) as server:
        yield Backfilled(server, shift, chunk_start, odd_start)


def _go_unquote(body: str) -> str:
    """The value of a Go %q string body (how Prometheus prints label values)."""
    named = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
    out, i = [], 0
    while i < len(body):
        if body[i] != "\\":
            out.append(body[i])
            i += 1
            continue
        code = body[i + 1]
        width = {"x": 2, "u": 4, "U": 8}.get(code)
        if width:
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        else:
            out.append(named.get(code, code))
            i += 2
    return "".join(out)


def _format(server: Backfilled, query: str) -> str:
    """Prometheus' canonical form of a query (it parses it; long queries are wrapped)."""
    answer = httpx.post(server.url + "/api/v1/format_query", data={"query": query}).json()
    assert answer["status"] == "success", (query, answer)
    return str(answer["data"])


def _parsed(server: Backfilled, query: str) -> tuple[str, list[str]]:
    """The canonical query's shape (strings emptied, line wrapping ignored) and strings."""
    shape, bodies = _outside_strings(_format(server, query))
    return re.sub(r"\s+", "", shape), bodies


@pytest.mark.slow
@settings(max_examples=60, deadline=None)  # and the eight nasty names below, every run
@given(name=st.text(min_size=1, max_size=30))
@example(name=NASTY[0])
@example(name=NASTY[1])
@example(name=NASTY[2])
@example(name=NASTY[3])
@example(name=NASTY[4])
@example(name=NASTY[5])
@example(name=NASTY[6])
@example(name=NASTY[7])
def test_prometheus_parses_every_escaped_name_to_the_same_query(
    backfilled: Backfilled, name: str
) -> None:
    """Prometheus' own parser (format_query) reads any service name back as exactly one label
    value in an unchanged query; as a regex it matches that name and nothing longer."""
    template = 'sum by (service) (rca_demo_ingest_rate{service="{service}", env!="prod"})'
    shape, values = _parsed(backfilled, promql.render(template, service=name))
    reference, slots = _parsed(backfilled, promql.render(template, service="x"))
    assert shape == reference  # (Prometheus orders matchers by label name)
    assert [_go_unquote(v) for v in values] == [name if s == "x" else s for s in slots]

    regex_template = 'max by (service) (rca_demo_ingest_rate{service=~"{services}"})'
    rendered = promql.render(regex_template, services=[name, "orders-api"])
    shape, values = _parsed(backfilled, rendered)
    assert shape == _parsed(backfilled, regex_template)[0]
    pattern = _go_unquote(values[0])
    assert re.fullmatch(pattern, name, re.DOTALL)
    assert re.fullmatch(pattern, "orders-api")
    assert not re.fullmatch(pattern, name + "x", re.DOTALL)

    single = 'max by (service) (rca_demo_ingest_rate{service=~"{service}"})'
    shape, values = _parsed(backfilled, promql.render(single, service=name))
    assert shape == _parsed(backfilled, single)[0]  # Prometheus compiled it as RE2
    pattern = _go_unquote(values[0])
    assert re.fullmatch(pattern, name, re.DOTALL)
    assert not re.fullmatch(pattern, name + "x", re.DOTALL)


@pytest.mark.slow
def test_a_range_longer_than_11000_steps_is_fetched_whole(
    backfilled: Backfilled, monkeypatch: pytest.MonkeyPatch
) -> None:
    """12,600 one-second samples come back once each, from requests of ≤ 11,000 points."""
    calls: list[tuple[int, int]] = []
    original = prometheus.Client.range

    def spy(self: prometheus.Client, expr: str, first: int, last: int) -> Any:
        calls.append((first, last))
        return original(self, expr, first, last)

    monkeypatch.setattr(prometheus.Client, "range", spy)
    source = section(
        url=backfilled.url, step="1s", queries={"row_count": 'rca_chunk_test{service="{service}"}'}
    )
    start = moment(backfilled.chunk_start)
    span = FetchRange(start, start + timedelta(seconds=CHUNK_SAMPLES - 1), services=("svc",))
    fetched = prometheus.fetch(source, span)
    frame = fetched.frames["metrics"]
    assert fetched.errors == []
    assert len(calls) == 2
    assert all((last - first) // 1000 + 1 <= 11_000 for first, last in calls)
    assert frame["timestamp"].is_unique
    assert frame["value"].tolist() == [float(i) for i in range(CHUNK_SAMPLES)]
    assert set(frame["service"]) == {"svc"}
    assert set(frame["metric"]) == {"row_count"}


@pytest.mark.slow
def test_nan_inf_and_refused_queries(backfilled: Backfilled) -> None:
    """NaN and ±Inf stay floats (NaN counted as a missing value); a query Prometheus refuses
    is recorded while the rest count, and a wrong URL path fails every query (HTTP 404)
    without raising."""
    start = moment(backfilled.odd_start)
    span = FetchRange(start, start + timedelta(minutes=3), services=("svc",))
    source = section(
        url=backfilled.url,
        step="60s",
        method="GET",
        queries={
            "error_rate": 'rca_odd{service="{service}"}',
            "queue_depth": 'rate(rca_odd{service="{service}"})',  # no range: bad_data
        },
    )
    fetched = prometheus.fetch(source, span)
    values = fetched.frames["metrics"]["value"].tolist()
    assert values[0] == 1.0
    assert pd.isna(values[1])
    assert values[2:] == [float("inf"), float("-inf")]
    [issue] = fetched.row_issues  # NaN is a missing value, counted; ±Inf are numbers
    assert issue["counts"] == {"value_missing": 1}
    [error] = fetched.errors
    assert error.startswith("queue_depth of svc: bad_data:")
    assert source_record(1, source, fetched, None, span)["status"] == "partial"

    wrong = prometheus.fetch(section(url=backfilled.url + "/nope"), span)
    assert wrong.errors == ["ingest_rate of svc: HTTP 404 Not Found"]
    assert source_record(1, source, wrong, None, span)["status"] == "failed"


def _prometheus_workspace(workspace_dir: Path, url: str, extra: str = "") -> None:
    """Replace the workspace's files source with a Prometheus source for every demo metric."""
    metrics = sorted(set(demo().metrics["metric"]))
    queries = {m: f'rca_demo_{m}{{service="{{service}}"}}' for m in metrics}
    use_prometheus(workspace_dir, url, queries, step="60s", extra=extra)


def _shifted_alert(workspace_dir: Path, shift: timedelta) -> tuple[Path, str]:
    scenario = demo()
    payload = json.loads(json.dumps(scenario.alert))
    for alert in payload["alerts"]:
        starts = pd.Timestamp(alert["startsAt"]) + shift
        alert["startsAt"] = starts.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    path = workspace_dir / "shifted-alert.json"
    path.write_text(json.dumps(payload))
    return path, (export_end(scenario) + shift).strftime("%Y-%m-%dT%H:%M:%S%z")


@pytest.mark.slow
def test_investigation_with_evidence_from_prometheus_only(
    backfilled: Backfilled, rca: Rca, workspace_dir: Path
) -> None:
    """The demo incident, read back from Prometheus alone: backpressure is supported."""
    _prometheus_workspace(workspace_dir, backfilled.url)
    alert, now = _shifted_alert(workspace_dir, backfilled.offset)
    done = rca("investigate", str(alert), "--json", "--now", now)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    result = json.loads(done.stdout)
    verdicts = {h["id"]: h["verdict"] for h in result["hypotheses"]}
    assert verdicts["backpressure"] == "supported"
    assert result["leading_hypothesis"] == "backpressure"
    for needs_logs_or_changes in ("recent-change", "error-log-spike", "schema-drift"):
        assert verdicts[needs_logs_or_changes] == "inconclusive"
    evidence = result["evidence"]
    assert evidence["metrics"] > 1000
    assert evidence["logs"] == evidence["changes"] == 0
    [source] = evidence["sources"]
    assert (source["kind"], source["status"], source["error"]) == ("prometheus", "ok", None)
    assert source["covers"]
    assert source["rows"] == evidence["metrics"]

    snapshot = Path(result["hypotheses"][0]["notebook"]).parent / "snapshot"
    metrics = pd.read_parquet(snapshot / "metrics.parquet")
    assert set(metrics["service"]) == {"orders-consumer", "orders-api"}  # the alert's + upstream
    manifest = json.loads((snapshot / "manifest.json").read_text())
    assert manifest["sources"][0]["span"]["metrics"]["last"] >= manifest["window"]["start"]
    html = Path(result["report"]).read_text()
    assert "no evidence source provides logs" in html  # the banner names what is missing


@pytest.mark.slow
def test_prometheus_down_is_recorded_and_nothing_is_refuted(
    rca: Rca, workspace_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Prometheus that refuses connections: the investigation completes, the JSON, manifest,
    one warning line and the report say so, and every hypothesis is inconclusive."""
    token = "s3cret-t0ken-value"
    monkeypatch.setenv("RCA_TEST_PROM_TOKEN", token)
    url = f"http://127.0.0.1:{free_port()}/<b>x</b>"
    _prometheus_workspace(workspace_dir, url, 'token_env = "RCA_TEST_PROM_TOKEN"\n')
    alert, now = _shifted_alert(workspace_dir, timedelta(0))
    done = rca("investigate", str(alert), "--json", "--now", now)
    assert done.returncode == 0, done.stderr
    warning = f"warning: source 1 (prometheus {url}): connection refused — hypotheses needing "
    assert [line for line in done.stderr.splitlines() if line.strip()] == [
        warning + "metrics will be inconclusive"
    ]
    result = json.loads(done.stdout)
    assert {h["verdict"] for h in result["hypotheses"]} == {"inconclusive"}
    assert result["evidence"]["metrics"] == 0
    [source] = result["evidence"]["sources"]
    assert (source["status"], source["rows"], source["error"]) == (
        "failed",
        0,
        "connection refused",
    )
    snapshot = Path(result["hypotheses"][0]["notebook"]).parent / "snapshot"
    manifest = (snapshot / "manifest.json").read_text()
    assert json.loads(manifest)["sources"][0]["status"] == "failed"
    [backpressure] = [h for h in result["hypotheses"] if h["id"] == "backpressure"]
    notebook = Path(backpressure["notebook"]).read_text()
    assert "metrics (source 1 (prometheus" in notebook  # named in missing_data
    assert "failed: connection refused" in notebook
    html = Path(result["report"]).read_text()
    assert "Evidence is incomplete" in html
    assert "connection refused" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x</b>" not in html
    for text in (manifest, done.stdout, done.stderr, html, notebook):
        assert token not in text


def test_a_typo_in_a_source_is_one_line_exit_2(rca: Rca, workspace_dir: Path) -> None:
    _prometheus_workspace(workspace_dir, "http://127.0.0.1:9", 'setp = "60s"\n')
    line = one_line_error(rca("investigate", "examples/alerts/consumer-lag.json"))
    assert "unknown key 'sources.0.setp'" in line


@pytest.mark.slow
def test_one_regex_query_fetches_every_service(
    backfilled: Backfilled, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`{services}` asks once for the alert's service and its upstreams; the result series'
    service label names each one."""
    calls: list[str] = []
    original = prometheus.Client.range

    def spy(self: prometheus.Client, expr: str, first: int, last: int) -> Any:
        calls.append(expr)
        return original(self, expr, first, last)

    monkeypatch.setattr(prometheus.Client, "range", spy)
    source = section(
        url=backfilled.url,
        step="60s",
        queries={"ingest_rate": 'rca_demo_ingest_rate{service=~"{services}"}'},
    )
    end = export_end(demo()) + backfilled.offset
    span = FetchRange(end - timedelta(hours=1), end, services=("orders-consumer", "orders-api"))
    fetched = prometheus.fetch(source, span)
    assert calls == ['rca_demo_ingest_rate{service=~"(?:orders\\\\-consumer|orders\\\\-api)"}']
    frame = fetched.frames["metrics"]
    assert set(frame["service"]) == {"orders-consumer", "orders-api"}
    assert frame.groupby("service").size().min() >= 60
