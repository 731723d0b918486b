"""Benchmark: `rca investigate` on the demo vs one `papermill` CLI call per template in sequence.

Both sides execute the same templates with the same parameters against the same frozen
snapshot, side by side in one run; the naive side does nothing else (no intake, snapshot,
register or report), so the ratio understates what the pipeline saves. Prints medians and ratios.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rca_kit.scaffold import init_workspace

BIN = Path(sys.executable).parent
REPEATS = 3


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def naive(workspace: Path, result: dict, out: Path) -> float:  # type: ignore[type-arg]
    """Each template with the parameters the pipeline used, one papermill process after another."""
    start = time.perf_counter()
    for hypothesis in result["hypotheses"]:
        executed = json.loads(Path(hypothesis["notebook"]).read_text())
        params = executed["metadata"]["papermill"]["parameters"]
        template = workspace / "notebooks" / "templates" / f"{hypothesis['id']}.ipynb"
        cmd = [str(BIN / "papermill"), str(template), str(out / template.name), "--cwd", str(out)]
        for name, value in params.items():
            cmd += ["-y", json.dumps({name: value})]
        subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="rca-bench-"))
    try:
        workspace = init_workspace(root / "ws")
        ours, theirs = [], []
        notebooks = 0
        for _ in range(REPEATS):
            seconds, stdout = timed(
                [str(BIN / "rca"), "investigate", "examples/alerts/consumer-lag.json", "--json"],
                workspace,
            )
            ours.append(seconds)
            out = Path(tempfile.mkdtemp(dir=root))
            result = json.loads(stdout)
            notebooks = len(result["hypotheses"])
            theirs.append(naive(workspace, result, out))
        a, b = statistics.median(ours), statistics.median(theirs)
        ours_label = f"rca investigate ({notebooks} notebooks, 2 workers, whole pipeline)"
        print(f"{ours_label:<60} {a:6.2f} s")
        print(f"{f'papermill CLI x{notebooks} in sequence (notebooks only)':<60} {b:6.2f} s")
        print(f"speed-up: {b / a:.2f}x  (medians of {REPEATS} runs each, interleaved)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
