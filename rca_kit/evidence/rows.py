"""Reading evidence row by row: timestamps, metric values, log levels and change kinds.

A row that cannot be read is never fatal for its file and never silent: a timestamp that cannot
be read, or has no zone, leaves its row out; a value that is not a number is stored as NaN; an
unknown level or change kind is kept (lower-cased). Each is counted per file and kind in a
`Tally`, with the first few raw values as examples (truncated, kept as data), which becomes the
source record's `row_issues` in the manifest and one line per file and kind for people
(`issue_line`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..inert import one_line
from .vocabulary import CHANGE_KINDS, LEVELS

EXAMPLES = 3  # raw values kept per problem
RAW_CHARS = 80  # a raw value is cut to this many characters in the manifest
SHOWN_CHARS = 40  # and to this many in a line people read
SERIES_NAMED = 10  # series named per source in the manifest (the most affected first)

# Levels as other loggers write them (after lower-casing): syslog, log4j, Python, Go, Rust.
LEVEL_ALIASES = {
    "trace": "debug",
    "dbg": "debug",
    "information": "info",
    "informational": "info",
    "notice": "info",
    "warn": "warning",
    "err": "error",
    "crit": "critical",
    "fatal": "critical",
    "emerg": "critical",
    "emergency": "critical",
    "alert": "critical",
    "panic": "critical",
}
KIND_ALIASES = {
    "deployment": "deploy",
    "release": "deploy",
    "configuration": "config",
    "migration": "schema",
    "infrastructure": "infra",
    "feature_flag": "flag",
    "feature-flag": "flag",
}
# Problems, in the order lines name them; the first three leave their row out.
PROBLEMS = {
    "line_unreadable": "lines that are not JSON objects left out",
    "timestamp_unreadable": "rows with unreadable timestamps left out",
    "timestamp_without_zone": "rows with timestamps without a zone left out",
    "value_not_a_number": "values not numbers (stored as NaN)",
    "level_unknown": "unknown levels kept",
    "kind_unknown": "unknown change kinds kept",
}
MISSING = "value_missing"  # empty cells and NaN: counted, not a problem
_MISSING_TEXT = frozenset({"", "nan", "-nan", "+nan"})
_ZONE = r"(?:Z|z|[+-]\d\d:?\d\d)$"


def raw(value: Any, limit: int = RAW_CHARS) -> str:
    """A raw cell as text for the manifest: as read, cut to `limit` characters."""
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Tally:
    """What could not be read in one file (or one source's answer) of one kind."""

    where: str
    kind: str
    numbered: str | None = "row"  # how examples are placed: "row", "line", or None (no place)
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def add(self, problem: str, bad: pd.Series, values: pd.Series) -> None:
        """Count the rows where `bad` holds, keeping the first few raw `values` as examples."""
        count = int(bad.sum())
        if not count:
            return
        self.counts[problem] = self.counts.get(problem, 0) + count
        kept = self.examples.setdefault(problem, [])
        for position, value in values.loc[bad].iloc[: EXAMPLES - len(kept)].items():
            at = f"{self.numbered} {position}" if self.numbered else ""
            kept.append({"at": at, "value": raw(value)})

    def record(self, frame: pd.DataFrame) -> dict[str, Any] | None:
        """The manifest entry for this file over the rows kept in `frame` (after the range
        cut): counts, examples, and for values the series most affected; None if clean."""
        counts = dict(self.counts)
        examples = dict(self.examples)  # lines and timestamps: counted while reading
        series: list[dict[str, Any]] = []
        total = 0
        if self.kind == "metrics" and UNREADABLE in frame:
            unreadable = frame[UNREADABLE].notna()
            counts["value_not_a_number"] = int(unreadable.sum())
            counts[MISSING] = int((frame["value"].isna() & ~unreadable).sum())
            series, total = _series(frame.loc[unreadable])
            examples["value_not_a_number"] = [
                {"at": f"{service}/{metric}", "value": str(value)}
                for service, metric, value in frame.loc[
                    unreadable, ["service", "metric", UNREADABLE]
                ]
                .head(EXAMPLES)
                .itertuples(index=False)
            ]
        checked = {"logs": ("level", "level_unknown", LEVELS)}
        checked["changes"] = ("kind", "kind_unknown", CHANGE_KINDS)
        if self.kind in checked and len(frame):
            column, problem, allowed = checked[self.kind]
            unknown = ~frame[column].isin(allowed)
            counts[problem] = int(unknown.sum())
            examples[problem] = [
                {"at": f"{self.numbered} {i}" if self.numbered else "", "value": raw(v)}
                for i, v in frame.loc[unknown, column].head(EXAMPLES).items()
            ]
        counts = {k: v for k, v in counts.items() if v}
        if not counts:
            return None
        entry: dict[str, Any] = {
            "kind": self.kind,
            "where": self.where,
            "counts": dict(sorted(counts.items())),
            "examples": {k: v for k, v in sorted(examples.items()) if v and counts.get(k)},
        }
        if series:
            entry["series"] = series
            entry["series_total"] = total
        return entry


# metrics: the raw value where it was not a number, else None (a column the snapshot drops)
UNREADABLE = "_unreadable"


def _series(rows: pd.DataFrame) -> tuple[list[dict[str, Any]], int]:
    """The series with unreadable values, most first (then by name), at most SERIES_NAMED,
    and how many there are."""
    if rows.empty:
        return [], 0
    sizes = rows.groupby(["service", "metric"]).size().reset_index(name="count")
    sizes = sizes.sort_values(["count", "service", "metric"], ascending=[False, True, True])
    named = [
        {"service": str(s), "metric": str(m), "count": int(c)}
        for s, m, c in sizes.head(SERIES_NAMED).itertuples(index=False)
    ]
    return named, len(sizes)


def timestamps(values: pd.Series, tally: Tally) -> pd.Series:
    """UTC timestamps (NaT where the row is to be left out: unreadable or without a zone)."""
    if pd.api.types.is_bool_dtype(values):
        parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
        naive = pd.Series(False, index=values.index)
    elif pd.api.types.is_numeric_dtype(values):
        seconds = pd.to_numeric(values, errors="coerce").astype("float64")
        seconds = seconds.where(seconds.abs() < 1e11)  # beyond year 5138: not a timestamp
        parsed = pd.to_datetime(seconds, unit="s", utc=True, errors="coerce")
        naive = pd.Series(False, index=values.index)
    else:
        text = values.astype("string").str.strip()
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        naive = parsed.notna() & ~text.str.contains(_ZONE, regex=True, na=False)
    unreadable = parsed.isna()
    tally.add("timestamp_unreadable", unreadable, values)
    tally.add("timestamp_without_zone", naive, values)
    return parsed.where(~naive).astype("datetime64[us, UTC]")


def epoch_seconds(stamps: pd.Series) -> pd.Series | None:
    """A column of text read from CSV as epoch seconds when every filled cell is a number
    (empty cells: no timestamp), else None: a text column, whose numbers cannot be read."""
    text = stamps.astype("string").str.strip()
    filled = (text.notna() & (text != "")).astype(bool)
    if filled.any():
        try:  # an ISO 8601 column fails at its first cell: no need to try every one
            float(str(text.loc[filled].iloc[0]))
        except ValueError:
            return None
    seconds = pd.to_numeric(text.where(filled).astype(object), errors="coerce")
    if not filled.any() or seconds.loc[filled].isna().any():
        return None
    return seconds.astype("float64")


def numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Metric values as floats, and the raw text of those that were not numbers (stored as
    NaN; None elsewhere). Empty cells, nulls and NaN (any case) are missing values, not
    unreadable ones; ±inf are numbers."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        floats = pd.to_numeric(values, errors="coerce").astype("float64")
        return floats, pd.Series(None, index=values.index, dtype=object)
    text = values.astype("string")
    missing = (text.isna() | text.str.strip().str.lower().isin(_MISSING_TEXT)).astype(bool)
    floats = pd.to_numeric(text.where(~missing).astype(object), errors="coerce")
    floats = floats.astype("float64")
    bad = floats.isna() & ~missing
    unreadable = pd.Series(None, index=values.index, dtype=object)
    unreadable.loc[bad] = [raw(v) for v in values.loc[bad]]
    return floats, unreadable


def levels(values: pd.Series) -> pd.Series:
    """Log levels lower-cased, aliases (`WARN`, `err`, `fatal`) mapped onto the five."""
    lower = values.astype("string").fillna("").str.strip().str.lower().astype(object)
    return lower.map(lambda v: LEVEL_ALIASES.get(v, v))


def kinds(values: pd.Series) -> pd.Series:
    """Change kinds lower-cased, aliases (`deployment`, `feature_flag`) mapped onto the five."""
    lower = values.astype("string").fillna("").str.strip().str.lower().astype(object)
    return lower.map(lambda v: KIND_ALIASES.get(v, v))


def issue_line(issue: dict[str, Any]) -> str | None:
    """One line for people: what could not be read in one file of one kind, with a first
    example of each problem (escaped, truncated); None when nothing is worth saying."""
    counts: dict[str, Any] = _mapping(issue.get("counts"))
    examples: dict[str, Any] = _mapping(issue.get("examples"))
    parts = []
    for problem, words in PROBLEMS.items():
        count = counts.get(problem)
        if not isinstance(count, int) or count <= 0:
            continue
        text = f"{count} {words}"
        if problem == "value_not_a_number":
            text = f"{count} values not numbers" + _in_series(
                issue.get("series"), issue.get("series_total"), count
            )
        first = (examples.get(problem) or [None])[0]
        if isinstance(first, dict):
            at = f"{first.get('at')}: " if first.get("at") else "e.g. "
            if problem == "value_not_a_number":  # its series are named already
                at = "e.g. "
            text += f" ({one_line(at)}{one_line(repr(str(first.get('value'))), SHOWN_CHARS)})"
        parts.append(text)
    if not parts:
        return None
    return one_line(f"{issue.get('where')}: {'; '.join(parts)}", 400)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _in_series(series: Any, total: Any, count: int) -> str:
    named = [s for s in series or [] if isinstance(s, dict)][:3]
    if not named:
        return ""
    names = [f"{s.get('service')}/{s.get('metric')}" for s in named]
    if len(named) == 1 and named[0].get("count") == count:
        return f" in {names[0]}"
    shown = ", ".join(f"{n} ({s.get('count')})" for n, s in zip(names, named, strict=True))
    more = (total if isinstance(total, int) else len(named)) - len(named)
    return f" in {shown}" + (f" and {more} more series" if more > 0 else "")


def issue_lines(sources: list[dict[str, Any]]) -> list[str]:
    """One line per source file and kind with rows or values that could not be read."""
    lines = []
    for source in sources:
        for issue in source.get("row_issues") or []:
            line = issue_line(issue) if isinstance(issue, dict) else None
            if line:
                lines.append(line)
    return lines
