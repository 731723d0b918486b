"""Pure task lifecycle: the states a remediation task moves through and the legal moves.

open → in_progress → done → verified | reopened, and wont_do (with a reason) from any open
state. `verified` is set only by verification (`rca verify`), never by hand.
"""

from __future__ import annotations

from typing import Final

from .exceptions import LifecycleError

STATUSES: Final = ("open", "in_progress", "done", "verified", "reopened", "wont_do")
ACTIVE: Final = ("open", "in_progress", "reopened")  # still to be worked on
MOVES: Final[dict[str, tuple[str, ...]]] = {
    "open": ("in_progress", "done", "wont_do"),
    "in_progress": ("done", "wont_do", "open"),
    "done": ("verified", "reopened"),
    "verified": ("reopened",),
    "reopened": ("in_progress", "done", "wont_do"),
    "wont_do": ("reopened",),
}
NEEDS_REASON: Final = ("wont_do", "reopened")
BY_VERIFICATION: Final = ("verified",)


def check_move(
    task_id: str, current: str, new: str, *, reason: str | None, by_verification: bool = False
) -> None:
    """Raise LifecycleError unless `current → new` is allowed (and carries a needed reason)."""
    if new not in STATUSES:
        msg = f"{new!r} is not a task status (one of: {', '.join(STATUSES)})"
        raise LifecycleError(msg, where=task_id)
    allowed = [m for m in MOVES.get(current, ()) if by_verification or m not in BY_VERIFICATION]
    if new in BY_VERIFICATION and not by_verification:
        moves = ", ".join(allowed) or "none"
        msg = (
            f"is {current} and cannot move to verified by hand (allowed: {moves}); "
            f"`rca verify {task_id}` verifies a done task"
        )
        raise LifecycleError(msg, where=task_id)
    if new not in allowed:
        moves = ", ".join(allowed) or "none"
        msg = f"is {current} and cannot move to {new} (allowed: {moves})"
        raise LifecycleError(msg, where=task_id)
    if new in NEEDS_REASON and not (reason or "").strip():
        msg = f"moving to {new} needs a reason"
        raise LifecycleError(msg, where=task_id, hint="add --reason TEXT")
