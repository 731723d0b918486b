"""Benchmark: harvest 1,000 stored evidence notebooks, against reading them with nbformat, json
and orjson, side by side in one run.

The notebooks are the demo investigation's nine executed notebooks (made here by `rca
investigate` in a scaffolded workspace), each copied with its investigation id changed so that
every copy is distinct (its own sha256). `harvest` reads each file once (a regular file, at
most 64 MiB), hashes it, reads exactly one record, validates it and keeps the figure and
provenance (the figure is read when Outcome.figure is: not here); each anchor only reads and
parses the file. Every side keeps what it returns, as a caller would. Prints medians of
interleaved repeats (elapsed time, and this process's CPU time: the machine may be shared), the
ratios, the target and met / not met.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import orjson

from rca_kit.models import RunResult
from rca_kit.outcome import harvest
from rca_kit.scaffold import init_workspace

BIN = Path(sys.executable).parent
COPIES = 1000
REPEATS = 5
TARGET = 5000.0  # notebooks/s


def make_notebooks(root: Path) -> list[Path]:
    """COPIES distinct notebooks: the demo's nine, the investigation id changed in each copy."""
    workspace = init_workspace(root / "ws")
    done = subprocess.run(
        [str(BIN / "rca"), "investigate", "examples/alerts/consumer-lag.json", "--json"],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    investigation = result["investigation_id"].encode()
    sources = [Path(h["notebook"]).read_bytes() for h in result["hypotheses"]]
    out = root / "notebooks"
    out.mkdir()
    paths = []
    for number in range(COPIES):
        data = sources[number % len(sources)]
        other = investigation[:-6] + f"{number:06x}".encode()  # same length: same JSON
        path = out / f"{number:04d}.ipynb"
        path.write_bytes(data.replace(investigation, other))
        paths.append(path)
    return paths


def json_load(path: Path) -> Any:
    with path.open("rb") as handle:
        return json.load(handle)


def rate(read: Callable[[Path], Any], paths: list[Path]) -> tuple[float, float]:
    """Notebooks per second of elapsed time and of this process's CPU time."""
    start, cpu = time.perf_counter(), time.process_time()
    kept = [read(path) for path in paths]
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert len(kept) == len(paths)
    return len(paths) / elapsed, len(paths) / cpu


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="rca-bench-harvest-"))
    try:
        paths = make_notebooks(root)
        size = statistics.mean(p.stat().st_size for p in paths) / 1024
        runs = [RunResult(path.stem, path, 1.0) for path in paths]
        verdicts = {harvest(run).verdict for run in runs}
        assert "errored" not in verdicts, verdicts
        sides: dict[str, Callable[[Path], Any]] = {
            "harvest (read, sha256, one record, validate)": lambda p: harvest(
                RunResult(p.stem, p, 1.0)
            ),
            "orjson.loads per notebook": lambda p: orjson.loads(p.read_bytes()),
            "json.load per notebook": json_load,
            "nbformat.read per notebook": lambda p: nbformat.read(p, as_version=4),
        }
        rates: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        for repeat in range(REPEATS):
            for name, read in sides.items():
                if name.startswith("nbformat") and repeat >= 2:
                    continue  # ~100x slower: two runs are enough
                rates[name].append(rate(read, paths))
        medians = {name: statistics.median(r[0] for r in found) for name, found in rates.items()}
        cpu = {name: statistics.median(r[1] for r in found) for name, found in rates.items()}
        ours = medians[next(iter(sides))]
        print(f"{COPIES} distinct evidence notebooks, {size:.0f} KiB each on average")
        for name, found in medians.items():
            print(f"{name:<48} {found:9.0f} notebooks/s ({cpu[name]:.0f}/s of CPU time)")
        for name, found in list(medians.items())[1:]:
            print(f"harvest vs {name:<37} {ours / found:6.2f}x")
        met = "met" if ours >= TARGET else "not met"
        print(
            f"target: harvest >= {TARGET:.0f} notebooks/s: {met} ({ours:.0f}/s, medians of "
            f"{REPEATS} interleaved runs; {cpu[next(iter(sides))]:.0f}/s of CPU time)"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
