"""Warm kernels: a preloaded process that forks a fresh Jupyter kernel for each notebook.

The zygote (`python -m rca_kit.zygote`) imports what the hypothesis templates use (pandas,
numpy, plotly, duckdb, pyarrow, rca_kit, ipykernel) once, then serves one JSON request per
line on stdin: it forks, the child becomes an ordinary IPython kernel (`IPKernelApp`) on the
connection file it was given, and the zygote answers `{"pid": N}`. Each notebook therefore
starts in a copy of the same pristine process: nothing one notebook does (variables, pandas
options, plotly templates, numpy's random state, warnings filters, environment, cwd, sys.path,
open files, monkeypatches) can reach the next, and a kernel that failed is never reused; the
zygote itself runs no notebook code. The zygote starts no thread before it forks (BLAS is held
to one thread), and dies with the worker that started it; its kernels die with it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
import sys
import tempfile
import traceback
from typing import Any, NamedTuple

from .children import die_with_parent

# what the bundled templates import, loaded once before any alert arrives
PRELOAD = (
    "numpy",
    "pandas",
    "plotly.graph_objects",
    "plotly.io",
    "duckdb",
    "pyarrow.parquet",
    "rca_kit",
    "rca_kit.evidence.load",
    "rca_kit.outcome",
    "rca_kit.figures",
    "rca_kit.stats",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    # what a kernel's start-up imports (its debugger, IPython's inspector, tornado's queues)
    "ipykernel.debugger",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.oinspect",
    "tornado.gen",
    "tornado.locks",
    "tornado.queues",
)
_LAUNCHER = ["-m", "ipykernel_launcher"]
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def forkable(cmd: list[str]) -> bool:
    """Only the interpreter's own ipykernel can be forked from the zygote."""
    return len(cmd) >= 3 and cmd[0] == sys.executable and cmd[1:3] == _LAUNCHER


def _preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    with contextlib.suppress(Exception):  # a warm-up that fails only makes kernels slower
        _warm_up()


def _warm_up() -> None:
    """Walk the paths every template walks (read a snapshot, shape series, draw a figure,
    serialize it) on a throwaway snapshot, so what they load lazily is loaded once, here."""
    import tempfile
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    import pandas as pd
    import plotly.graph_objects as go

    import rca_kit
    from rca_kit.figures import display_bundle
    from rca_kit.testing import make_snapshot

    end = datetime(2000, 1, 1, tzinfo=UTC)
    times = pd.date_range(end - timedelta(hours=2), end, freq="1min")
    metrics = pd.DataFrame(
        {"timestamp": times, "service": "s", "metric": "queue_depth", "value": range(len(times))}
    )
    with tempfile.TemporaryDirectory(prefix="rca-kit-zygote-") as folder:
        path = make_snapshot(
            Path(folder) / "snapshot",
            window=(end - timedelta(hours=1), end),
            service="s",
            metrics=metrics,
        )
        evidence = rca_kit.load_evidence(path)
        series = evidence.series("s", "queue_depth").rolling(5, min_periods=1).median()
        evidence.gaps("metrics", "logs", "changes")
    figure = go.Figure()
    figure.add_scatter(x=series.index, y=series, name="a", line={"dash": "dot"})
    figure.add_bar(x=series.index[:3], y=series[:3])
    figure.add_vline(x=series.index[0], line_dash="dash", annotation_text="a")
    figure.add_vrect(x0=series.index[0], x1=series.index[1], opacity=0.1)
    figure.update_layout(xaxis={"type": "date"}, title="a", legend={"orientation": "h"})
    display_bundle(figure.to_plotly_json())
    figure.to_json()


def _detach() -> None:
    """In a forked child: its own process group (interrupts and kills reach it and its
    children, not the zygote), dead with the zygote, default signals, no stdin."""
    os.setsid()
    die_with_parent()
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    if sys.path and sys.path[0] == os.getcwd():  # the zygote's own `-m` entry
        del sys.path[0]


def _kernel_args(args: list[str], zygote: int) -> list[str]:
    return [
        *args,
        f"--IPKernelApp.parent_handle={zygote}",  # read from the environment only at import
        "--HistoryManager.enabled=False",  # no shared SQLite file for kernels to queue on
    ]


def _assign(request: dict[str, Any], zygote: int) -> None:
    """Make this process the kernel of `request`: its cwd, environment, fresh random state."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ["JPY_PARENT_PID"] = str(zygote)
    import numpy

    numpy.random.seed()  # a forked copy would otherwise share the zygote's stream


def _run_kernel(body: Any) -> None:
    """Run `body` (which starts a kernel) in a forked child, then leave. Never returns."""
    code = 1
    try:
        _detach()
        body()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _become_kernel(request: dict[str, Any], zygote: int, ready: int) -> None:
    """In the forked child: become the kernel the request describes (on the connection file it
    names); write to `ready` once its sockets are bound. Never returns."""

    def body() -> None:
        from ipykernel.kernelapp import IPKernelApp

        _assign(request, zygote)
        args = _kernel_args(request["args"], zygote)
        sys.argv = ["ipykernel_launcher", *args]
        app = IPKernelApp.instance()
        app.initialize(args)  # type: ignore[no-untyped-call]
        os.write(ready, b"1")
        os.close(ready)
        app.start()  # type: ignore[no-untyped-call]

    _run_kernel(body)


def _become_spare(args: list[str], folder: str, zygote: int, info: int, orders: int) -> None:
    """In the forked child: a kernel started ahead of its notebook, on ports of its own. It
    writes its connection info to `info`, then waits for its notebook's cwd and environment
    on `orders` (nothing: it is not needed, and leaves). Never returns."""

    def body() -> None:
        from ipykernel.kernelapp import IPKernelApp

        connection = os.path.join(folder, f"kernel-{os.getpid()}.json")
        full = _kernel_args([*args, "-f", connection, "--ip=127.0.0.1"], zygote)
        sys.argv = ["ipykernel_launcher", *full]
        app = IPKernelApp.instance()
        app.initialize(full)  # type: ignore[no-untyped-call]
        with open(connection, encoding="utf-8") as handle:
            os.write(info, handle.read().replace("\n", " ").encode() + b"\n")
        os.close(info)
        os.unlink(connection)
        with os.fdopen(orders, encoding="utf-8") as handle:
            order = handle.read()
        if not order:
            raise SystemExit(0)
        request = json.loads(order)
        _assign(request, zygote)
        if app.shell is not None:  # its directory history starts where its notebook runs
            app.shell.user_ns["_dh"] = [request["cwd"]]
        app.start()  # type: ignore[no-untyped-call]

    _run_kernel(body)


_reaped: set[int] = set()  # children that have exited (a spare among them is gone)


def _reap(signum: int, frame: Any) -> None:
    with contextlib.suppress(ChildProcessError):
        while pid := os.waitpid(-1, os.WNOHANG)[0]:
            _reaped.add(pid)


class _Spare(NamedTuple):
    pid: int
    args: list[str]  # the kernel arguments it was started with
    orders: int  # where its notebook's cwd and environment are written
    info: dict[str, Any]  # its connection info


def _fork_spare(args: list[str], folder: str, zygote: int, answers: Any) -> _Spare | None:
    info_r, info_w = os.pipe()
    orders_r, orders_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        answers.close()
        os.close(info_r)
        os.close(orders_w)
        _become_spare(args, folder, zygote, info_w, orders_r)
    os.close(info_w)
    os.close(orders_r)
    with os.fdopen(info_r, encoding="utf-8") as handle:
        line = handle.readline()  # "" if it died while starting
    if not line:
        os.close(orders_w)
        return None
    return _Spare(pid, args, orders_w, json.loads(line))


def _fork_kernel(request: dict[str, Any], zygote: int, answers: Any) -> int:
    ready, bound = os.pipe()
    pid = os.fork()
    if pid == 0:
        answers.close()
        os.close(ready)
        _become_kernel(request, zygote, bound)
    os.close(bound)
    with contextlib.suppress(OSError):
        os.read(ready, 1)  # bound, or b"" if it died first: the client will see that
    os.close(ready)
    return pid


def _hand_over(spare: _Spare, request: dict[str, Any]) -> bool:
    """Give the spare its notebook's cwd and environment; False if it died meanwhile."""
    try:
        with os.fdopen(spare.orders, "w", encoding="utf-8") as orders:
            orders.write(json.dumps({"cwd": request["cwd"], "env": request["env"]}))
    except OSError:  # BrokenPipeError: it is gone
        return False
    return True


def _own_args(args: list[str]) -> list[str]:
    """A kernel's arguments without the connection file it was given."""
    kept, skip = [], False
    for arg in args:
        if skip or arg == "-f":
            skip = not skip
            continue
        kept.append(arg)
    return kept


def main() -> None:
    for name in _THREAD_VARS:  # no BLAS thread pool in a process that forks
        os.environ.setdefault(name, "1")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # its import-time notice
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed while loading goes to the log, not the protocol
    try:
        _preload()
    except Exception as exc:  # the worker falls back to fresh kernels
        answers.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        return
    answers.write(json.dumps({"ready": os.getpid()}) + "\n")
    signal.signal(signal.SIGCHLD, _reap)
    zygote = os.getpid()
    folder = tempfile.mkdtemp(prefix="rca-kit-spares-")  # 0700: connection files hold keys
    spare: _Spare | None = None
    for line in sys.stdin:
        request = json.loads(line)
        args = _own_args(request["args"])
        if spare is not None and (spare.args != args or spare.pid in _reaped):
            os.close(spare.orders)  # not the kernel this notebook needs: it leaves
            spare = None
        if spare is not None and _hand_over(spare, request):  # started while the last ran
            answers.write(json.dumps({"pid": spare.pid, "connection": spare.info}) + "\n")
        else:
            answers.write(json.dumps({"pid": _fork_kernel(request, zygote, answers)}) + "\n")
        spare = _fork_spare(args, folder, zygote, answers)  # for the next notebook
    if spare is not None:
        os.close(spare.orders)
    shutil.rmtree(folder, ignore_errors=True)
    os._exit(0)  # nothing to tear down: its worker is done with it


if __name__ == "__main__":
    main()
