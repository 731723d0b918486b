"""Run hypothesis notebooks with papermill: N in parallel, a deadline each, failures as data.

Notebooks run in persistent worker processes (`python -m rca_kit.runner`) that exchange one
JSON line per job over a dedicated pipe. Workers import papermill once (that import alone costs
seconds), need no `if __name__ == "__main__"` guard in the caller's script, and can be killed
and replaced when a notebook overruns its deadline. With "warm" kernels (the default) a pool's
workers share a zygote that forks every notebook a fresh kernel with its imports already loaded
(rca_kit.kernels); "fresh" starts a new interpreter per notebook. Either way the result is an
ordinary papermill notebook. A `Pool` can be started before its jobs are known, so workers and
the zygote load while the evidence is frozen.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .models import RunResult
from .provenance import seal

KERNEL_NAME = "python3"
KERNEL_MODES = ("warm", "fresh")
START_TIMEOUT_S = 60
GRACE_S = 30  # beyond a job's own deadline before the parent kills its worker
_PORT_RETRIES = 3
# a kernel that died or hung before its first reply (no cell ran) is started again once, as a
# new interpreter
_DIED_AT_START = ("before replying to kernel_info", "didn't respond in")


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
    kernels: str = "warm"  # or "fresh": a new interpreter per notebook ([execution] kernels)
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


TEMPLATE_VARIABLE = "RCA_KIT_TEMPLATE"


def _on_deadline(signum: int, frame: Any) -> None:
    raise NotebookDeadline


def execute(job: Job) -> RunResult:
    """Execute one notebook; never raises for notebook failures (they become `error`). The
    notebook is then sealed: its provenance written into it, read-only (provenance.seal)."""
    import papermill

    from . import notebook_engine as engine

    job.output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    error: str | None = None
    armed = threading.current_thread() is threading.main_thread()
    if armed:  # a deadline for the whole notebook, not only for each cell
        signal.signal(signal.SIGALRM, _on_deadline)
        signal.setitimer(signal.ITIMER_REAL, job.timeout_s)
        # its kernel's errors name the template (record_outcome reads it); one job at a time
        named = os.environ.get(TEMPLATE_VARIABLE)
        os.environ[TEMPLATE_VARIABLE] = job.template.name
    warm = job.kernels == "warm" and job.kernel_name == KERNEL_NAME
    options: dict[str, Any] = {}
    restarted = False
    try:
        for attempt in range(_PORT_RETRIES):
            if warm:
                from .kernels import warm_options

                options = warm_options()
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
                    engine_name=engine.NAME,  # saves at most every few seconds while it runs
                    cwd=str(job.cwd),
                    # the kernel's own start-up warnings would interleave with the CLI's output
                    extra_arguments=["--IPKernelApp.log_level=ERROR"],
                    **options,
                )
                error = None
                break
            except Exception as exc:  # every failure of a notebook is data, not a crash
                error = _describe(exc, job.timeout_s)
                message = str(exc)
                died = not restarted and any(text in message for text in _DIED_AT_START)
                # parallel kernel launches can collide on ports: retry those
                if attempt + 1 == _PORT_RETRIES or not (
                    died or "Address already in use" in message
                ):
                    break
                restarted = restarted or died
                warm, options = False, {}
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if named is None:  # the caller's environment as it was (execute may run in-process)
                os.environ.pop(TEMPLATE_VARIABLE, None)
            else:
                os.environ[TEMPLATE_VARIABLE] = named
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
    The kernelspec folder is the parent's (argv[1]): it removes it however the worker ends.
    With argv[2] "warm" the kernels come from the zygote argv[3] names (the pool's), else from
    one this worker starts at once, before the first job arrives."""
    from .lean import skip_unused_imports

    skip_unused_imports()
    if len(sys.argv) > 2 and sys.argv[2] == "warm":
        from .kernels import start_zygote

        start_zygote(shared=sys.argv[3] if len(sys.argv) > 3 else None)  # the pool's, if any
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
    import papermill  # noqa: F401  (loaded now, while the first job is still being prepared)

    for line in sys.stdin:
        result = execute(Job.from_json(line))
        results.write(json.dumps({**asdict(result), "notebook": str(result.notebook)}) + "\n")
    from .kernels import stop_zygote

    stop_zygote()
    results.close()
    os._exit(0)  # every result is written: skip tearing down papermill, zmq and pandas


def run_all(
    jobs: Sequence[Job],
    *,
    workers: int = 2,
    progress: Callable[[RunResult], None] | None = None,
    kernels: str = "warm",
) -> list[RunResult]:
    """Execute jobs on a pool of persistent workers; results come back in job order."""
    from .pool import Pool

    with Pool(min(workers, len(jobs)), kernels=kernels) as pool:
        return pool.run(jobs, progress)


if __name__ == "__main__":
    worker_main()
