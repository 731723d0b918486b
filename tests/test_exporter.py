"""The live demo exporter: parseable text, the backpressure fault moves lag, Prometheus scrapes
it and the README's queries read it back."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from monitoring import PROMTOOL, free_port, start_prometheus

from rca_kit.config import PrometheusSource
from rca_kit.evidence.prometheus import fetch
from rca_kit.evidence.sources import FetchRange
from rca_kit.scenarios.exporter import HELP, PREFIX, Pipeline, serve

FAST_FAULT = ("--speed", "120", "--fault", "backpressure")
README_QUERIES = {metric: f'{PREFIX}{metric}{{service="{{service}}"}}' for metric in HELP}


def test_the_fault_grows_lag_and_lifting_it_drains_the_backlog() -> None:
    now = [0.0]
    pipeline = Pipeline(clock=lambda: now[0])

    def lag_after(seconds: float) -> float:
        now[0] += seconds
        pipeline.tick()
        return pipeline.values[("orders-consumer", "consumer_lag_seconds")]

    assert lag_after(600) == 0.0
    assert pipeline.set_fault("backpressure") == "backpressure"
    first, later = lag_after(300), lag_after(300)
    assert 0 < first < later
    consumer = {m: pipeline.values[("orders-consumer", m)] for m in HELP}
    assert consumer["ingest_rate"] > consumer["processing_rate"] * 1.2
    assert pipeline.set_fault(None) == "none"  # a toggle
    assert lag_after(3600) == 0.0


@pytest.fixture
def exporter() -> Iterator[str]:
    server = serve(Pipeline(speed=120), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_metrics_are_valid_text_format_and_post_fault_toggles(exporter: str) -> None:
    text = httpx.get(exporter + "/metrics").text
    check = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    for metric in HELP:
        for service in ("orders-api", "orders-consumer"):
            assert f'{PREFIX}{metric}{{service="{service}"}} ' in text
    assert httpx.post(exporter + "/fault").json()["fault"] == "backpressure"
    assert httpx.post(exporter + "/fault?name=none").json()["fault"] == "none"
    assert (
        httpx.post(exporter + "/fault", content=b"backpressure").json()["fault"] == "backpressure"
    )
    assert httpx.post(exporter + "/fault?name=bogus").status_code == 400
    assert httpx.get(exporter + "/fault").json()["fault"] == "backpressure"


@pytest.mark.slow
def test_prometheus_scrapes_the_exporter_and_the_readme_queries_read_it(tmp_path: Path) -> None:
    """`python -m rca_kit.scenarios.exporter --fault backpressure` scraped every second: the
    consumer's lag grows, and a prometheus source with the README's queries reads both
    services (the consumer's and its upstream's) back."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rca_kit.scenarios.exporter", "--port", str(port), *FAST_FAULT],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        assert "serving" in process.stdout.readline().decode()
        with start_prometheus(tmp_path, scrape_targets=[f"127.0.0.1:{port}"]) as prom:
            query = 'rca_demo_consumer_lag_seconds{service="orders-consumer"}'
            seen: list[float] = []
            deadline = time.monotonic() + 60
            while len(set(seen)) < 3 and time.monotonic() < deadline:
                answer = httpx.get(prom.url + "/api/v1/query", params={"query": query}).json()
                seen += [float(r["value"][1]) for r in answer["data"]["result"]]
                time.sleep(0.5)
            assert len(set(seen)) >= 3, seen
            assert seen[-1] > seen[0] > 0
            up = httpx.get(prom.url + "/api/v1/query", params={"query": "up"}).json()
            assert [r["value"][1] for r in up["data"]["result"]] == ["1"]

            source = PrometheusSource.model_validate(
                {"kind": "prometheus", "url": prom.url, "step": "1s", "queries": README_QUERIES}
            )
            now = datetime.now(UTC)
            span = FetchRange(
                now - timedelta(minutes=2), now, services=("orders-consumer", "orders-api")
            )
            fetched = fetch(source, span)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()
    assert fetched.errors == []
    frame = fetched.frames["metrics"]
    pairs = set(zip(frame["service"], frame["metric"], strict=True))
    assert pairs == {(s, m) for s in ("orders-consumer", "orders-api") for m in HELP}
