"""Group commit for the receiver: one thread stores the alerts of every request waiting at
that moment in one transaction, so a storm of notifications costs one commit (one fsync)
per batch instead of one per request, and no request waits behind a queue of lock sleeps.

Each request still gets its own answer only after the transaction holding its alerts has
committed (durable before acknowledged). If a batch fails, its requests are retried one
transaction each, so one bad request cannot fail the others, and a transient fault (the
database locked or down) reaches each sender as its own error.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from .models import Alert
from .register import Register
from .register.notices import Receipt
from .register.schema import transient

log = logging.getLogger("rca_kit.serve")
MAX_BATCH = 200  # alerts per transaction
Stored = list[tuple[Receipt, bool]]


class IntakeWriter:
    """`submit(alerts)` returns a future of [(receipt, queued)] per alert, in order."""

    def __init__(self, register: Register) -> None:
        self.register = register
        self._inbox: queue.Queue[tuple[Sequence[Alert], Future[Stored]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
        self._thread.start()

    def submit(self, alerts: Sequence[Alert]) -> Future[Stored]:
        future: Future[Stored] = Future()
        if not self._thread.is_alive():  # never leave a sender waiting on a dead writer
            future.set_exception(RuntimeError("the intake writer has stopped"))
            return future
        self._inbox.put((alerts, future))
        return future

    def close(self, timeout_s: float = 30) -> None:
        self._inbox.put(None)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            first = self._inbox.get()
            if first is None:
                return
            batch, size, stop = [first], len(first[0]), False
            while size < MAX_BATCH:
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                size += len(item[0])
            try:
                self._write(batch)
            except Exception:  # a bug must not silence the receiver: fail this batch only
                log.exception("intake writer: a batch failed unexpectedly")
                for _, future in batch:
                    _settle(future, RuntimeError("the intake writer failed"))
            if stop:
                return

    def _write(self, batch: list[tuple[Sequence[Alert], Future[Stored]]]) -> None:
        # a request whose sender gave up (its future cancelled) is not written either
        batch = [item for item in batch if item[1].set_running_or_notify_cancel()]
        if not batch:
            return
        try:
            results = self.register.receive_batch([alerts for alerts, _ in batch])
        except Exception as exc:
            if len(batch) == 1 or transient(exc):  # locked or down: every sender retries
                for _, future in batch:
                    _settle(future, exc)
                return
            log.warning("a batch of %d requests failed (%s); retrying one by one", len(batch), exc)
            for alerts, future in batch:
                try:
                    _settle(future, self.register.receive_batch([alerts])[0])
                except Exception as one:
                    _settle(future, one)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def _settle(future: Future[Stored], outcome: Stored | BaseException) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
