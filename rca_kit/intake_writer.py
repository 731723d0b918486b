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
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[tuple[Sequence[Alert], Future[Stored]]]) -> None:
        try:
            results = self.register.receive_batch([alerts for alerts, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            log.warning("a batch of %d requests failed (%s); retrying one by one", len(batch), exc)
            for item in batch:
                self._write([item])
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
