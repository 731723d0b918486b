"""One exception base with structured fields; every user-facing failure is an RcaKitError."""

from __future__ import annotations

from typing import Any

from .inert import one_line


class RcaKitError(Exception):
    """Base of every rca-kit error: says what was wrong, where, and how to fix it."""

    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        # one line whatever the input: a file name, label or value with a line break or an
        # escape sequence is shown escaped (`\\n`, `\\x1b`), never as a second line
        text = f"{self.where}: {self.message}" if self.where else str(self.message)
        return one_line(f"{text} ({self.hint})" if self.hint else text)

    def __reduce__(self) -> tuple[Any, ...]:
        # keyword-only fields would be lost by the default pickling of exceptions
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[RcaKitError], message: str, state: dict[str, Any]) -> RcaKitError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class InputError(RcaKitError):
    """The user's input (a file, an argument, a payload) is invalid: exit code 2."""

    exit_code = 2


class ConfigError(InputError):
    """rca.toml is missing, unreadable or invalid."""


class AlertFormatError(InputError):
    """An alert payload could not be parsed; the raw payload is kept as a dead letter."""


class SpecError(InputError):
    """A hypothesis spec in the library is invalid."""


class EvidenceError(InputError):
    """An evidence source is missing, unreadable or not in its format (docs/evidence.md)."""


class NotFoundError(InputError):
    """An id (alert, investigation, task) names nothing in the register."""


class LifecycleError(InputError):
    """A task cannot move from its state to the one asked for."""


class NotAuthorizedError(InputError):
    """The named decision authority may not make this decision."""


class ConflictError(RcaKitError):
    """Someone else changed the task since it was read: nothing was overwritten."""

    def __init__(self, task_id: str, version: int, expected: int) -> None:
        super().__init__(
            f"task {task_id} was changed by someone else (now version {version}, "
            f"you edited version {expected}); nothing was written",
            hint="re-read it with `rca register show` and repeat the change",
        )
        self.task_id = task_id
        self.version = version
        self.expected = expected


class BusyError(RcaKitError):
    """Another process is working on it right now (an investigation being run): exit 1."""


class OutcomeError(RcaKitError):
    """A recorded outcome does not match the outcome schema."""


class AuditChainError(RcaKitError):
    """The audit log's hash chain is broken: an event was edited or deleted."""


class SourceError(RcaKitError):
    """An evidence source could not answer (down, refused, timed out, an API error): the
    investigation records it and goes on; hypotheses needing its data are inconclusive."""
