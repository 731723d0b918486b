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
from . import series as _series
from .coverage import Coverage, coverage, lost_series, problems, summary
from .quality import infer_step

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
        return (service, metric) in self._rows

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

    @cached_property
    def _rows(self) -> dict[tuple[Any, Any], Any]:
        """Each (service, metric)'s row positions in `metrics` (grouped once)."""
        if self.metrics.empty:
            return {}
        groups = self.metrics.groupby(["service", "metric"], sort=False).indices
        return {key: rows for key, rows in groups.items() if isinstance(key, tuple)}

    def _frame(self, service: str | None, metric: str) -> pd.DataFrame:
        found = self._rows.get((service, metric))
        columns = ["timestamp", "value"]
        rows = self.metrics.iloc[found] if found is not None else self.metrics.iloc[:0]
        return rows[columns]

    @cached_property
    def _clean(self) -> dict[tuple[str | None, str], pd.Series]:
        """Each series read so far, clean (`series.clean`): templates read one many times."""
        return {}

    def _exported(self, service: str | None, metric: str) -> pd.Series:
        key = (service, metric)
        if key not in self._clean:
            self._clean[key] = _series.clean(self._frame(service, metric), metric)
        return self._clean[key]

    def series(self, service: str | None, metric: str, *, as_exported: bool = False) -> pd.Series:
        """One metric of one service as a clean float Series (empty if absent): UTC index
        sorted, NaN and infinity dropped, the values of one timestamp averaged. A counter
        (`kind`) gives what it counted in each interval (its increments), so `restarts > 0`
        is a restart in that interval however it was exported; `as_exported` gives the values
        as exported (a counter's running total)."""
        exported = self._exported(service, metric)
        if as_exported or self.kind(service, metric) == _series.GAUGE:
            return exported.copy()
        return _series.increments(exported)

    def kind(self, service: str | None, metric: str) -> str:
        """'counter' (a running total, declared or detected: docs/evidence.md) or 'gauge'."""
        return _series.kind(metric, self._exported(service, metric).to_numpy())

    def rate(self, service: str | None, metric: str) -> pd.Series:
        """A counter per second over each interval; a gauge's values as they are."""
        exported = self._exported(service, metric)
        return (
            _series.rate(exported)
            if self.kind(service, metric) == _series.COUNTER
            else exported.copy()
        )

    def step(self, service: str | None, metric: str) -> pd.Timedelta | None:
        """The series' native sampling step (None under two samples)."""
        return infer_step(self._exported(service, metric).index)

    def quality(self, service: str | None, metric: str) -> dict[str, Any]:
        """The series' quality as the manifest's `series` records it (rows, missing and
        unreadable values, duplicates, step, gaps, span, coverage of the window); computed
        from the rows for a snapshot frozen before the manifest recorded it."""
        for entry in self.manifest.get("series") or []:
            if isinstance(entry, dict) and (entry.get("service"), entry.get("metric")) == (
                service,
                metric,
            ):
                return dict(entry)
        window = (self.window_start, self.data_end)
        return _series.describe(self._frame(service, metric), (service, metric), window)

    def sufficient(
        self,
        service: str | None,
        metric: str,
        start: datetime | pd.Timestamp | None = None,
        end: datetime | pd.Timestamp | None = None,
        min_coverage: float = 0.6,
    ) -> str | None:
        """None when the series covers at least `min_coverage` of [start, end] (default
        `bounds()`; gaps longer than 2.5 steps do not cover), else the `missing_data` entry:
        "metric processing_rate of orders-consumer covers 41% of the window (needs 60%)"."""
        if not self.has(service, metric):
            return self.absent(service, metric)
        lo, hi = self.bounds()
        window = (
            pd.Timestamp(start) if start is not None else lo,
            pd.Timestamp(end) if end is not None else hi,
        )
        label = f"metric {metric} of {service}"
        exported = self._exported(service, metric)
        return _series.shortfall(label, exported, window, min_coverage, whole=window == (lo, hi))

    def detect_onset(
        self, service: str | None, metric: str, direction: str = "up", **options: Any
    ) -> dict[str, Any] | None:
        """When this series itself first departed from its level (`stats.onset`, looking back
        over the whole lookback from the alert's start `onset`); None if it did not."""
        from ..stats import onset

        options.setdefault("lookback", self.onset - self.lookback_start)
        return onset(
            self.series(service, metric), baseline_end=self.onset, direction=direction, **options
        )

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


def manifest_digest(manifest: dict[str, Any]) -> str:
    """The snapshot's identity: the sha256 of its whole manifest (window, onset, context,
    sources, files and their hashes) as canonical JSON, without `manifest_sha256` itself."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def files_digest(files: dict[str, Any]) -> str:
    """The hash over each file's name and sha256, in name order (the manifest's `sha256`)."""
    lines = [f"{name}  {files[name]['sha256']}" for name in sorted(files)]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def read_manifest(path: Path) -> dict[str, Any]:
    """A snapshot folder's manifest.json; EvidenceError if there is none or it is not one."""
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise EvidenceError("no manifest.json: not a snapshot folder", where=str(path))
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise EvidenceError(f"manifest.json is not JSON: {exc}", where=str(path)) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise EvidenceError("manifest.json lists no files: not a snapshot", where=str(path))
    return manifest


def check_manifest(path: Path, manifest: dict[str, Any], expected_sha256: str | None) -> None:
    """Refuse a manifest edited since it was frozen: its own seal (`manifest_sha256`, absent
    in snapshots written before manifests were sealed), its files hash, and, given the hash
    the register recorded, that one (a manifest re-sealed by hand differs from it)."""
    sealed = manifest.get("manifest_sha256")
    if sealed is not None and manifest_digest(manifest) != sealed:
        raise EvidenceError(
            "manifest.json changed after the snapshot was frozen (manifest sha256 mismatch)",
            where=str(path),
        )
    try:
        files_ok = files_digest(manifest["files"]) == manifest.get("sha256")
    except (KeyError, TypeError):
        files_ok = False
    if not files_ok:
        raise EvidenceError(
            "manifest.json changed after the snapshot was frozen (files sha256 mismatch)",
            where=str(path),
        )
    identity = sealed if sealed is not None else manifest.get("sha256")
    if expected_sha256 is not None and identity != expected_sha256:
        raise EvidenceError(
            f"the snapshot is not the one the register recorded (sha256 {str(identity)[:12]}, "
            f"recorded {expected_sha256[:12]}): changed after it was frozen",
            where=str(path),
        )


def verify_snapshot(snapshot_path: str | Path, expected_sha256: str | None = None) -> None:
    """Check a snapshot without reading its frames: manifest and every file as frozen (and,
    given `expected_sha256` from the register, the very snapshot it recorded)."""
    path = Path(snapshot_path)
    manifest = read_manifest(path)
    check_manifest(path, manifest, expected_sha256)
    for kind in _KINDS:
        _check_file(path, manifest, f"{kind}.parquet")


def _check_file(path: Path, manifest: dict[str, Any], name: str) -> None:
    entry = manifest["files"].get(name)
    file = path / name
    if not isinstance(entry, dict) or not file.is_file() or _digest(file) != entry.get("sha256"):
        raise EvidenceError(
            f"{name} changed after the snapshot was frozen (sha256 mismatch)", where=str(path)
        )


def load_evidence(
    snapshot_path: str | Path, *, verify: bool = True, expected_sha256: str | None = None
) -> Evidence:
    """Open a snapshot folder; with verify, refuse a manifest or files changed since it was
    frozen, and a snapshot other than `expected_sha256` (the one the register recorded)."""
    path = Path(snapshot_path)
    manifest = read_manifest(path)
    if verify:
        check_manifest(path, manifest, expected_sha256)
    frames: dict[str, pd.DataFrame] = {}
    for kind in _KINDS:
        file = path / f"{kind}.parquet"
        if verify:
            _check_file(path, manifest, file.name)
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
