"""Benchmark: the demo's snapshot frozen from a metrics file padded to 5 million rows (CSV, and
Parquet), and a whole `rca investigate` on it, against the plain demo, side by side in one run.

The padding (made here with DuckDB, deterministic) is 200 other series (50 services, 4 metrics)
sampled every 5 minutes over 85 days around the demo's two: rows far outside the window, and
inside it rows of other services, which the snapshot keeps as it keeps any row in its range.
Each freeze runs in a child process that reports its own peak RSS (and its children's). Targets:
freeze <= 5 s and <= 500 MB for each padded file; the padded investigation within 1.5x the
plain demo's time, with identical verdicts.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from rca_kit.scaffold import init_workspace

BIN = Path(sys.executable).parent
ROWS = 5_000_000
SERIES = 200
ALERT = "examples/alerts/consumer-lag.json"
TARGET_S, TARGET_MB, TARGET_RATIO = 5.0, 500.0, 1.5


def pad(demo: Path, csv_path: Path, parquet_path: Path) -> None:
    """The demo's metrics among ROWS rows in all, as CSV and as typed Parquet."""
    con = duckdb.connect()
    demo_rows = f"SELECT * FROM read_csv('{demo}', all_varchar = true)"  # noqa: S608
    con.execute(f"CREATE TABLE demo AS {demo_rows}")
    (count,) = con.execute("SELECT count(*) FROM demo").fetchall()[0]
    # the padding ends where the demo's export does: unrelated series observed later would
    # make the demo's own series stop short of the alert's window (rightly inconclusive)
    (last,) = con.execute("SELECT max(timestamp::TIMESTAMPTZ) FROM demo").fetchall()[0]
    end = last.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    steps = (ROWS - count) // SERIES
    con.execute(
        f"""CREATE TABLE padded AS
        WITH stamps AS (
            SELECT step, strftime(TIMESTAMP '{end}' - to_minutes(5 * step),
                                  '%Y-%m-%dT%H:%M:%SZ') AS timestamp
            FROM range({steps}) t(step)
        ), series AS (
            SELECT s, 'pad-' || lpad((s // 4)::VARCHAR, 3, '0') AS service,
                   'pad_metric_' || (s % 4)::VARCHAR AS metric
            FROM range({SERIES}) t(s)
        )
        SELECT timestamp, service, metric,
               round(((step * 7919 + s * 104729) % 10007) / 100.0, 2)::VARCHAR AS value
        FROM stamps CROSS JOIN series
        UNION ALL SELECT * FROM demo"""  # noqa: S608
    )
    extra = ROWS - count - steps * SERIES  # the rest: one old sample each, long before
    if extra:
        old = "'2026-08-01T00:00:00Z', 'pad-old', 'pad_metric_0', '1'"
        con.execute(f"INSERT INTO padded SELECT {old} FROM range({extra})")  # noqa: S608
    con.execute(f"COPY padded TO '{csv_path}' (HEADER, QUOTE '')")
    typed = "timestamp::TIMESTAMPTZ AS timestamp, service, metric, value::DOUBLE AS value"
    con.execute(f"COPY (SELECT {typed} FROM padded) TO '{parquet_path}' (FORMAT parquet)")  # noqa: S608


def use(workspace: Path, metrics: Path) -> None:
    toml = workspace / "rca.toml"
    text = toml.read_text().replace(
        'metrics = "examples/data/metrics.csv"', f'metrics = "{metrics}"'
    )
    toml.write_text(text)


def freeze_here(workspace: Path, dest: Path) -> None:
    """In the child: freeze the demo alert's snapshot as an investigation does; print JSON."""
    from rca_kit import selection
    from rca_kit.config import find_workspace
    from rca_kit.evidence.window import freeze_evidence
    from rca_kit.intake import parse_alerts
    from rca_kit.library import load_library

    found = find_workspace(workspace)
    raw = (found.root / ALERT).read_bytes()
    alert = parse_alerts(raw, service_labels=found.settings.alerts.service_labels)[0]
    specs = load_library(found.library_dir, found.templates_dir, found.settings.hypotheses)
    chosen = selection.select(specs, alert, {})
    start = time.perf_counter()
    snapshot = freeze_evidence(found, alert, chosen, "inv-bench", dest, datetime.now(UTC))
    seconds = time.perf_counter() - start
    peak = _high_water_mb()
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "rows": snapshot.row_counts}))


def _high_water_mb() -> float:
    """This process's peak RSS since it started (VmHWM: getrusage's ru_maxrss would count the
    parent's memory this process was forked with), plus its children's."""
    status = Path("/proc/self/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (kib + children) / 1024


def freeze(workspace: Path, dest: Path) -> dict:  # type: ignore[type-arg]
    done = subprocess.run(
        [sys.executable, __file__, "--freeze", str(workspace), str(dest)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def investigate(workspace: Path) -> tuple[float, dict[str, str]]:
    start = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "rca"), "investigate", ALERT, "--json"],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    result = json.loads(done.stdout)
    return seconds, {h["id"]: h["verdict"] for h in result["hypotheses"]}


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="rca-bench-snapshot-"))
    try:
        plain = init_workspace(root / "plain")
        padded = Path(shutil.copytree(plain, root / "padded"))
        big_csv, big_parquet = root / "metrics-5M.csv", root / "metrics-5M.parquet"
        start = time.perf_counter()
        pad(plain / "examples" / "data" / "metrics.csv", big_csv, big_parquet)
        made = time.perf_counter() - start
        print(
            f"padded to {ROWS:,} rows (CSV {big_csv.stat().st_size / 2**20:.0f} MiB, "
            f"Parquet {big_parquet.stat().st_size / 2**20:.0f} MiB) in {made:.1f} s"
        )
        base = freeze(plain, root / "snap-plain")
        print(f"{'freeze, plain demo CSV':<34} {base['seconds']:6.2f} s {base['peak_mb']:7.0f} MB")
        met_all = True
        for name, source in (("CSV", big_csv), ("Parquet", big_parquet)):
            shutil.copy(plain / "rca.toml", padded)
            use(padded, source)
            got = freeze(padded, root / f"snap-{name}")
            met = got["seconds"] <= TARGET_S and got["peak_mb"] <= TARGET_MB
            met_all &= met
            print(
                f"{f'freeze, padded {name} (5M rows)':<34} {got['seconds']:6.2f} s "
                f"{got['peak_mb']:7.0f} MB  target <= {TARGET_S:.0f} s, <= {TARGET_MB:.0f} MB: "
                f"{'met' if met else 'not met'} ({got['rows']['metrics']:,} metric rows kept)"
            )
        shutil.copy(plain / "rca.toml", padded)
        use(padded, big_csv)
        plain_s, plain_verdicts = investigate(plain)
        padded_s, padded_verdicts = investigate(padded)
        ratio = padded_s / plain_s
        same = plain_verdicts == padded_verdicts
        print(f"{'rca investigate, plain demo':<34} {plain_s:6.2f} s")
        print(f"{'rca investigate, padded CSV':<34} {padded_s:6.2f} s  ratio {ratio:.2f}x")
        met = ratio <= TARGET_RATIO and same
        print(
            f"target: padded investigation <= {TARGET_RATIO}x the plain demo's, identical "
            f"verdicts: {'met' if met else 'not met'} (verdicts "
            f"{'identical' if same else f'differ: {plain_verdicts} vs {padded_verdicts}'})"
        )
        print(f"all targets: {'met' if met and met_all else 'not met'}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--freeze"]:
        freeze_here(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
