"""Run hypothesis notebooks with papermill: N in parallel, a deadline each, failures as data.

Notebooks run in persistent worker processes (`python -m rca_kit.runner`) that exchange one
JSON line per job over a dedicated pipe. Workers import papermill once (that import alone costs
seconds), need no `if __name__ == "__main__"` guard in the caller's script, and can be killed
and replaced when a notebook overruns its deadline.
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
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from .children import die_with_parent
from .models import RunResult
from .provenance import seal

KERNEL_NAME = "python3"
START_TIMEOUT_S = 60
GRACE_S = 30  # beyond a job's own deadline before the parent kills its worker
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
    # written into the executed notebook's metadata.rca_kit (rca_kit.provenance)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                **asdict(self),
                "template": str(self.template),
                "output": str(self.output),
                "cwd": str(self.cwd),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        return cls(
            **{
                **data,
                "template": Path(data["template"]),
                "output": Path(data["output"]),
                "cwd": Path(data["cwd"]),
            }
        )


class NotebookDeadline(Exception):
    """The whole notebook ran past its deadline."""


def _escape_braces(path: Path) -> str:
    # papermill str.format()s input and output paths with the parameters; ours are literal
    return str(path).replace("{", "{{").replace("}", "}}")


def _describe(exc: BaseException, timeout_s: int) -> str:
    name = type(exc).__name__
    if name == "PapermillExecutionError":
        evalue = str(getattr(exc, "evalue", "")).strip().splitlines()
        first = evalue[0][:300] if evalue else ""
        return (
            f"cell {getattr(exc, 'exec_count', '?')} raised {getattr(exc, 'ename', name)}: {first}"
        )
    if name in ("CellTimeoutError", "NotebookDeadline"):
        return f"timed out: the notebook ran longer than {timeout_s}s"
    if name == "DeadKernelError":
        return "kernel died during execution"
    return f"{name}: {str(exc).strip()[:300]}"


def _on_deadline(signum: int, frame: Any) -> None:
    raise NotebookDeadline


def execute(job: Job) -> RunResult:
    """Execute one notebook; never raises for notebook failures (they become `error`). The
    notebook is then sealed: its provenance written into it, read-only (provenance.seal)."""
    import papermill

    job.output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    error: str | None = None
    armed = threading.current_thread() is threading.main_thread()
    if armed:  # a deadline for the whole notebook, not only for each cell
        signal.signal(signal.SIGALRM, _on_deadline)
        signal.setitimer(signal.ITIMER_REAL, job.timeout_s)
    try:
        for attempt in range(_PORT_RETRIES):
            try:
                papermill.execute_notebook(
                    _escape_braces(job.template),  # metadata.papermill.input_path: the template
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
                # parallel kernel launches can collide on ports: retry those
                if "Address already in use" not in str(exc) or attempt + 1 == _PORT_RETRIES:
                    break
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
    if error is not None and not job.output.exists():
        shutil.copyfile(job.template, job.output)  # keep something to open and rerun
    try:
        seal(job.output, job.provenance, job.kernel_name)
    except OSError as exc:  # a full or read-only disk: the machine failed the run, not the test
        error = error or f"the notebook could not be sealed: {exc}"
    return RunResult(job.hypothesis_id, job.output, round(time.monotonic() - started, 3), error)


def pin_kernel(folder: Path) -> None:
    """Make `python3` kernels run this interpreter (the one that has rca_kit), whatever other
    `python3` kernelspecs the user or the system has installed: JUPYTER_PATH comes first."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Python 3 (rca-kit)", "language": "python"})
    )
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(folder), os.environ.get("JUPYTER_PATH", "")) if p
    )


def worker_main() -> None:
    """Serve jobs: one JSON job per line on stdin, one JSON result per line on the result pipe.
    The kernelspec folder is the parent's (argv[1]): it removes it however the worker ends."""
    if len(sys.argv) > 1:
        pin_kernel(Path(sys.argv[1]))
        _serve()
        return
    with tempfile.TemporaryDirectory(prefix="rca-kernel-") as folder:
        pin_kernel(Path(folder))
        _serve()


def _serve() -> None:
    results = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed (kernels inherit fd 1) goes to the log, not the protocol
    for line in sys.stdin:
        result = execute(Job.from_json(line))
        results.write(json.dumps({**asdict(result), "notebook": str(result.notebook)}) + "\n")


class _Worker:
    """One persistent worker process and its log."""

    def __init__(self) -> None:
        # closed in close(): the log lives as long as the worker
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.folder = tempfile.mkdtemp(prefix="rca-kernel-")  # removed in close(), even after kill
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rca_kit.runner", self.folder],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
            preexec_fn=die_with_parent,  # an investigation killed takes its workers along
        )

    def run(self, job: Job) -> RunResult:
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

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        if self.process.stdout:
            self.process.stdout.close()
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


Progress = Callable[[RunResult], None]


def run_all(
    jobs: Sequence[Job], *, workers: int = 2, progress: Progress | None = None
) -> list[RunResult]:
    """Execute jobs on a pool of persistent workers; results come back in job order."""
    pending: queue.Queue[int] = queue.Queue()
    for index in range(len(jobs)):
        pending.put(index)
    results: dict[int, RunResult] = {}
    lock = threading.Lock()

    def drain() -> None:
        worker = _Worker()
        try:
            while True:
                try:
                    index = pending.get_nowait()
                except queue.Empty:
                    return
                if not worker.alive():
                    worker.close()
                    worker = _Worker()
                result = worker.run(jobs[index])
                with lock:
                    results[index] = result
                    if progress is not None:
                        progress(result)
        finally:
            worker.close()

    threads = [threading.Thread(target=drain, daemon=True) for _ in range(min(workers, len(jobs)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[i] for i in range(len(jobs))]


if __name__ == "__main__":
    worker_main()
