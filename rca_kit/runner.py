"""Run hypothesis notebooks with papermill: N in parallel, a timeout each, failures as data."""

from __future__ import annotations

import multiprocessing
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .models import RunResult

KERNEL_NAME = "python3"
START_TIMEOUT_S = 60
_PORT_RETRIES = 3


@dataclass(frozen=True)
class Job:
    """One notebook to execute: template, destination, parameters, limits."""

    hypothesis_id: str
    template: Path
    output: Path
    parameters: dict[str, Any]
    timeout_s: int
    cwd: Path
    kernel_name: str = KERNEL_NAME


def _escape_braces(path: Path) -> str:
    # papermill str.format()s output paths with the parameters; ours are literal
    return str(path).replace("{", "{{").replace("}", "}}")


def _describe(exc: BaseException, timeout_s: int) -> str:
    name = type(exc).__name__
    if name == "PapermillExecutionError":
        evalue = str(getattr(exc, "evalue", "")).strip().splitlines()
        first = evalue[0][:300] if evalue else ""
        return f"cell {getattr(exc, 'exec_count', '?')} raised {getattr(exc, 'ename', name)}: {first}"
    if name == "CellTimeoutError":
        return f"timed out: a cell ran longer than {timeout_s}s"
    if name == "DeadKernelError":
        return "kernel died during execution"
    return f"{name}: {str(exc).strip()[:300]}"


def _port_collision(exc: BaseException) -> bool:
    return "Address already in use" in str(exc)


def execute(job: Job) -> RunResult:
    """Execute one notebook; never raises for notebook failures (they become `error`)."""
    import papermill
    from papermill.iorw import load_notebook_node

    job.output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    error: str | None = None
    for attempt in range(_PORT_RETRIES):
        try:
            papermill.execute_notebook(
                load_notebook_node(str(job.template)),
                _escape_braces(job.output),
                parameters=job.parameters,
                kernel_name=job.kernel_name,
                execution_timeout=job.timeout_s,
                start_timeout=START_TIMEOUT_S,
                progress_bar=False,
                log_output=False,
                request_save_on_cell_execute=True,
                cwd=str(job.cwd),
                # the kernel's own start-up warnings would interleave with the CLI's output
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
            error = None
            break
        except Exception as exc:  # every failure of a notebook is data, not a crash
            error = _describe(exc, job.timeout_s)
            if not (_port_collision(exc) and attempt + 1 < _PORT_RETRIES):
                break
    if error is not None and not job.output.exists():
        shutil.copyfile(job.template, job.output)  # keep something to open and rerun
    return RunResult(
        hypothesis_id=job.hypothesis_id,
        notebook=job.output,
        duration_s=round(time.monotonic() - started, 3),
        error=error,
    )


Progress = Callable[[RunResult], None]


def run_all(jobs: Sequence[Job], *, workers: int = 2, progress: Progress | None = None) -> list[RunResult]:
    """Execute jobs in a local process pool; results come back in job order."""
    if not jobs:
        return []
    results: dict[int, RunResult] = {}
    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        futures: dict[Future[RunResult], int] = {
            pool.submit(execute, job): index for index, job in enumerate(jobs)
        }
        for future in as_completed(futures):
            index = futures[future]
            try:
                result = future.result()
            except BrokenProcessPool:
                result = RunResult(jobs[index].hypothesis_id, jobs[index].output, 0.0,
                                   error="the worker process running this notebook died")
            results[index] = result
            if progress is not None:
                progress(result)
    return [results[i] for i in range(len(jobs))]
