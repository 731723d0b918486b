"""Child processes that do not outlive their parent (Linux: PR_SET_PDEATHSIG)."""

from __future__ import annotations

import ctypes
import signal
import sys

_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """For `preexec_fn`: the child is killed when the thread that started it ends (with its
    process). Runs between fork and exec, so it only calls an already loaded C function."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Terminated(SystemExit):
    """SIGTERM as an exception, so `finally` blocks and failure records run on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signame = signal.Signals(signum).name

    def __str__(self) -> str:
        return f"terminated by {self.signame}"


def terminate_gracefully() -> None:
    """From now on SIGTERM raises Terminated in the main thread."""

    def raise_terminated(signum: int, _frame: object) -> None:
        raise Terminated(signum)

    signal.signal(signal.SIGTERM, raise_terminated)
