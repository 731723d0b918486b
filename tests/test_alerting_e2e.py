"""The whole loop with real monitoring: the demo exporter is scraped by Prometheus, a rule
fires, Alertmanager posts to `rca serve`, the investigation pulls its evidence from that
Prometheus and finds backpressure; the resolved notice closes the alert; a replay starts
nothing. Grafana's and the generic format take the same path.

History comes from the exporter's own simulation: six hours are backfilled into Prometheus
(same series and labels the live scrapes carry), then the same simulated pipeline is served
live, so the rule, the evidence and the live values are one continuous story.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from monitoring import (
    Sample,
    Server,
    WebhookSink,
    free_port,
    openmetrics,
    start_alertmanager,
    start_prometheus,
    use_prometheus,
)
from serveproc import ServeProcess

from rca_kit.scenarios.exporter import HELP, PREFIX, Pipeline, serve

pytestmark = pytest.mark.slow

HISTORY = timedelta(hours=6)
FAULT_FOR = timedelta(minutes=45)  # the backpressure fault began this long before the test
STEP_S = 30
RULE = """groups:
  - name: rca-e2e
    rules:
      - alert: ConsumerLagHigh
        expr: max by (service) (rca_demo_consumer_lag_seconds{service="orders-consumer"}) > 60
        for: 0s
        labels: {severity: page, team: data-platform}
        annotations:
          summary: "orders-consumer is {{ $value | humanizeDuration }} behind"
          runbook_url: https://runbooks.example/ConsumerLagHigh
"""


class Clock:
    """The pipeline's clock: simulated while the history is written, then the real one."""

    def __init__(self, start: float) -> None:
        self.now: float | None = start

    def __call__(self) -> float:
        return self.now if self.now is not None else time.time()


def _history(pipeline: Pipeline, clock: Clock, end: float, target: str) -> list[Sample]:
    assert clock.now is not None
    labels = {"job": "rca-test", "instance": target}
    fault_at = end - FAULT_FOR.total_seconds()
    samples: list[Sample] = []
    while clock.now < end:
        clock.now += STEP_S
        if clock.now >= fault_at and pipeline.fault == "none":
            pipeline.set_fault("backpressure")
        pipeline.tick()
        for (service, metric), value in pipeline.values.items():
            samples.append((PREFIX + metric, {**labels, "service": service}, clock.now, value))
    return samples


class Exporter:
    """The demo pipeline with six hours of history, served live on a free port."""

    def __init__(self) -> None:
        port = free_port()
        self.target = f"127.0.0.1:{port}"
        end = time.time() - 5
        clock = Clock(end - HISTORY.total_seconds())
        self.pipeline = Pipeline(clock=clock)
        self.history = openmetrics(_history(self.pipeline, clock, end, self.target))
        clock.now = None  # from here on the pipeline runs in real time, the fault still on
        self.pipeline.last = time.time()
        self.server = serve(self.pipeline, port=port)

    def fix(self) -> None:
        """What the remediation does: the consumer scaled out and drained its backlog."""
        with self.pipeline.lock:
            self.pipeline.backlog = 0.0

    def __enter__(self) -> Exporter:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _prometheus(tmp: Path, exporter: Exporter, alertmanager_url: str | None = None) -> Server:
    rules = tmp / "rules.yml"
    rules.write_text(RULE)
    return start_prometheus(
        tmp,
        history=exporter.history,
        scrape_targets=[exporter.target],
        rule_files=[rules],
        alertmanager_url=alertmanager_url,
    )


def _workspace(workspace_dir: Path, prometheus_url: str) -> None:
    """The demo workspace with Prometheus as its only evidence source."""
    queries = {m: f'max by (service) ({PREFIX}{m}{{service="{{service}}"}})' for m in HELP}
    use_prometheus(workspace_dir, prometheus_url, queries, step=f"{STEP_S}s")


def _investigated(server: ServeProcess, alert_id: str) -> dict[str, Any]:
    shown = server.wait_for(
        f"/api/v1/alerts/{alert_id}",
        lambda a: a["queue"] and a["queue"][0]["state"] in ("done", "failed"),
        timeout_s=300,
    )
    entry = shown["queue"][0]
    assert entry["state"] == "done", entry
    found: dict[str, Any] = server.get(f"/api/v1/investigations/{entry['investigation_id']}").json()
    return found


def _verdicts(found: dict[str, Any]) -> dict[str, str]:
    return {h["id"]: h["verdict"] for h in found["hypotheses"]}


def test_alertmanager_to_rca_serve_to_prometheus_evidence(
    workspace_dir: Path, tmp_path: Path
) -> None:
    """A receiving instance takes the webhooks; a second instance of `rca serve` on the same
    register (started once Prometheus' address is in rca.toml) does the investigating."""
    with (
        Exporter() as exporter,
        ServeProcess(workspace_dir, investigations=0) as server,
        WebhookSink() as sink,
        start_alertmanager(
            tmp_path, [server.url + "/api/v1/alerts", sink.url], bearer_token=server.token
        ) as alertmanager,
        _prometheus(tmp_path, exporter, alertmanager.url) as prometheus,
    ):
        _workspace(workspace_dir, prometheus.url)
        worker = ServeProcess(workspace_dir, investigations=1).start()
        try:
            _alertmanager_story(exporter, server, sink)
        finally:
            worker.stop()


def _alertmanager_story(exporter: Exporter, server: ServeProcess, sink: WebhookSink) -> None:
    firing = sink.wait(1, timeout_s=60)[0]
    assert firing["status"] == "firing"
    alerts = server.wait_for("/api/v1/alerts", lambda a: a["alerts"], timeout_s=30)["alerts"]
    [alert] = alerts
    assert (alert["name"], alert["service"], alert["status"]) == (
        "ConsumerLagHigh",
        "orders-consumer",
        "firing",
    )
    found = _investigated(server, alert["id"])
    verdicts = _verdicts(found)
    assert verdicts["backpressure"] == "supported", found
    # no log or change source is configured: what needs them cannot conclude
    assert verdicts["recent-change"] == "inconclusive"
    assert verdicts["error-log-spike"] == "inconclusive"
    shown = server.get(f"/api/v1/alerts/{alert['id']}").json()
    assert shown["links"]["runbook"] == "https://runbooks.example/ConsumerLagHigh"

    exporter.fix()
    closed = server.wait_for(
        f"/api/v1/alerts/{alert['id']}", lambda a: a["status"] == "resolved", timeout_s=60
    )
    assert closed["resolved_at"]
    assert closed["ends_at"]
    assert closed["time_to_resolve_s"] > 0
    replay = server.post(json.dumps(firing))
    assert replay.status_code == 202
    assert [(a["created"], a.get("queued", False)) for a in replay.json()["alerts"]] == [
        (False, False)
    ]
    assert len(server.get(f"/api/v1/alerts/{alert['id']}").json()["investigations"]) == 1


FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alerts"


def _grafana(starts: str) -> dict[str, Any]:
    """A Grafana unified-alerting webhook for the consumer's lag (a real body, relabelled)."""
    body: dict[str, Any] = json.loads((FIXTURES / "grafana.json").read_text())
    labels = {
        "alertname": "Consumer lag",
        "app": "orders-consumer",
        "grafana_folder": "orders",
        "severity": "critical",
    }
    [alert] = body["alerts"]
    alert.update(labels=labels, startsAt=starts, fingerprint="5e1f00d4c0ffee01")
    alert["annotations"] = {"summary": "orders-consumer lag above 60 s"}
    body["commonLabels"] = labels
    return body


def test_grafana_and_generic_alerts_take_the_same_path(workspace_dir: Path, tmp_path: Path) -> None:
    starts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 120))
    generic = {"name": "OrdersLagging", "service": "orders-consumer", "starts_at": starts}
    with Exporter() as exporter, _prometheus(tmp_path, exporter) as prometheus:
        _workspace(workspace_dir, prometheus.url)
        with ServeProcess(workspace_dir, investigations=1) as server:
            ids = []
            for body in (_grafana(starts), generic):  # formats auto-detected
                reply = server.post(json.dumps(body))
                assert reply.status_code == 202, reply.text
                [item] = reply.json()["alerts"]
                assert item["queued"]
                ids.append(item["id"])
            for alert_id in ids:
                found = _investigated(server, alert_id)
                assert _verdicts(found)["backpressure"] == "supported", found
            grafana = server.get(f"/api/v1/alerts/{ids[0]}").json()
    assert grafana["service"] == "orders-consumer"  # from the `app` label
    assert set(grafana["links"]) >= {"dashboard", "panel", "silence"}
