"""Investigations from the queue: a few worker threads, each running one investigation at a
time in its own `rca investigate` process, so a crash, a hang or a killed kernel of one
investigation never takes the receiver down with it.

The queue's state is in the register: a restart resumes pending work, an investigation whose
process died is retried once, one that timed out or whose alert is unusable is not.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from . import recovery
from .children import die_with_parent
from .config import Workspace
from .register import Register
from .register import queue as work
from .register.schema import transient

log = logging.getLogger("rca_kit.serve")
POLL_S = 2.0  # how often an idle worker looks for work it was not woken for
RECOVER_EVERY_S = 60.0  # how often workers look for entries abandoned by a dead peer
HOST = socket.gethostname()
INCARNATION = secrets.token_hex(4)  # tells this process from an earlier one with its pid


@dataclass(frozen=True)
class Attempt:
    """How one `rca investigate` process ended."""

    investigation_id: str | None
    error: str | None
    retry: bool


class Investigator:
    """`count` worker threads draining the register's queue."""

    def __init__(
        self, workspace: Workspace, register: Register, *, count: int, timeout_s: int
    ) -> None:
        self.workspace = workspace
        self.register = register
        self.count = count
        self.timeout_s = timeout_s
        self.token_env = workspace.settings.serve.token_env
        self._recovered_at = time.monotonic()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._children: dict[str, subprocess.Popen[str]] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self._recover()
        for number in range(self.count):
            name = f"{HOST}:{os.getpid()}:{INCARNATION}:w{number + 1}"
            thread = threading.Thread(target=self._loop, args=(name,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _recover(self) -> None:
        """Take back the entries of workers that are gone (at start, then every minute)."""
        self._recovered_at = time.monotonic()
        try:
            recovered = work.recover(self.register, lease_s=self.timeout_s + 60, alive=_alive)
            recovery.mark_abandoned(self.register)  # their investigations, if nobody runs them
        except Exception as exc:  # the database is busy or down: try again later
            log.warning("queue: cannot check for abandoned investigations yet: %s", exc)
            return
        for state, alert_ids in recovered.items():
            for alert_id in alert_ids:
                log.warning(
                    "queue: alert %s was being investigated by a worker that is gone; %s",
                    alert_id,
                    "retrying" if state == "retried" else "failed",
                )

    def wake(self) -> None:
        self._wake.set()

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop taking work; interrupt running investigations and give them back to the queue."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            children = list(self._children.values())
        for child in children:
            _signal_group(child, signal.SIGTERM)
        for thread in self._threads:
            thread.join(grace_s)

    def _loop(self, name: str) -> None:
        while not self._stop.is_set():
            if time.monotonic() - self._recovered_at > RECOVER_EVERY_S:
                with self._lock:
                    due = time.monotonic() - self._recovered_at > RECOVER_EVERY_S
                    if due:
                        self._recovered_at = time.monotonic()
                if due:
                    self._recover()
            try:
                entry = work.claim(self.register, name)
            except Exception as exc:  # a database hiccup must not kill the worker
                log.warning("queue: cannot claim work: %s", exc)
                entry = None
            if entry is None:
                self._wake.wait(POLL_S)
                self._wake.clear()
                continue
            try:
                self._attempt(entry, name)
            except Exception:  # the entry stays running; recovery retries it once
                log.exception("queue: the investigation of alert %s went wrong", entry.alert_id)

    def _attempt(self, entry: work.Entry, name: str) -> None:
        log.info("investigating alert %s (attempt %d)", entry.alert_id, entry.attempts)
        result = self._run(entry, name)
        if result is None:  # stopped while running: the attempt does not count
            _patiently(work.release, self.register, entry)
            return
        if result.error:  # a process killed at its deadline left its investigation running
            recovery.mark_abandoned(self.register)
        state = _patiently(
            work.finish,
            self.register,
            entry,
            investigation_id=result.investigation_id or self._latest(entry.alert_id),
            error=result.error,
            retry=result.retry,
        )
        log.info("alert %s: investigation %s", entry.alert_id, state)

    def _run(self, entry: work.Entry, name: str) -> Attempt | None:
        command = [
            sys.executable,
            "-m",
            "rca_kit",
            "--workspace",
            str(self.workspace.root),
            "investigate",
            entry.alert_id,  # generated by the register (al-…), never a label
            "--json",
        ]
        # the receiver's token is not the investigation's business (nor its kernels')
        env = {k: v for k, v in os.environ.items() if k != self.token_env}
        env["RCA_ACTOR"] = "rca-serve"
        child = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,  # its notebook kernels die with it
            preexec_fn=_background,
        )
        with self._lock:
            self._children[name] = child
        try:
            out, err = child.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            _signal_group(child, signal.SIGKILL)
            child.communicate()
            return Attempt(None, f"timed out after {self.timeout_s} s", retry=False)
        finally:
            with self._lock:
                self._children.pop(name, None)
        if self._stop.is_set() and child.returncode != 0:
            return None
        if child.returncode == 0:
            return Attempt(_investigation_id(out), None, retry=False)
        reason = (err.strip().splitlines() or [f"exit code {child.returncode}"])[-1][:500]
        # exit 2 is a problem with the alert or the workspace: running it again cannot help
        return Attempt(None, reason, retry=child.returncode != 2)

    def _latest(self, alert_id: str) -> str | None:
        found = self.register.investigations_of(alert_id)
        return str(found[-1]["id"]) if found else None


def _investigation_id(stdout: str) -> str | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        found = data.get("investigation_id") if isinstance(data, dict) else None
        if isinstance(found, str):
            return found
    return None


def _alive(worker: str) -> bool:
    """Whether the worker named `host:pid:incarnation:wN` may still run: False only when it
    ran on this host and its process is gone, or is an earlier process with this one's pid (a
    restarted container's PID 1); a worker elsewhere is judged by its lease."""
    host, pid, incarnation, *_ = [*worker.split(":"), "", "", ""]
    if host != HOST:
        return True
    if not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return incarnation == INCARNATION
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


T = TypeVar("T")


def _patiently(step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A queue write that outlasts a busy database (three tries over ~15 s)."""
    for attempt in range(3):
        try:
            return step(*args, **kwargs)
        except Exception as exc:
            if attempt == 2 or not transient(exc):  # a refusal is not worth waiting for
                raise
            log.warning("queue: %s failed (%s); retrying", step.__name__, exc)
            time.sleep(5 * (attempt + 1))
    raise AssertionError("unreachable")


def _background() -> None:
    """In the child, before exec: investigations yield the CPU to the receiver (a sender waits
    on its acknowledgement, nobody waits on a notebook's next millisecond); and if the
    receiver is killed, so is its investigation (else an orphan would finish it while the
    restarted receiver retries it)."""
    os.nice(10)
    die_with_parent()


def _signal_group(child: subprocess.Popen[str], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)
