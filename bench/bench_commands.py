"""Benchmark: the read-only commands a person types most (`rca --help`, `rca register list`,
`rca alert list`) against what any Python command costs, side by side in one run.

A demo workspace is made in a temp folder and one alert investigated (so both lists have
rows). Then, round after round (interleaved, so load on the machine hits all alike), each
command runs as a fresh process, next to two anchors: the bare interpreter (`python -c pass`,
the floor) and `python -c "import rca_kit.pipeline"` (a command that imports everything, the
naive way). Prints median wall times (and CPU times, to tell a busy machine from a slow
command), the ratio to the naive anchor, and the target (0.3 s) on wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rca_kit.scaffold import init_workspace

BIN = Path(sys.executable).parent
TARGET_S = 0.3
COMMANDS = (("--help",), ("register", "list"), ("alert", "list"))


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run; CPU time (user + system) hardly moves with the load
    other processes put on the machine, so it tells a busy machine from a slow command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="runs of each (default 15)")
    runs = parser.parse_args().runs
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCA_")}
    root = Path(tempfile.mkdtemp(prefix="rca-bench-"))
    try:
        workspace = init_workspace(root / "ws")
        alert = ["examples/alerts/consumer-lag.json"]
        subprocess.run(
            [str(BIN / "rca"), "investigate", *alert], cwd=workspace, env=env, check=True
        )
        anchors = {
            "python -c pass (bare interpreter)": [sys.executable, "-c", "pass"],
            'python -c "import rca_kit.pipeline" (naive)': [
                sys.executable,
                "-c",
                "import rca_kit.pipeline",
            ],
        }
        ours = {f"rca {' '.join(args)}": [str(BIN / "rca"), *args] for args in COMMANDS}
        for cmd in ours.values():  # each answers before it is timed
            subprocess.run(cmd, cwd=workspace, env=env, capture_output=True, check=True)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in (*anchors, *ours)}
        load = os.getloadavg()[0]
        for _ in range(runs):
            for name, cmd in (*anchors.items(), *ours.items()):
                times[name].append(timed(cmd, workspace, env))
        wall = {name: statistics.median(w for w, _ in values) for name, values in times.items()}
        cpu = {name: statistics.median(c for _, c in values) for name, values in times.items()}
        bare, naive = (wall[name] for name in anchors)
        for name in anchors:
            print(f"{name:<46} {wall[name]:6.3f} s  (CPU {cpu[name]:5.3f} s)")
        for name in ours:
            seconds = wall[name]
            verdict = "met" if seconds <= TARGET_S else "NOT MET"
            print(
                f"{name:<46} {seconds:6.3f} s  (CPU {cpu[name]:5.3f} s)  "
                f"{seconds / naive:4.2f}x naive, +{seconds - bare:5.3f} s over bare; "
                f"target {TARGET_S} s: {verdict}"
            )
        note = ", PYTHONDONTWRITEBYTECODE set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
        print(
            f"medians of {runs} runs each, interleaved; wall time is the measure "
            f"(load average {load:.1f} on {os.cpu_count()} CPUs at the start{note})"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
