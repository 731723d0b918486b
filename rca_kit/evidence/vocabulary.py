"""The evidence vocabulary: the names every source maps its data onto (docs/evidence.md)."""

from __future__ import annotations

KINDS = ("metrics", "logs", "changes")

# Metric names and their units: records/s, errors/s, seconds, counts, fractions in 0..1.
METRIC_NAMES = (
    "ingest_rate",  # records/s arriving
    "processing_rate",  # records/s processed
    "consumer_lag_seconds",
    "queue_depth",
    "error_rate",  # errors/s
    "latency_p99_seconds",
    "cpu_utilization",  # 0..1
    "memory_utilization",  # 0..1
    "disk_utilization",  # 0..1
    "restarts",  # count
    "freshness_seconds",
    "row_count",
    "null_fraction",  # 0..1
)

# How each metric is exported (`Evidence.kind`, docs/evidence.md "Counters"). A `counter` is a
# Prometheus-style running total (it only grows, resets to zero when its process restarts);
# `either` may come as a running total or as a count per sample, and the values decide
# (rca_kit.evidence.series.looks_cumulative); every other name is a gauge unless it ends in
# `_total`, Prometheus' suffix for counters.
COUNTER_SUFFIX = "_total"
METRIC_KINDS = {"restarts": "either"}


def declared_kind(metric: str) -> str:
    """'counter', 'gauge' or 'either' (the values decide) for a metric name."""
    if metric.endswith(COUNTER_SUFFIX):
        return "counter"
    return METRIC_KINDS.get(metric, "gauge")


LEVELS = ("debug", "info", "warning", "error", "critical")
CHANGE_KINDS = ("deploy", "config", "schema", "infra", "flag")
