"""Notebook side: open a frozen snapshot as pandas frames and a DuckDB connection."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import EvidenceError
from .coverage import Coverage, coverage, lost_series, problems, summary

_KINDS = ("metrics", "logs", "changes")


@dataclass
class Evidence:
    """A snapshot's evidence: frames over [lookback_start, window_end] and the alert context."""

    path: Path
    manifest: dict[str, Any]
    metrics: pd.DataFrame
    logs: pd.DataFrame
    changes: pd.DataFrame
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    lookback_start: pd.Timestamp
    onset: pd.Timestamp
    service: str | None
    topology: dict[str, list[str]] = field(default_factory=dict)

    @property
    def upstreams(self) -> list[str]:
        return list(self.topology.get(self.service or "", []))

    @property
    def data_end(self) -> pd.Timestamp:
        """The last observation: a window that ends later (a firing alert) has no data past it."""
        stamps = [f["timestamp"].max() for f in (self.metrics, self.logs) if len(f)]
        return min(max(stamps), self.window_end) if stamps else self.window_end

    def bounds(
        self, window_start: str = "", window_end: str = ""
    ) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The window to test: the given bounds (empty: the snapshot's), ending at the last data.

        A still-firing alert's window runs to *now*; measuring past the last observation would
        dilute every rate, so the end is clipped to `data_end`.
        """
        start = pd.Timestamp(window_start) if window_start else self.window_start
        end = pd.Timestamp(window_end) if window_end else self.window_end
        return start, min(end, self.data_end)

    @property
    def sources(self) -> list[dict[str, Any]]:
        """Each configured source's manifest record: status, rows, span, covers, error."""
        return list(self.manifest.get("sources", []))

    def provided(self, kind: str) -> bool:
        """Whether a configured source supplies this kind and did not fail (else its absence
        means nothing: "no change was recorded" is evidence only from a working change log)."""
        return coverage(self.sources, kind).provided

    def coverage(self, kind: str) -> Coverage:
        """Whether `kind` is evidence over the window; `.missing` names what is not."""
        return coverage(self.sources, kind)

    def gaps(self, *kinds: str) -> list[str]:
        """For `missing_data`: each of `kinds` that no working source covers, and why."""
        return [c.missing for c in (coverage(self.sources, k) for k in kinds) if not c.covers]

    @property
    def source_errors(self) -> list[str]:
        """One line per source that failed, answered in part, returned nothing or falls short."""
        return problems(self.sources)

    def summary(self) -> dict[str, Any]:
        """Rows per kind and each source's outcome (`rca investigate --json` "evidence")."""
        counts = {kind: len(getattr(self, kind)) for kind in _KINDS}
        return summary(self.sources, counts)

    @cached_property
    def _lost(self) -> dict[tuple[str | None, str], str]:
        return lost_series(self.sources)

    def _present(self, service: str | None, metric: str) -> bool:
        m = self.metrics
        return bool(((m["service"] == service) & (m["metric"] == metric)).any())

    def lost(self, service: str | None, metric: str) -> str | None:
        """Why this series is absent when a source was to fetch it and failed (its query was
        refused, not run, …): its absence is then unknown, not "stayed normal". None if the
        series is present or no source failed for it."""
        why = self._lost.get((service, metric)) or self._lost.get((None, metric))
        return why if why and not self._present(service, metric) else None

    def has(self, service: str | None, metric: str) -> bool:
        """Whether a source delivered the series (one that a source failed to fetch, and no other
        delivered, is absent: see `lost`)."""
        return self._present(service, metric)

    def absent(self, service: str | None, metric: str) -> str:
        """For `missing_data`: "metric M of S", with why when a source failed to fetch it."""
        why = self.lost(service, metric)
        return f"metric {metric} of {service}" + (f" ({why})" if why else "")

    def series_gaps(self, services: Iterable[str | None], metrics: Iterable[str]) -> list[str]:
        """For `missing_data`: each of these series that a source was to fetch and could not.
        A hypothesis that would be refuted on these services and metrics is inconclusive."""
        wanted = list(metrics)
        return [
            self.absent(service, metric)
            for service in dict.fromkeys(services)
            for metric in wanted
            if self.lost(service, metric)
        ]

    def series(self, service: str | None, metric: str) -> pd.Series:
        """One metric of one service as a float Series indexed by timestamp (empty if absent)."""
        m = self.metrics
        rows = m.loc[(m["service"] == service) & (m["metric"] == metric), ["timestamp", "value"]]
        return rows.groupby("timestamp")["value"].mean().rename(metric)

    def split(
        self, series: pd.Series, at: datetime | pd.Timestamp | None = None
    ) -> tuple[pd.Series, pd.Series]:
        """(baseline, incident): before window_start (or `at`), and from it to window_end."""
        cut = pd.Timestamp(at) if at is not None else self.window_start
        return series.loc[series.index < cut], series.loc[
            (series.index >= cut) & (series.index <= self.window_end)
        ]

    @cached_property
    def db(self) -> Any:
        """An in-memory DuckDB connection with views metrics, logs, changes over the Parquet."""
        import duckdb

        con = duckdb.connect()
        for kind in _KINDS:
            path = str(self.path / f"{kind}.parquet").replace("'", "''")
            con.execute(f"CREATE VIEW {kind} AS SELECT * FROM read_parquet('{path}')")  # noqa: S608
        return con

    def sql(self, query: str) -> pd.DataFrame:
        frame: pd.DataFrame = self.db.execute(query).df()
        return frame


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_evidence(snapshot_path: str | Path, *, verify: bool = True) -> Evidence:
    """Open a snapshot folder; with verify, refuse files changed since it was frozen."""
    path = Path(snapshot_path)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise EvidenceError("no manifest.json: not a snapshot folder", where=str(path))
    manifest = json.loads(manifest_path.read_text())
    frames: dict[str, pd.DataFrame] = {}
    for kind in _KINDS:
        file = path / f"{kind}.parquet"
        expected = manifest["files"][file.name]["sha256"]
        if verify and _digest(file) != expected:
            raise EvidenceError(
                f"{file.name} changed after the snapshot was frozen (sha256 mismatch)",
                where=str(path),
            )
        frames[kind] = pd.read_parquet(file)
    context = manifest.get("context", {})
    return Evidence(
        path=path,
        manifest=manifest,
        metrics=frames["metrics"],
        logs=frames["logs"],
        changes=frames["changes"],
        window_start=pd.Timestamp(manifest["window"]["start"]),
        window_end=pd.Timestamp(manifest["window"]["end"]),
        lookback_start=pd.Timestamp(manifest["lookback_start"]),
        onset=pd.Timestamp(context.get("onset", manifest["window"]["start"])),
        service=context.get("service"),
        topology=context.get("topology", {}),
    )
