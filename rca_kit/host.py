"""A warm investigation host for `rca serve`: a long-lived process (`python -m rca_kit.host`)
that has imported the pipeline and keeps its notebook workers, and their warm-kernel zygote,
loaded between alerts. The receiver's queue workers hand it one alert id at a time (one JSON
line on stdin) and read one JSON line back: `{"investigation_id", "error", "code"}` with the
exit code `rca investigate` would have had (0 done, 2 the alert or workspace is unusable,
1 anything else).

A host still isolates investigations from the receiver: it is its own process (niced, killed
with the receiver), one that overruns its deadline is killed and replaced, and one that dies
is replaced for the next alert. It is replaced anyway after `RECYCLE_AFTER` investigations.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

RECYCLE_AFTER = 50
READY_TIMEOUT_S = 300


def serve(workspace_root: str) -> None:
    """The host's side: load everything, say ready, then investigate what arrives."""
    from .children import terminate_gracefully
    from .config import find_workspace
    from .exceptions import RcaKitError
    from .inert import one_line
    from .pipeline import investigate
    from .pool import start_runner

    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed goes to the log, not the protocol
    terminate_gracefully()  # SIGTERM records the running investigation as failed, with why
    workspace = find_workspace(workspace_root)
    run_jobs, stop = start_runner(workspace)
    try:
        answers.write(json.dumps({"ready": os.getpid()}) + "\n")
        for line in sys.stdin:
            alert_id = str(json.loads(line)["alert_id"])
            reply: dict[str, Any] = {"investigation_id": None, "error": None, "code": 0}
            try:
                result = investigate(workspace, alert_id, run_jobs=run_jobs)
                reply["investigation_id"] = result.investigation_id
                if result.status != "done":
                    reply.update(
                        error=f"investigation is {result.status}: {result.problem}", code=1
                    )
            except RcaKitError as exc:
                reply.update(error=one_line(str(exc), 500), code=exc.exit_code)
            except Exception as exc:  # the next alert still gets a host that works
                reply.update(error=one_line(f"{type(exc).__name__}: {exc}", 500), code=1)
            answers.write(json.dumps(reply) + "\n")
    finally:
        stop()


class Host:
    """The receiver's side: one host process, started ahead of the alerts it will take."""

    def __init__(self, workspace_root: Path, env: dict[str, str], preexec: Callable[[], None]):
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115  (closed in close())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rca_kit.host", str(workspace_root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
            start_new_session=True,  # its workers and kernels are signalled with it
            preexec_fn=preexec,
        )
        self.replies: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready: bool | None = None
        self.used = 0

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.replies.put(line)
        self.replies.put("")  # the host is gone

    def alive(self) -> bool:
        return self.process.poll() is None and self.ready is not False

    def investigate(self, alert_id: str, timeout_s: float) -> tuple[str, dict[str, Any]]:
        """("done", the host's reply), ("timeout", {}) after killing a host that overran
        `timeout_s`, or ("died", {}) for a host that is gone."""
        if self.ready is None:
            self.ready = self._next(READY_TIMEOUT_S) not in (None, "")
        if not self.ready or self.process.stdin is None:
            return "died", {}
        try:
            self.process.stdin.write(json.dumps({"alert_id": alert_id}) + "\n")
            self.process.stdin.flush()
        except OSError:
            return "died", {}
        self.used += 1
        line = self._next(timeout_s)
        if line is None:
            self.kill()
            return "timeout", {}
        return ("done", json.loads(line)) if line else ("died", {})

    def _next(self, timeout_s: float) -> str | None:
        try:
            return self.replies.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()
        return lines[-1][:500] if lines else f"exit code {self.process.poll()}"

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.process.wait()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.process.stdin:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
        self.log.close()


if __name__ == "__main__":
    from .lean import skip_unused_imports

    skip_unused_imports()
    serve(sys.argv[1])
