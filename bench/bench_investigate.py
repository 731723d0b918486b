"""Benchmark: `rca investigate` on the demo vs one `papermill` CLI call per template in sequence.

Three things run side by side in one run, interleaved round after round (so load on the
machine hits all alike): the whole pipeline with warm kernels (the default), the whole
pipeline with `[execution] kernels = "fresh"`, and the naive way: the same templates with the
same parameters against the same frozen snapshot, one `papermill` process after another (it
does nothing else: no intake, snapshot, register or report, so the ratio understates what the
pipeline saves). Each `rca investigate` is a cold start: a new process, nothing preloaded.
Prints medians, ratios and the target (warm: at most 0.15 x the loop), and checks that the
three give the same verdict for every hypothesis.
"""

from __future__ import annotations

import argparse
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
OUTCOME = "application/vnd.rca-kit.outcome.v1+json"
TARGET = 0.15


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def verdict_of(notebook: Path) -> str:
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            if OUTCOME in output.get("data", {}):
                return str(output["data"][OUTCOME]["verdict"])
    return "errored"


def naive(workspace: Path, result: dict, out: Path) -> tuple[float, dict[str, str]]:  # type: ignore[type-arg]
    """Each template with the parameters the pipeline used, one papermill process after another."""
    start = time.perf_counter()
    verdicts = {}
    for hypothesis in result["hypotheses"]:
        executed = json.loads(Path(hypothesis["notebook"]).read_text())
        params = executed["metadata"]["papermill"]["parameters"]
        template = workspace / "notebooks" / "templates" / f"{hypothesis['id']}.ipynb"
        cmd = [str(BIN / "papermill"), str(template), str(out / template.name), "--cwd", str(out)]
        for name, value in params.items():
            cmd += ["-y", json.dumps({name: value})]
        subprocess.run(cmd, capture_output=True, text=True, check=True)
        verdicts[hypothesis["id"]] = verdict_of(out / template.name)
    return time.perf_counter() - start, verdicts


def investigate(workspace: Path) -> tuple[float, dict]:  # type: ignore[type-arg]
    seconds, stdout = timed(
        [str(BIN / "rca"), "investigate", "examples/alerts/consumer-lag.json", "--json"],
        workspace,
    )
    return seconds, json.loads(stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    rounds = parser.parse_args().rounds
    root = Path(tempfile.mkdtemp(prefix="rca-bench-"))
    try:
        warm_ws = init_workspace(root / "warm")
        fresh_ws = init_workspace(root / "fresh")
        config = fresh_ws / "rca.toml"
        text = config.read_text()
        config.write_text(text.replace("[execution]\n", '[execution]\nkernels = "fresh"\n', 1))
        times: dict[str, list[float]] = {"warm": [], "fresh": [], "loop": []}
        verdicts: dict[str, dict[str, str]] = {}
        notebooks = 0
        for _ in range(rounds):
            for mode, workspace in (("warm", warm_ws), ("fresh", fresh_ws)):
                seconds, result = investigate(workspace)
                times[mode].append(seconds)
                verdicts[mode] = {h["id"]: h["verdict"] for h in result["hypotheses"]}
                notebooks = len(result["hypotheses"])
            seconds, verdicts["loop"] = naive(warm_ws, result, Path(tempfile.mkdtemp(dir=root)))
            times["loop"].append(seconds)
        loop = statistics.median(times["loop"])
        rows = (
            ("warm", f"rca investigate, warm kernels ({notebooks} notebooks, whole pipeline)"),
            ("fresh", "rca investigate, kernels = fresh (whole pipeline)"),
            ("loop", f"papermill CLI x{notebooks} in sequence (notebooks only; anchor)"),
        )
        for mode, label in rows:
            median = statistics.median(times[mode])
            print(f"{label:<72} {median:6.2f} s  {median / loop:5.3f} x loop")
        ratio = statistics.median(times["warm"]) / loop
        same = verdicts["warm"] == verdicts["fresh"] == verdicts["loop"]
        print(
            f"target: warm cold start <= {TARGET} x the loop: {ratio:.3f} x -> "
            f"{'met' if ratio <= TARGET else 'NOT met'}; verdicts identical in all three: "
            f"{'yes' if same else 'NO'}  (medians of {rounds} interleaved rounds)"
        )
        if not same:
            print(json.dumps(verdicts, indent=1))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
