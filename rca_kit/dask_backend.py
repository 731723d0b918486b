"""`[execution] backend = "dask"`: notebooks run on an existing Dask distributed cluster.

Each notebook is one task that calls `runner.execute(job)` on a worker; the investigation
folder is a path every worker shares. Tasks may run twice (Dask recomputes the tasks of a
worker that died, and a task whose client went away still runs to its end), so a task is
idempotent: it executes into a temporary name beside the notebook, then publishes it under
the notebook's own name only if no sealed (read-only) notebook is there already; a sealed
one is a whole, earlier execution of the same job and is kept. The register, not Dask, knows
what is pending: an investigation whose orchestrator died is resumed (`rca investigate
--resume`, or `--batch` again), which submits its notebooks anew.

This module is imported only with that backend: the local one never loads dask.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from .config import Workspace
from .exceptions import ConfigError, RcaKitError
from .fsutil import READ_ONLY, atomic_write
from .models import RunResult
from .runner import Job, execute, pin_kernel

CONNECT_S = 10  # to reach the scheduler
WORKERS_S = 30  # for the cluster to have a worker
_pinned = threading.Lock()
_kernel_folder: list[Path] = []


def address(workspace: Workspace) -> dict[str, str]:
    """The Client argument `[execution]` names: scheduler address or scheduler file."""
    execution = workspace.settings.execution
    if bool(execution.scheduler) == bool(execution.scheduler_file):
        raise ConfigError(
            '[execution] backend = "dask" needs one of scheduler (tcp://host:port) or '
            "scheduler_file",
            where=str(workspace.root / "rca.toml"),
        )
    if execution.scheduler:
        return {"address": execution.scheduler}
    path = Path(str(execution.scheduler_file)).expanduser()
    return {"scheduler_file": str(path if path.is_absolute() else workspace.root / path)}


def connect(workspace: Workspace) -> Any:
    """A Client of the workspace's cluster, which has at least one worker; else one line."""
    from distributed import Client

    where = address(workspace)
    named = where.get("address") or where["scheduler_file"]
    try:
        if "scheduler_file" in where and not Path(where["scheduler_file"]).is_file():
            raise FileNotFoundError(f"no scheduler file {where['scheduler_file']}")
        client = Client(**where, timeout=CONNECT_S, set_as_default=False)  # type: ignore[no-untyped-call]
    except Exception as exc:  # OSError, TimeoutError, a malformed address or file
        raise RcaKitError(
            f"cannot reach the Dask scheduler at {named}: {_first_line(exc)}",
            hint="start it, or fix [execution] scheduler / scheduler_file",
        ) from None
    try:
        client.wait_for_workers(1, timeout=WORKERS_S)
    except Exception:
        close(client)
        raise RcaKitError(
            f"the Dask cluster at {named} has no worker (waited {WORKERS_S} s)",
            hint="start `dask worker` processes on it",
        ) from None
    return client


def threads(client: Any) -> int:
    """Notebooks the cluster runs at once (its workers' threads)."""
    workers = client.scheduler_info().get("workers", {})
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


class DaskRunner:
    """Runs an investigation's notebooks as tasks on the cluster (pipeline.RunJobs)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __call__(
        self, jobs: list[Job], progress: Callable[[RunResult], None] | None
    ) -> list[RunResult]:
        from distributed import as_completed

        token = secrets.token_hex(4)
        futures = {
            self.client.submit(
                run_job,
                job.to_json(),
                key=f"rca-{job.output.parent.name}-{job.hypothesis_id}-{token}",
                pure=False,
            ): index
            for index, job in enumerate(jobs)
        }
        results: dict[int, RunResult] = {}
        try:
            for future in as_completed(futures, loop=self.client.loop):  # type: ignore[no-untyped-call]
                index = futures[future]
                results[index] = self._result(jobs[index], future)
                if progress is not None:
                    progress(results[index])
        finally:
            self.client.cancel(list(futures))  # on the way out: none of them runs for nothing
            for job in jobs:  # what a worker killed mid-task left
                for left in job.output.parent.glob(f".{job.output.stem}.*.running.ipynb"):
                    left.unlink(missing_ok=True)
        return [results[i] for i in range(len(jobs))]

    run = __call__  # as a local Pool's

    def _result(self, job: Job, future: Any) -> RunResult:
        from distributed import KilledWorker

        try:
            data = future.result()
        except KilledWorker:  # Dask gave up after the workers running it died, one by one
            return RunResult(job.hypothesis_id, job.output, 0.0, "the Dask workers running it died")
        except Exception as exc:
            if future.status != "error":  # cancelled or lost: the cluster, not the task
                raise RcaKitError(f"lost the Dask cluster: {_first_line(exc)}") from None
            return RunResult(
                job.hypothesis_id, job.output, 0.0, f"the Dask task failed: {_first_line(exc)}"
            )
        return RunResult(
            data["hypothesis_id"], Path(data["notebook"]), data["duration_s"], data["error"]
        )


def run_job(text: str) -> dict[str, Any]:
    """The task a Dask worker runs: execute one notebook, publish it (see the module doc)."""
    job = Job.from_json(text)
    _pin_kernel()
    final = job.output
    temp = final.with_name(f".{final.stem}.{secrets.token_hex(4)}.running.ipynb")
    try:
        result = execute(replace(job, output=temp))
        _name_output(temp, final)
        publish(temp, final)
    finally:
        temp.unlink(missing_ok=True)
    return {**asdict(result), "notebook": str(final)}


def publish(temp: Path, final: Path) -> None:
    """Give the executed notebook its name, unless a sealed one has it already (an earlier
    execution of the same job that finished first: kept, never replaced)."""
    try:
        os.link(temp, final)  # atomic, and only if nothing has the name
        return
    except FileExistsError:
        pass
    if not final.stat().st_mode & 0o222:  # sealed: whole and read-only
        return
    os.replace(temp, final)  # something unsealed (a partial write of a killed run)


def _name_output(temp: Path, final: Path) -> None:
    """The executed notebook names the path it is published at (metadata.papermill), not
    its temporary one; rewritten as sealed notebooks are (provenance.seal)."""
    with contextlib.suppress(OSError, ValueError):  # not a notebook: published as it is
        document = json.loads(temp.read_bytes())
        papermill = document.get("metadata", {}).get("papermill")
        if isinstance(papermill, dict) and papermill.get("output_path") == str(temp):
            papermill["output_path"] = str(final)
            text = json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False)
            atomic_write(temp, text + "\n", mode=READ_ONLY)


def _pin_kernel() -> None:
    """Once per worker process: `python3` kernels run the worker's own interpreter."""
    with _pinned:
        if not _kernel_folder:
            import tempfile

            folder = Path(tempfile.mkdtemp(prefix="rca-kernel-"))
            pin_kernel(folder)
            _kernel_folder.append(folder)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def close(client: Any) -> None:
    with contextlib.suppress(Exception):  # the scheduler may be gone already
        client.close(timeout=5)
