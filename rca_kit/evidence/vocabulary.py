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

LEVELS = ("debug", "info", "warning", "error", "critical")
CHANGE_KINDS = ("deploy", "config", "schema", "infra", "flag")
