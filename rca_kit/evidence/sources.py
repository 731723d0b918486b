"""Evidence sources: read metrics, logs and changes into the vocabulary of docs/evidence.md."""

from __future__ import annotations

import copy
import importlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import FilesSource, Workspace
from ..exceptions import EvidenceError, SourceError
from .prefilter import prefiltered
from .rows import UNREADABLE, Tally, epoch_seconds, kinds, levels, numbers, timestamps
from .vocabulary import CHANGE_KINDS as CHANGE_KINDS
from .vocabulary import KINDS as KINDS
from .vocabulary import LEVELS as LEVELS

log = logging.getLogger(__name__)
COLUMNS: dict[str, tuple[str, ...]] = {
    "metrics": ("timestamp", "service", "metric", "value"),
    "logs": ("timestamp", "service", "level", "message", "attributes"),
    "changes": ("timestamp", "service", "kind", "summary", "author", "ref"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "metrics": ("timestamp", "service", "metric", "value"),
    "logs": ("timestamp", "service", "level", "message"),
    "changes": ("timestamp", "service", "kind", "summary"),
}


def empty(kind: str) -> pd.DataFrame:
    frame = pd.DataFrame({column: pd.Series(dtype="object") for column in COLUMNS[kind]})
    frame["timestamp"] = pd.Series(dtype="datetime64[us, UTC]")
    if kind == "metrics":
        frame["value"] = pd.Series(dtype="float64")
    return frame


@dataclass(frozen=True)
class FetchRange:
    """What a source is asked for: the snapshot's whole range [start, end], the window inside
    it, the alert's onset, and the services whose data matter (the alert's service first,
    then every service upstream of it in [topology])."""

    start: datetime
    end: datetime
    window_start: datetime | None = None
    onset: datetime | None = None
    services: tuple[str, ...] = ()


@dataclass
class Fetched:
    """A source's answer: frames per kind, plus what failed while the rest succeeded.

    `missing_series` names each series ({"metric", "service", "error"}; service None: every
    service) a query was written for but did not deliver, so that its absence is read as
    unknown, not as "nothing happened"; `notes` are remarks for the manifest (not failures);
    `row_issues` what could not be read, per file and kind (`rows.Tally.record`).
    A source that cannot answer at all raises SourceError instead (its `missing_series`
    attribute, if any, names what it was to deliver); an EvidenceError (a missing file, a bad
    format) is the user's to fix and stops the investigation.
    """

    frames: dict[str, pd.DataFrame]
    errors: list[str] = field(default_factory=list)
    missing_series: list[dict[str, str | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    row_issues: list[dict[str, Any]] = field(default_factory=list)


Source = Callable[[Workspace, Any, FetchRange], "Fetched | dict[str, pd.DataFrame]"]


class SourceRegistry:
    """Evidence source kinds by name (the `kind` of a [[sources]] entry)."""

    def __init__(self) -> None:
        self._sources: dict[str, Source] = {}
        self._lazy: dict[str, str] = {}

    def register(self, kind: str, source: Source | str) -> None:
        """A source function, or "module:function" imported when the kind is first used."""
        if isinstance(source, str):
            self._lazy[kind] = source
        else:
            self._sources[kind] = source

    def get(self, kind: str) -> Source:
        if kind not in self._sources and kind in self._lazy:
            module, _, name = self._lazy[kind].partition(":")
            self._sources[kind] = getattr(importlib.import_module(module), name)
        try:
            return self._sources[kind]
        except KeyError:
            raise EvidenceError(f"unknown evidence source kind {kind!r}") from None


def _read_jsonl(path: Path, tally: Tally) -> pd.DataFrame:
    """The file's JSON objects, indexed by line number; a line that is not one is left out and
    counted, unless no line is one (then it is not JSON Lines)."""
    records, numbers = [], []
    bad = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                bad[number] = (line.rstrip("\n"), f"line {number} is not valid JSON ({exc.msg})")
                continue
            if not isinstance(record, dict):
                bad[number] = (line.rstrip("\n"), f"line {number} is not a JSON object")
                continue
            records.append(record)
            numbers.append(number)
    if bad and not records:
        raise EvidenceError(next(iter(bad.values()))[1] + ", nor is any other", where=str(path))
    lines = pd.Series({n: text for n, (text, _) in bad.items()}, dtype=object)
    tally.add("line_unreadable", pd.Series(True, index=lines.index), lines)
    return pd.DataFrame.from_records(records, index=pd.Index(numbers))


def _read(path: Path, kind: str, tally: Tally) -> pd.DataFrame:
    """The file as read, indexed by row (data rows from 1) or, for JSON Lines, line number.
    CSV cells stay text (so `n/a` is not taken for a missing value) but for a column of epoch
    seconds."""
    if not path.is_file():
        raise EvidenceError(f"{kind} file not found", where=str(path))
    try:
        if kind != "metrics":
            return _read_jsonl(path, tally)
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            seconds = epoch_seconds(frame["timestamp"]) if "timestamp" in frame else None
            if seconds is not None:
                frame["timestamp"] = seconds
    except EvidenceError:
        raise
    except Exception as exc:
        fmt = "CSV or Parquet" if kind == "metrics" else "JSON Lines"
        raise EvidenceError(f"cannot read {kind} as {fmt}: {exc}", where=str(path)) from None
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame


def normalize(
    frame: pd.DataFrame, kind: str, where: str, tally: Tally | None = None
) -> pd.DataFrame:
    """Bring a raw frame to the snapshot schema; its rows whose timestamps cannot be read (or
    have no zone) are left out and counted in `tally`. Metrics keep the UNREADABLE column (the
    raw value where it was not a number), which the snapshot drops."""
    tally = tally if tally is not None else Tally(where, kind, numbered=None)
    if frame.empty:  # an empty file is evidence too: nothing happened
        return empty(kind)
    missing = [column for column in REQUIRED[kind] if column not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise EvidenceError(f"missing column {missing[0]!r} (have: {have})", where=where)
    stamps = frame["timestamp"]
    if isinstance(stamps.dtype, np.dtype) and stamps.dtype.kind == "M":
        raise EvidenceError(
            "column 'timestamp' holds times without a time zone",
            where=where,
            hint="store them with a zone (timestamp[us, tz=UTC]) or as epoch seconds",
        )
    parsed = timestamps(stamps, tally)
    out = frame.loc[parsed.notna()].copy()
    out["timestamp"] = parsed.loc[out.index]
    for column in ("service", "metric", "message", "summary", "level", "kind"):
        if column in out.columns:
            out[column] = out[column].astype("string").fillna("").astype(object)
    if kind == "metrics":
        out["value"], out[UNREADABLE] = numbers(out["value"])
    if kind == "logs":
        out["level"] = levels(out["level"])
        extra = [c for c in out.columns if c not in COLUMNS[kind]]
        out["attributes"] = (
            [
                json.dumps(
                    {k: v for k, v in row.items() if pd.notna(v)}, default=str, sort_keys=True
                )
                for row in out[extra].to_dict("records")
            ]
            if extra
            else "{}"
        )
    if kind == "changes":
        out["kind"] = kinds(out["kind"])
        for column in ("author", "ref"):
            out[column] = (
                out[column].astype("string").fillna("").astype(object) if column in out else ""
            )
    return out[[*COLUMNS[kind], *([UNREADABLE] if kind == "metrics" else [])]]


def files_source(workspace: Workspace, section: FilesSource, span: FetchRange) -> Fetched:
    """Evidence from files: metrics .csv/.parquet, logs and changes .jsonl. What could not be
    read in each file is counted in `row_issues`."""
    frames: dict[str, pd.DataFrame] = {}
    issues = []
    for kind in KINDS:
        value: Any = getattr(section, kind)
        if not value:
            continue
        path = workspace.source_path(value)
        tally = Tally(str(value), kind, numbered="row" if kind == "metrics" else "line")
        frame = prefiltered(path, kind, span, str(path)) if path.is_file() else None
        if frame is None:  # small, or the rows kept cannot vouch for the whole file
            frame = _whole(path, kind, tally)
        inside = (frame["timestamp"] >= span.start) & (frame["timestamp"] <= span.end)
        issue = tally.record(frame.loc[inside])  # rows still numbered as in the file
        frames[kind] = frame.loc[inside].reset_index(drop=True)
        if issue:
            issues.append(issue)
    return Fetched(frames, row_issues=issues)


# files read whole, as last normalized in this process (a warm `rca serve` host reads the same
# files alert after alert): (path, kind, size, mtime, ctime, inode) -> frame, counts, examples
_READ: OrderedDict[tuple[Any, ...], tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]] = (
    OrderedDict()
)
_READ_KEPT = 6
_READ_LOCK = threading.Lock()
_READ_MAX_BYTES = 64 * 1024 * 1024


def _whole(path: Path, kind: str, tally: Tally) -> pd.DataFrame:
    """`path` read whole and normalized, counting what could not be read in `tally`; the same
    file unchanged since (size, modification and change times, inode: any write changes its
    ctime) is not read again."""
    try:
        info = path.stat()
    except OSError:
        info = None
    key = (
        (str(path), kind, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
        if info
        else None
    )
    with _READ_LOCK:
        found = _READ.get(key) if key is not None else None
        if key is not None and found is not None:
            _READ.move_to_end(key)
    if found is not None:
        frame, counts, examples = found
        tally.counts.update(counts)
        tally.examples.update(copy.deepcopy(examples))
        return frame
    frame = normalize(_read(path, kind, tally), kind, str(path), tally)
    if key is not None and key[2] <= _READ_MAX_BYTES:
        with _READ_LOCK:  # sources are fetched side by side
            _READ[key] = (frame, dict(tally.counts), copy.deepcopy(tally.examples))
            while len(_READ) > _READ_KEPT:
                _READ.popitem(last=False)
    return frame


def upstream_services(service: str | None, topology: dict[str, list[str]]) -> tuple[str, ...]:
    """The service, then the services upstream of it as far as the templates look (nearest
    first; `rca_kit.stats.upstreams`)."""
    from ..stats import upstreams

    return (service, *upstreams(topology, service)) if service else ()


sources = SourceRegistry()
sources.register("files", files_source)
sources.register("prometheus", "rca_kit.evidence.prometheus:prometheus_source")
sources.register("git", "rca_kit.evidence.gitsource:git_source")


@dataclass
class Collected:
    """Every source's frames concatenated per kind, and one manifest record per source."""

    frames: dict[str, pd.DataFrame]
    records: list[dict[str, Any]]


def _fetch(workspace: Workspace, section: Any, span: FetchRange) -> tuple[Fetched, str | None]:
    try:
        got = sources.get(section.kind)(workspace, section, span)
    except SourceError as exc:
        lost = getattr(exc, "missing_series", ())  # what the source was to deliver
        return Fetched({}, missing_series=[{"error": str(exc), **item} for item in lost]), str(exc)
    return (got if isinstance(got, Fetched) else Fetched(dict(got))), None


def collect(workspace: Workspace, span: FetchRange) -> Collected:
    """Every configured source's frames, concatenated per kind and sorted deterministically.

    A source that fails (SourceError) or answers only in part is recorded, not fatal.
    """
    from .coverage import source_record

    parts: dict[str, list[pd.DataFrame]] = {kind: [] for kind in KINDS}
    records = []
    for number, section in enumerate(workspace.settings.sources, start=1):
        fetched, failure = _fetch(workspace, section, span)
        for kind, frame in fetched.frames.items():
            parts[kind].append(frame)
        record = source_record(number, section, fetched, failure, span)
        if record["problem"]:
            log.info("%s", record["problem"])  # the CLI and the report show it to people
        records.append(record)
    keys = {
        "metrics": ["timestamp", "service", "metric"],
        "logs": ["timestamp", "service"],
        "changes": ["timestamp", "service"],
    }
    result = {}
    for kind in KINDS:
        frames = [f for f in parts[kind] if len(f)]
        frame = pd.concat(frames, ignore_index=True) if frames else empty(kind)
        result[kind] = frame.sort_values(keys[kind], kind="stable").reset_index(drop=True)
    return Collected(result, records)
