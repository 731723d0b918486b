"""The one progress display of a batch (`rca investigate --batch`), on stderr: a bar of
investigations with notebooks done, failures and notebooks per second while a terminal
watches; otherwise (a pipe, a log file) nothing until the final summary line."""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any

from .models import RunResult


class Display:
    """Thread-safe: investigations and their notebooks report from several threads."""

    def __init__(self, stream: IO[str] | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.total = 0
        self.finished_count = 0
        self.failed = 0
        self.notebooks = 0
        self.errored = 0  # notebooks whose hypothesis errored
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._bar: Any = None

    def start(self, total: int) -> None:
        self.total = total
        self._started = time.monotonic()
        if self.quiet or not _tty(self.stream):
            return
        from tqdm import tqdm

        self._bar = tqdm(
            total=total,
            desc="investigations",
            file=self.stream,
            dynamic_ncols=True,
            bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| [{elapsed}{postfix}]",
        )
        self._show()

    def rate(self) -> float:
        elapsed = time.monotonic() - self._started
        return self.notebooks / elapsed if elapsed > 0 else 0.0

    def notebook(self, result: RunResult) -> None:
        with self._lock:
            self.notebooks += 1
            self.errored += result.error is not None
            self._show()

    def finished(self, status: str) -> None:
        with self._lock:
            self.finished_count += 1
            self.failed += status != "done"
            if self._bar is not None:
                self._bar.update(1)
            self._show()

    def _show(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self.status(), refresh=True)

    def status(self) -> str:
        errored = f" ({self.errored} errored)" if self.errored else ""
        return (
            f"{self.notebooks} notebooks{errored}, {self.failed} failed, "
            f"{self.rate():.2f} notebooks/s"
        )

    def summary(self) -> str:
        return (
            f"batch: {self.finished_count}/{self.total} investigations, {self.failed} not done; "
            f"{self.notebooks} notebooks in {time.monotonic() - self._started:.1f} s "
            f"({self.rate():.2f} notebooks/s)"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if not self.quiet:
            print(self.summary(), file=self.stream, flush=True)


def _tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
