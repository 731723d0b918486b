"""A pool of persistent notebook workers (`python -m rca_kit.runner`), startable before its jobs.

`Pool(n)` starts n workers at once (with warm kernels, and one zygote that loads for them all);
`run(jobs)` executes jobs on them, in job order, replacing a worker that died or overran a
deadline; `close()` stops them. `runner.run_all` is a pool used for one batch of jobs.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

from .children import die_with_parent
from .models import RunResult
from .provenance import seal
from .runner import GRACE_S, KERNEL_MODES, START_TIMEOUT_S, Job

if TYPE_CHECKING:
    from .config import Workspace
    from .kernels import Zygote

Progress = Callable[[RunResult], None]


class _Worker:
    """One persistent worker process and its log."""

    def __init__(self, kernels: str, zygote: str | None = None) -> None:
        # closed in close(): the log lives as long as the worker
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.folder = tempfile.mkdtemp(prefix="rca-kernel-")  # removed in close(), even after kill
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rca_kit.runner", self.folder, kernels, *filter(None, [zygote])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
            preexec_fn=die_with_parent,  # an investigation killed takes its workers along
        )
        self.used = False

    def run(self, job: Job) -> RunResult:
        self.used = True
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(job.to_json() + "\n")
        self.process.stdin.flush()
        answer: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(
            target=lambda: answer.put(self.process.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        try:
            line = answer.get(timeout=job.timeout_s + START_TIMEOUT_S + GRACE_S)
        except queue.Empty:
            self.kill()
            with contextlib.suppress(OSError):  # what it wrote before it was killed
                seal(job.output, job.provenance, job.kernel_name)
            return RunResult(
                job.hypothesis_id,
                job.output,
                float(job.timeout_s),
                f"timed out: the notebook ran longer than {job.timeout_s}s (worker killed)",
            )
        if not line:
            with contextlib.suppress(OSError):
                seal(job.output, job.provenance, job.kernel_name)
            return RunResult(
                job.hypothesis_id, job.output, 0.0, f"the worker process died: {self.tail()}"
            )
        data = json.loads(line)
        return RunResult(
            data["hypothesis_id"], Path(data["notebook"]), data["duration_s"], data["error"]
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()
        return lines[-1][:300] if lines else f"exit code {self.process.poll()}"

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def finish(self) -> None:
        """No more jobs: the worker ends once its current one is answered."""
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()

    def close(self) -> None:
        if not self.used:  # still loading, holds nothing: no need to wait for it (bad input)
            self.kill()
        self.finish()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        if self.process.stdout:
            self.process.stdout.close()
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class Pool:
    """Workers started now, used by `run` (from one thread at a time), stopped by `close`."""

    def __init__(self, workers: int, *, kernels: str = "warm") -> None:
        if kernels not in KERNEL_MODES:
            raise ValueError(f"kernels must be one of {KERNEL_MODES}, got {kernels!r}")
        self.kernels = kernels
        self.idle: queue.Queue[_Worker] = queue.Queue()
        self.size = max(1, workers)
        # one zygote preloads for all the workers (each would otherwise load its own)
        self.zygote: Zygote | None = None
        if kernels == "warm":
            from .kernels import Zygote  # (jupyter_client: not before it is needed)

            self.zygote = Zygote()
        for _ in range(self.size):
            self.idle.put(self._worker())

    def _worker(self) -> _Worker:
        return _Worker(self.kernels, self.zygote.spec if self.zygote else None)

    def run(self, jobs: Sequence[Job], progress: Progress | None = None) -> list[RunResult]:
        pending: queue.Queue[int] = queue.Queue()
        for index in range(len(jobs)):
            pending.put(index)
        results: dict[int, RunResult] = {}
        lock = threading.Lock()

        def drain() -> None:
            worker = self.idle.get()
            try:
                while True:
                    try:
                        index = pending.get_nowait()
                    except queue.Empty:
                        return
                    if not worker.alive():
                        worker.close()
                        worker = self._worker()
                    result = worker.run(jobs[index])
                    with lock:
                        results[index] = result
                        if progress is not None:
                            progress(result)
            finally:
                self.idle.put(worker)

        threads = [
            threading.Thread(target=drain, daemon=True) for _ in range(min(self.size, len(jobs)))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return [results[i] for i in range(len(jobs))]

    def close(self) -> None:
        workers = []
        while not self.idle.empty():
            workers.append(self.idle.get_nowait())
        for worker in workers:  # all told first: they stop side by side
            worker.finish()
        for worker in workers:
            worker.close()
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None

    def __enter__(self) -> Pool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def start_runner(workspace: Workspace) -> tuple[Callable[..., list[RunResult]], Callable[[], None]]:
    """(run_jobs, stop) for a workspace's `[execution]`: a local Pool started now, or the
    Dask cluster's workers (`backend = "dask"`, reached now)."""
    execution = workspace.settings.execution
    if execution.backend == "dask":
        from .dask_backend import DaskRunner, close, connect

        client = connect(workspace)
        return DaskRunner(client), lambda: close(client)
    pool = Pool(execution.workers, kernels=execution.kernels)
    return pool.run, pool.close
