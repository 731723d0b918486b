"""Benchmark: `rca serve` with a warm host, webhook arrival -> report on disk, against the naive
way (one `papermill` CLI call per template in sequence), side by side in one run.

A real `rca serve` on loopback investigates one alert first (its host then has the pipeline
imported and its workers' kernels loaded, as a receiver that has been up for a while has).
Then, round after round, the demo alert arrives again as a new alert (another alert name,
so another fingerprint and no sharing; same window, same evidence): the time from the POST to
the finished investigation's report on disk is measured, next to the papermill loop over the
same templates and parameters. Prints medians, the ratio and the target (at most 0.06 x the
loop), and checks that the verdicts match.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bench_investigate import naive
from serveproc import ServeProcess

from rca_kit.scaffold import init_workspace

TARGET = 0.06


def payload(workspace: Path, round_number: int) -> str:
    body = json.loads((workspace / "examples" / "alerts" / "consumer-lag.json").read_text())
    for alert in body["alerts"]:  # another alert (copies of one would share an investigation)
        alert["labels"]["alertname"] = f"ConsumerLagHigh{round_number}"
        alert["fingerprint"] = f"{round_number:016x}"
    return json.dumps(body)


def arrival_to_report(server: ServeProcess, body: str) -> tuple[float, dict]:  # type: ignore[type-arg]
    start = time.perf_counter()
    alert_id = server.post(body).json()["alerts"][0]["id"]
    deadline = start + 600
    while time.perf_counter() < deadline:
        shown = server.get(f"/api/v1/alerts/{alert_id}").json()
        queue = shown["queue"][0] if shown["queue"] else {}
        if queue.get("state") in ("done", "failed", "merged"):
            found = server.get(f"/api/v1/investigations/{queue['investigation_id']}").json()
            if found.get("report") and Path(found["report"]).is_file():
                return time.perf_counter() - start, found
            raise SystemExit(f"the investigation ended {queue['state']}: {queue}")
        time.sleep(0.02)
    raise SystemExit("no report within 600 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    rounds = parser.parse_args().rounds
    root = Path(tempfile.mkdtemp(prefix="rca-bench-warm-"))
    try:
        workspace = init_workspace(root / "ws")
        served: list[float] = []
        loop: list[float] = []
        same = True
        with ServeProcess(workspace, investigations=1) as server:
            _, first = arrival_to_report(server, payload(workspace, 0))  # the host warms up
            for number in range(1, rounds + 1):
                seconds, found = arrival_to_report(server, payload(workspace, number))
                served.append(seconds)
                folder = workspace / "investigations" / found["id"]
                result = {
                    "hypotheses": [
                        {
                            "id": h["id"],
                            "notebook": str(next(folder.glob(f"[0-9]*-{h['id']}.ipynb"))),
                        }
                        for h in found["hypotheses"]
                    ]
                }
                seconds, verdicts = naive(workspace, result, Path(tempfile.mkdtemp(dir=root)))
                loop.append(seconds)
                same = same and verdicts == {h["id"]: h["verdict"] for h in found["hypotheses"]}
        warm, anchor = statistics.median(served), statistics.median(loop)
        count = len(first["hypotheses"])
        print(f"{'rca serve, warm host: webhook arrival -> report on disk':<72} {warm:6.2f} s")
        print(
            f"{f'papermill CLI x{count} in sequence (notebooks only; anchor)':<72} {anchor:6.2f} s"
        )
        ratio = warm / anchor
        print(
            f"target: <= {TARGET} x the loop: {ratio:.3f} x -> "
            f"{'met' if ratio <= TARGET else 'NOT met'}; verdicts identical: "
            f"{'yes' if same else 'NO'}  (medians of {rounds} interleaved rounds)"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
