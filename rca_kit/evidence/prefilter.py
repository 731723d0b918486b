"""Large metrics files: DuckDB streams the file and leaves out only the rows that surely lie far
outside the snapshot's range, so pandas reads the few that remain exactly as it reads a whole
file (`sources.normalize`), without holding millions of rows.

A row is left out only when its timestamp is one pandas surely reads, with a zone, more than 15
hours (more than any UTC offset taken here) outside [span.start, span.end]: ISO 8601 written
plainly (`2026-11-20T09:30:00Z`; a space for the `T`, a fraction of a second, an offset up to
14:59), in 1900-2199, every field in its range; or, in a column of epoch seconds, a plain
number. Every other row (another form, a missing or unreadable timestamp) is read by pandas as
before, and rows outside the range are dropped afterwards as they always were. When the rows
kept cannot vouch for the whole file (a timestamp that cannot be read or has no zone, whose
row number only the whole file gives; epoch seconds beside ISO text; a file DuckDB cannot read
this way) `prefiltered` answers None and the file is read whole, so what is left out or
refused, and the lines saying so, stay as they were.
"""

from __future__ import annotations

import csv
import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..exceptions import EvidenceError
from .rows import epoch_seconds

if TYPE_CHECKING:
    from .sources import FetchRange

log = logging.getLogger(__name__)
LARGE_BYTES = 16 * 1024 * 1024  # smaller CSV files are read whole, as they always were
LARGE_ROWS = 500_000  # and Parquet files of fewer rows (compressed, millions fit in 16 MiB)
MARGIN = timedelta(hours=15)  # more than any UTC offset the fast reading takes (14:59)
COLUMNS = ("timestamp", "service", "metric", "value")
FAR = ("iso_far", "epoch_far")

# A timestamp pandas surely reads (format="ISO8601", with a zone): exactly how DuckDB writes the
# time it casts the first 19 characters to (so digits where digits go, every field in its
# range, the day of the month), in 1900-2199; first in its commonest form, then with a space
# for the `T`, a fraction of a second or an offset of at most 14:59.
_STAMP = "TRY_CAST(substr(ts, 1, 19) AS TIMESTAMP)"
_PLAIN_ISO = """(
    CASE WHEN strftime(stamp, '%Y-%m-%dT%H:%M:%SZ') = ts THEN true
    ELSE substr(ts, 11, 1) IN ('T', ' ')
         AND CAST(stamp AS VARCHAR) = substr(ts, 1, 10) || ' ' || substr(ts, 12, 8)
         AND regexp_full_match(substr(ts, 20), '(\\.[0-9]{1,9})?(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])')
    END
    AND stamp BETWEEN TIMESTAMP '1900-01-01' AND TIMESTAMP '2199-12-31 23:59:59'
)"""
# Epoch seconds pandas surely reads as numbers: digits, maybe a fraction, before year 2255.
_PLAIN_EPOCH = (
    "(regexp_full_match(ts, '[0-9]{1,10}(\\.[0-9]{1,9})?')"
    " AND TRY_CAST(ts AS DOUBLE) <= 9000000000)"
)


def prefiltered(path: Path, kind: str, span: FetchRange, where: str) -> pd.DataFrame | None:
    """The metrics file's rows that may lie in span, normalized as `sources.normalize` does a
    whole file (not yet cut to the range), or None: read the file whole (it is small, or the
    rows kept cannot vouch for it)."""
    if kind != "metrics" or not _large(path):
        return None
    from .rows import Tally
    from .sources import normalize

    try:
        frame = _candidates(path, span)
    except Exception as exc:  # DuckDB cannot read it our way: pandas says what is wrong
        log.debug("%s read whole: %s", path, exc)
        return None
    if frame is None:
        return None
    tally = Tally(where, kind, numbered=None)
    try:
        kept = normalize(frame, kind, where, tally)
    except EvidenceError:  # refused: the whole file's line says why
        return None
    # rows left out are named by their row in the file, which only reading it whole knows
    return None if tally.counts else kept


def _large(path: Path) -> bool:
    if path.suffix != ".parquet":
        return path.stat().st_size >= LARGE_BYTES
    import pyarrow.parquet as pq

    try:
        return bool(pq.ParquetFile(path).metadata.num_rows >= LARGE_ROWS)
    except Exception:  # not Parquet after all: pandas says so
        return False


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source(con: Any, path: Path) -> tuple[str, str] | None:
    """The DuckDB scan of the file and the type of its timestamp column, or None if pandas
    must read it (a column missing, named twice, a header DuckDB would read otherwise)."""
    if path.suffix == ".parquet":
        source = f"read_parquet({_literal(str(path))})"
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()  # noqa: S608
        types = {str(row[0]): str(row[1]) for row in described}
        return (source, types["timestamp"]) if set(COLUMNS) <= set(types) else None
    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), None)
    if not header or len(set(header)) != len(header) or not set(COLUMNS) <= set(header):
        return None
    columns = ", ".join(f"{_literal(name)}: 'VARCHAR'" for name in header)
    source = (
        f"read_csv({_literal(str(path))}, header = true, auto_detect = false, delim = ',',"
        f" quote = '\"', escape = '\"', strict_mode = true, columns = {{{columns}}})"
    )
    return source, "VARCHAR"


def _far(kind: str, span: FetchRange) -> str | None:
    """SQL: 1 for a row whose ISO timestamp is surely far outside span, 2 for such epoch
    seconds, else 0; None when the column's type is for pandas to judge."""
    start, end = span.start - MARGIN, span.end + MARGIN
    seconds = f"NOT BETWEEN {start.timestamp()} AND {end.timestamp()}"
    if kind == "VARCHAR":
        naive = (_literal(t.replace(tzinfo=None).isoformat()) for t in (start, end))
        iso = f"{_PLAIN_ISO} AND stamp NOT BETWEEN {' AND '.join(naive)}"
        epoch = f"{_PLAIN_EPOCH} AND TRY_CAST(ts AS DOUBLE) {seconds}"
        return f"CASE WHEN {iso} THEN 1 WHEN {epoch} THEN 2 ELSE 0 END"
    if kind.startswith("TIMESTAMP WITH TIME ZONE"):
        bounds = " AND ".join(f"TIMESTAMPTZ {_literal(t.isoformat())}" for t in (start, end))
        return f"CASE WHEN ts NOT BETWEEN {bounds} THEN 1 ELSE 0 END"
    if kind in ("BIGINT", "INTEGER", "SMALLINT", "DOUBLE", "FLOAT"):
        return f"CASE WHEN ts BETWEEN 0 AND 9000000000 AND ts {seconds} THEN 2 ELSE 0 END"
    return None  # a timestamp without a zone, a date, …


def _candidates(path: Path, span: FetchRange) -> pd.DataFrame | None:
    """The rows not surely far from span, as pandas would read them; None if that is unsure."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")  # never a bar on a terminal
        found = _source(con, path)
        far = _far(found[1], span) if found else None
        if found is None or far is None:
            return None
        stamp = _STAMP if found[1] == "VARCHAR" else "NULL"
        # the path is a quoted literal, the rest our own SQL
        query = f"""
            WITH scanned AS (
                SELECT "timestamp" AS ts, "service", "metric", "value" FROM {found[0]}
            ), stamped AS (SELECT *, {stamp} AS stamp FROM scanned),
            marked AS (SELECT *, {far} AS far FROM stamped),
            kept AS (
                SELECT count(*) FILTER (far = 1) AS iso_far,
                       count(*) FILTER (far = 2) AS epoch_far,
                       list(struct_pack(ts, service, metric, value)) FILTER (far = 0) AS rows
                FROM marked
            )
            SELECT iso_far, epoch_far, unnest(rows, recursive := true) FROM kept
        """  # noqa: S608
        frame = con.sql(query).df()
    finally:
        con.close()
    iso_far, epoch_far = (int(frame[c].iloc[0]) if len(frame) else 0 for c in FAR)
    frame = frame.drop(columns=list(FAR)).rename(columns={"ts": "timestamp"})
    return _as_pandas_reads(frame, path.suffix == ".parquet", iso_far, epoch_far)


def _as_pandas_reads(
    frame: pd.DataFrame, parquet: bool, iso_far: int, epoch_far: int
) -> pd.DataFrame | None:
    """The kept rows as pandas would have read them from the whole file, or None if unsure."""
    if parquet:
        if iso_far and epoch_far:
            return None
        return frame
    if iso_far and epoch_far:
        return None  # epoch seconds beside ISO text: pandas reads text and refuses the numbers
    seconds = epoch_seconds(frame["timestamp"])  # as `sources._read` decides for the file
    if epoch_far and seconds is None:
        return None  # text among the numbers: a column of text, whose numbers are left out
    if seconds is not None and not iso_far:
        frame["timestamp"] = seconds
    return frame
