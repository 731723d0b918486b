"""Benchmark: rendering the reports, and how large they are.

A register of 100 recorded investigations (no notebooks run) and one review with 10 plots (ten
evidence notebooks of about 1,200 points each). Prints the median render time of the review
(re-rendered, and first with its ten evidence pages exported), the index and the register of
100 investigations, and the sizes of the pages beside what the review weighs with plotly.js
embedded (`--standalone`, the one-file form every review had before the shared copy).
Targets: the review < 0.3 s, the index and the register < 1 s each.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rca_kit.config import find_workspace
from rca_kit.models import Outcome
from rca_kit.outcome import MIMETYPE, SCHEMA
from rca_kit.register import Register
from rca_kit.report import render_index, render_investigation, render_register
from rca_kit.scaffold import init_workspace
from rca_kit.testing import record_investigation

REPEATS = 5
INVESTIGATIONS = 100
PLOTS = 10
POINTS = 400  # per trace, three traces a figure
CAUSES = ("backpressure", "disk-pressure", "memory-leak", "recent-change", "error-log-spike")
SERVICES = ("orders-consumer", "ledger", "search", "billing", "checkout")


def median_s(render: Callable[[], Path], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        render()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def figure(index: int) -> dict[str, Any]:
    """A figure like the templates draw: three series over the window, a shaded run."""
    start = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    xs = [(start + timedelta(minutes=m)).isoformat() for m in range(POINTS)]
    return {
        "data": [
            {
                "type": "scatter",
                "name": name,
                "x": xs,
                "y": [round(1000 + 300 * math.sin(m / (17 + k + index)), 3) for m in range(POINTS)],
            }
            for k, name in enumerate(("ingest_rate", "processing_rate", "consumer_lag_seconds"))
        ],
        "layout": {
            "title": {"text": f"Evidence {index} on orders-consumer"},
            "xaxis": {"type": "date"},
            "shapes": [{"type": "rect", "x0": xs[200], "x1": xs[260], "y0": 0, "y1": 1}],
        },
    }


def notebook(path: Path, hypothesis_id: str, index: int) -> Path:
    """An executed evidence notebook holding one outcome record with its figure."""
    record = {
        "schema": SCHEMA,
        "verdict": "refuted",
        "confidence": 0.8,
        "summary": f"{hypothesis_id}: nothing moved",
        "criterion": "a shift of 5 robust units",
        "observed": {"shift": 1.2},
        "missing_data": [],
        "figure": figure(index),
    }
    cell = {
        "cell_type": "code",
        "execution_count": 1,
        "id": "outcome",
        "metadata": {},
        "source": "record_outcome(...)",
        "outputs": [{"output_type": "display_data", "metadata": {}, "data": {MIMETYPE: record}}],
    }
    document = {
        "cells": [cell],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="rca-bench-reports-"))
    try:
        workspace = find_workspace(init_workspace(root / "ws"))
        reports = workspace.reports_dir
        register = Register(workspace.database_url, workspace.settings)
        now = datetime.now(UTC)
        for n in range(INVESTIGATIONS):
            record_investigation(
                register,
                name=f"Alert{n % 7}",
                service=SERVICES[n % len(SERVICES)],
                hypothesis_id=CAUSES[n % len(CAUSES)],
                starts_at=now - timedelta(hours=7 * n + 1),
                folder=workspace.investigations_dir,
                tasks=((f"Fix {n} on {{service}}", 1 + n % 5, 1 + n % 3, 1 + n % 4),),
            )
        _, investigation, _ = record_investigation(
            register, starts_at=now - timedelta(hours=2), folder=workspace.investigations_dir
        )
        folder = workspace.investigations_dir / investigation
        folder.mkdir(parents=True, exist_ok=True)
        ids = [f"hypothesis-{k:02d}" for k in range(PLOTS)]
        register.record_outcomes(
            investigation,
            [
                Outcome(
                    h,
                    "refuted",
                    0.8,
                    f"{h}: nothing moved",
                    "c",
                    notebook=notebook(folder / f"{k + 1:02d}-{h}.ipynb", h, k),
                )
                for k, h in enumerate(ids)
            ],
            dict.fromkeys(ids, 1),
        )

        def review() -> Path:
            return render_investigation(register, investigation, reports, {})

        start = time.perf_counter()
        page = review()  # exports the ten evidence pages and writes the shared plotly.js
        first = time.perf_counter() - start
        plots = page.read_text(encoding="utf-8").count('data-target="')
        again = median_s(review)
        index = median_s(lambda: render_index(register, reports))
        backlog = median_s(lambda: render_register(register, reports))
        alone = render_investigation(register, investigation, reports, {}, standalone=True)
        register.close()

        size = page.stat().st_size
        print(f"review, {plots} plots ({PLOTS} evidence + timeline):")
        print(f"  first render, {PLOTS} evidence pages exported: {first:.3f} s")
        print(f"  re-render (median of {REPEATS}):               {again:.3f} s  (target < 0.3 s)")
        print(
            f"index of {INVESTIGATIONS + 1} investigations (median): {index:.3f} s  (target < 1 s)"
        )
        print(f"register, {INVESTIGATIONS + 1} tasks (median):  {backlog:.3f} s  (target < 1 s)")
        print("sizes (bytes):")
        print(f"  review:                {size:>10,}")
        print(f"  review, standalone:    {alone.stat().st_size:>10,}  (plotly.js inside)")
        print(f"  ratio:                 {alone.stat().st_size / size:>10.1f}x smaller")
        print(f"  index:                 {(reports / 'index.html').stat().st_size:>10,}")
        print(f"  register:              {(reports / 'register.html').stat().st_size:>10,}")
        shared = sum(p.stat().st_size for p in (reports / "assets").iterdir())
        print(f"  assets/ (shared once): {shared:>10,}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
