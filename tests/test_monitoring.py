"""The monitoring test helper itself: Prometheus evaluates a rule file and sends the alert to
Alertmanager, which posts it to a webhook."""

from __future__ import annotations

from pathlib import Path

import pytest
from monitoring import WebhookSink, start_alertmanager, start_prometheus

RULES = """\
groups:
  - name: rca-test
    rules:
      - alert: ConsumerLagHigh
        expr: vector(1)
        labels: {service: orders-consumer, severity: page}
        annotations: {summary: "lag on orders-consumer"}
"""


@pytest.mark.slow
def test_a_rule_fires_through_alertmanager_to_the_webhook(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    with (
        WebhookSink() as sink,
        start_alertmanager(tmp_path, sink.url) as alertmanager,
        start_prometheus(tmp_path, rule_files=[rules], alertmanager_url=alertmanager.url),
    ):
        [payload, *_] = sink.wait(1, timeout_s=60)
    assert payload["version"] == "4"
    assert payload["status"] == "firing"
    [alert] = payload["alerts"]
    assert alert["labels"]["alertname"] == "ConsumerLagHigh"
    assert alert["labels"]["service"] == "orders-consumer"
    assert alert["annotations"]["summary"] == "lag on orders-consumer"
