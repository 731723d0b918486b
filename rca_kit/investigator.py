"""Investigations from the queue: a few worker threads, each running one investigation at a
time in its own warm host process (rca_kit.host: the pipeline imported, notebook workers and
kernels loaded before the alert arrives), so a crash, a hang or a killed kernel of one
investigation never takes the receiver down with it.

The queue's state is in the register: a restart resumes pending work, an investigation whose
process died is retried once, one that timed out or whose alert is unusable is not.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from . import recovery
from .children import die_with_parent
from .config import Workspace
from .host import RECYCLE_AFTER, Host
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
        self._current: dict[str, Host] = {}  # each worker thread's host
        self._children: dict[str, Host] = {}  # the hosts running an investigation now
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
            child.signal(signal.SIGTERM)
        for thread in self._threads:
            thread.join(grace_s)

    def _loop(self, name: str) -> None:
        # warm before the first alert; started by this thread, it dies if the thread does
        self._current[name] = self._host()
        try:
            self._drain(name)
        finally:
            self._current.pop(name).close()

    def _host(self) -> Host:
        # the receiver's token is not the investigation's business (nor its kernels')
        env = {k: v for k, v in os.environ.items() if k != self.token_env}
        env["RCA_ACTOR"] = "rca-serve"
        return Host(self.workspace.root, env, _background)

    def _drain(self, name: str) -> None:
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
        host = self._current[name]
        if not host.alive() or host.used >= RECYCLE_AFTER:
            host.close()
            host = self._current[name] = self._host()
        with self._lock:
            self._children[name] = host
        try:
            # the id is generated by the register (al-…), never a label
            state, reply = host.investigate(entry.alert_id, self.timeout_s)
        finally:
            with self._lock:
                self._children.pop(name, None)
        if state == "timeout":
            return Attempt(None, f"timed out after {self.timeout_s} s", retry=False)
        if self._stop.is_set() and (state == "died" or reply.get("code")):
            return None
        if state == "died":
            return Attempt(None, f"the investigation process died: {host.tail()}", retry=True)
        if not reply.get("code"):
            return Attempt(reply.get("investigation_id"), None, retry=False)
        # code 2 is a problem with the alert or the workspace: running it again cannot help
        return Attempt(reply.get("investigation_id"), reply.get("error"), retry=reply["code"] != 2)

    def _latest(self, alert_id: str) -> str | None:
        found = self.register.investigations_of(alert_id)
        return str(found[-1]["id"]) if found else None


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
