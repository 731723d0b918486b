"""Warm kernels: a preloaded process that forks a fresh Jupyter kernel for each notebook.

The zygote (`python -m rca_kit.zygote SOCKET`) imports what the hypothesis templates use
(pandas, numpy, plotly, duckdb, pyarrow, rca_kit, ipykernel) once, then serves the workers of
its pool on a Unix socket, one JSON request per line: it forks, the child becomes an ordinary
IPython kernel (`IPKernelApp`) on ports it binds itself (ports picked beforehand could be taken
by another process before the kernel binds them), and the zygote answers `{"pid": N,
"connection": {...}}`; each worker's next kernel is started ahead while its notebook runs. One
zygote serves every worker of a pool, so the imports are paid once. Each notebook starts in a
copy of the same pristine process: nothing one notebook does (variables, pandas options, plotly
templates, numpy's random state, warnings filters, environment, cwd, sys.path, open files,
monkeypatches) can reach the next, and a kernel that failed is never reused; the zygote itself
runs no notebook code. The zygote starts no thread before it forks (BLAS is held to one
thread), leaves when its owner closes its stdin, and dies with the thread that started it; its
kernels die with it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import traceback
from collections.abc import Callable
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


def _fork_spare(
    args: list[str], folder: str, zygote: int, inherited: Callable[[], list[int]]
) -> _Spare | None:
    others = inherited()  # before our pipes exist: only fds open now are closed in the child
    info_r, info_w = os.pipe()
    orders_r, orders_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _close(others)
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


def _close(inherited: list[int]) -> None:
    """In a forked child: close the zygote's sockets and the other kernels' order pipes (a
    spare reads its orders to the end: a copy of their write end held here would stall it)."""
    for fd in inherited:
        with contextlib.suppress(OSError):
            os.close(fd)


class _Worker:
    """One connected worker: its requests, answers, and the kernel started ahead for it."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.stream = conn.makefile("rw", encoding="utf-8", newline="\n")
        self.fd = conn.fileno()
        self.spare: _Spare | None = None

    def fileno(self) -> int:
        return self.fd

    def answer(self, message: dict[str, Any]) -> bool:
        try:
            self.stream.write(json.dumps(message) + "\n")
            self.stream.flush()
        except OSError:
            return False
        return True

    def drop_spare(self) -> None:
        if self.spare is not None:
            with contextlib.suppress(OSError):
                os.close(self.spare.orders)  # not needed: it leaves
            self.spare = None

    def close(self) -> None:
        self.drop_spare()
        with contextlib.suppress(OSError):
            self.stream.close()
        self.conn.close()


def _serve_request(
    worker: _Worker, line: str, folder: str, inherited: Callable[[], list[int]]
) -> bool:
    """Answer one kernel request of `worker`, then start its next kernel ahead."""
    request = json.loads(line)
    args = _own_args(request["args"])
    zygote = os.getpid()
    spare = worker.spare
    if spare is not None and (spare.args != args or spare.pid in _reaped):
        worker.drop_spare()
        spare = None
    worker.spare = None
    if spare is None or not _hand_over(spare, request):
        # none started ahead: start one now. It binds ports of its own, as a spare does:
        # ports chosen by the client beforehand may be taken by anyone before it binds them
        spare = _fork_spare(args, folder, zygote, inherited)
        if spare is not None and not _hand_over(spare, request):
            spare = None
    if spare is None:  # it died while starting: its worker starts a fresh kernel itself
        answered = worker.answer({"pid": None})
    else:
        answered = worker.answer({"pid": spare.pid, "connection": spare.info})
    if answered:
        worker.spare = _fork_spare(args, folder, zygote, inherited)  # for the next notebook
    return answered


def main() -> None:
    """Serve kernel forks on the Unix socket argv[1] until stdin closes (its owner is done)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sys.argv[1])
    listener.listen(64)  # workers may connect at once: they wait for "ready" below
    for name in _THREAD_VARS:  # no BLAS thread pool in a process that forks
        os.environ.setdefault(name, "1")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # its import-time notice
    try:
        _preload()
    except Exception as exc:  # its workers see the connection close and use fresh kernels
        print(f"rca-kit zygote: {type(exc).__name__}: {exc}", file=sys.stderr)
        os._exit(1)
    signal.signal(signal.SIGCHLD, _reap)
    folder = tempfile.mkdtemp(prefix="rca-kit-spares-")  # 0700: connection files hold keys
    workers: list[_Worker] = []

    def inherited() -> list[int]:
        return [listener.fileno(), *_fds(workers)]

    while True:
        readable, _, _ = select.select([sys.stdin, listener, *workers], [], [])
        if sys.stdin in readable and not sys.stdin.readline():
            break
        if listener in readable:
            worker = _Worker(listener.accept()[0])
            if worker.answer({"ready": os.getpid()}):
                workers.append(worker)
        for worker in [w for w in workers if w in readable]:
            try:
                line = worker.stream.readline()
            except OSError:  # its worker was killed mid-message
                line = ""
            if not line or not _serve_request(worker, line, folder, inherited):
                worker.close()  # its worker is done (or gone): so is its kernel ahead
                workers.remove(worker)
    for worker in workers:
        worker.close()
    shutil.rmtree(folder, ignore_errors=True)
    os._exit(0)  # nothing to tear down: its owner is done with it


def _fds(workers: list[_Worker]) -> list[int]:
    return [fd for w in workers for fd in (w.fd, *([w.spare.orders] if w.spare else []))]


if __name__ == "__main__":
    main()
