"""Benchmark: how fast `rca serve` acknowledges alerts while investigations run, against the
naive way of receiving them (one `rca alert ingest FILE` process per alert).

One run, side by side: a real `rca serve` on loopback investigates the demo alert while 300
distinct alerts are POSTed one after another (how one Alertmanager sends them), then 500 more
20 at a time (a storm); then 20 alerts are stored with one CLI process each. Prints p50/p99
acknowledgement latency (goal: p99 < 50 ms while investigations run) and ratios.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from serveproc import ServeProcess

from rca_kit.scaffold import init_workspace

BIN = Path(sys.executable).parent
SEQUENTIAL = 300
ALERTS = 500
CONCURRENCY = 20
CLI_ALERTS = 20


def body(number: int) -> str:
    return json.dumps(
        {
            "name": f"BenchAlert{number}",
            "service": "orders-consumer",
            "starts_at": f"2026-11-20T{number // 60 % 24:02d}:{number % 60:02d}:00Z",
        }
    )


async def post_all(server: ServeProcess, first: int, count: int, concurrency: int) -> list[float]:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(headers=server.headers, timeout=60) as client:

        async def one(number: int) -> float:
            async with limit:
                start = time.perf_counter()
                reply = await client.post(server.url + "/api/v1/alerts", content=body(number))
                elapsed = time.perf_counter() - start
                if reply.status_code != 202:
                    raise SystemExit(f"alert {number}: HTTP {reply.status_code} {reply.text}")
                return elapsed

        return await asyncio.gather(*(one(n) for n in range(first, first + count)))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="rca-bench-serve-"))
    workspace = init_workspace(root / "ws")
    with ServeProcess(workspace, investigations=1) as server:
        demo = (workspace / "examples" / "alerts" / "consumer-lag.json").read_text()
        alert_id = server.post(demo).json()["alerts"][0]["id"]
        server.wait_for(  # measure while the investigation's notebooks run
            f"/api/v1/alerts/{alert_id}", lambda a: a["investigations"], timeout_s=60
        )
        steady = asyncio.run(post_all(server, 0, SEQUENTIAL, 1))
        latencies = asyncio.run(post_all(server, SEQUENTIAL, ALERTS, CONCURRENCY))
        running = server.get(f"/api/v1/alerts/{alert_id}").json()["queue"][0]["state"]
    cli = []
    for number in range(CLI_ALERTS):
        path = root / f"alert-{number}.json"
        path.write_text(body(SEQUENTIAL + ALERTS + number))
        start = time.perf_counter()
        subprocess.run(
            [str(BIN / "rca"), "alert", "ingest", str(path)],
            cwd=workspace,
            capture_output=True,
            check=True,
        )
        cli.append(time.perf_counter() - start)
    cli_median = statistics.median(cli)
    print(f"rca serve, while an investigation ran (still {running} at the end):")
    rows = [("one at a time", SEQUENTIAL, steady), (f"{CONCURRENCY} at a time", ALERTS, latencies)]
    for label, count, values in rows:
        p50, p99 = percentile(values, 0.50), percentile(values, 0.99)
        print(
            f"  {count} alerts {label}: ack p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
            f"max {max(values) * 1000:.1f} ms; {cli_median / p50:.0f}x faster than naive at p50, "
            f"{cli_median / p99:.0f}x at p99; p99 < 50 ms: {'met' if p99 < 0.050 else 'NOT met'}"
        )
    print(
        f"naive: `rca alert ingest FILE` per alert, median {cli_median * 1000:.0f} ms "
        f"({CLI_ALERTS} alerts)"
    )


if __name__ == "__main__":
    main()
