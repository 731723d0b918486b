"""Benchmark: an alert storm through `rca investigate --batch` vs one `rca investigate` per
alert file in sequence (how a storm is handled without --batch).

Both sides run on the demo workspace with the same [execution] workers, side by side in one
run; the anchor investigates fewer alerts (its rate is per notebook, so that is fair). Prints
notebooks per second of each, the ratio and the target, and checks the batch's register:
exactly one run per (investigation, hypothesis), none lost, none duplicated.

    python bench/bench_storm.py [--alerts 200] [--anchor-alerts 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rca_kit.scaffold import init_workspace

RCA = str(Path(sys.executable).parent / "rca")
TARGET = 1.2  # the batch runs notebooks at least this much faster than one alert at a time
PER_FILE = 10


def storm(workspace: Path, alerts: int, folder: str) -> list[Path]:
    """`alerts` distinct alerts of the demo's service (each name one every bundled hypothesis
    applies to), PER_FILE to an Alertmanager payload file."""
    base = json.loads((workspace / "examples/alerts/consumer-lag.json").read_text())
    first = base["alerts"][0]
    out = workspace / folder
    out.mkdir()
    files = []
    for start in range(0, alerts, PER_FILE):
        body = copy.deepcopy(base)
        body["alerts"] = []
        for number in range(start, min(start + PER_FILE, alerts)):
            alert = copy.deepcopy(first)
            alert["labels"]["alertname"] = f"ConsumerLag{number:04d}"
            body["alerts"].append(alert)
        path = out / f"storm-{start // PER_FILE:03d}.json"
        path.write_text(json.dumps(body))
        files.append(path)
    return files


def outcomes(workspace: Path) -> tuple[int, int, int]:
    """(investigations, runs, distinct (investigation, hypothesis) pairs) in the register."""
    conn = sqlite3.connect(workspace / "rca.db")
    try:
        investigations = conn.execute("SELECT count(*) FROM investigations").fetchone()[0]
        runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        pairs = conn.execute(
            "SELECT count(*) FROM (SELECT DISTINCT investigation_id, hypothesis_id FROM runs)"
        ).fetchone()[0]
    finally:
        conn.close()
    return int(investigations), int(runs), int(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--anchor-alerts", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rca-bench-storm-"))
    try:
        batch_ws = init_workspace(root / "batch")
        storm(batch_ws, args.alerts, "storm")
        start = time.perf_counter()
        done = subprocess.run(
            [RCA, "investigate", "--batch", "storm", "--json"],
            cwd=batch_ws,
            capture_output=True,
            text=True,
            check=False,
        )
        batch_s = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"the batch failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        counts = json.loads(done.stdout)["counts"]
        investigations, runs, pairs = outcomes(batch_ws)
        expected = args.alerts * 9

        anchor_ws = init_workspace(root / "anchor")
        files = storm(anchor_ws, args.anchor_alerts, "storm")
        anchor_notebooks = 0
        start = time.perf_counter()
        for path in files:  # PER_FILE alerts at most per file: one process per alert
            body = json.loads(path.read_text())
            for number, alert in enumerate(body["alerts"]):
                single = anchor_ws / f"alert-{path.stem}-{number}.json"
                single.write_text(json.dumps({**body, "alerts": [alert]}))
                one = subprocess.run(
                    [RCA, "investigate", single.name, "--json"],
                    cwd=anchor_ws,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                anchor_notebooks += len(json.loads(one.stdout)["hypotheses"])
        anchor_s = time.perf_counter() - start
    finally:
        shutil.rmtree(root, ignore_errors=True)

    ours = counts["notebooks"] / batch_s
    theirs = anchor_notebooks / anchor_s
    label = f"rca investigate --batch ({args.alerts} alerts, {counts['notebooks']} notebooks)"
    print(f"{label:<64} {ours:6.2f} notebooks/s ({batch_s:.1f} s)")
    label = f"rca investigate per alert in sequence ({args.anchor_alerts} alerts)"
    print(f"{label:<64} {theirs:6.2f} notebooks/s ({anchor_s:.1f} s)")
    ratio = ours / theirs
    verdict = "met" if ratio >= TARGET else "not met"
    print(f"ratio: {ratio:.2f}x  target: >= {TARGET:.2f}x  {verdict}")
    lost, duplicated = expected - pairs, runs - pairs
    print(
        f"register: {investigations} investigations, {runs} runs for {expected} "
        f"(investigation, hypothesis) pairs: {lost} lost, {duplicated} duplicated  "
        f"{'met' if lost == duplicated == 0 and investigations == args.alerts else 'not met'}"
    )


if __name__ == "__main__":
    main()
