"""The times an alert may carry, and the evidence window they give.

A start before 2000-01-01 or more than a day ahead of the clock is refused, naming the field;
so is the end of a resolved alert more than a day ahead. A firing alert's end later than now
is a projected expiry (as Alertmanager's API sends), not an end: the alert is still firing.
Alertmanager's "0001-01-01" end, "still firing", is read as no end before these checks.

Nothing derived from an alert's times leaves the calendar: a window around a start stored
before these bounds (or behind rca-kit's back), or durations too long for the calendar, are
one-line errors, never an OverflowError or a window of centuries.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..exceptions import AlertFormatError, InputError
from ..models import Alert, Window

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # no alert of any monitoring in use starts before
AHEAD = timedelta(days=1)  # clocks of senders may run ahead of ours, never by more


def time_problem(moment: datetime, now: datetime | None = None) -> str | None:
    """Why a start time cannot be an alert's (None: it can), for `"{field}: {problem}"`."""
    if moment < EARLIEST:
        return f"{moment.isoformat()} is before {EARLIEST.date().isoformat()}"
    if moment > (now or datetime.now(UTC)) + AHEAD:
        return f"{moment.isoformat()} is more than a day in the future"
    return None


def bounded_times(
    starts: datetime, ends: datetime | None, status: str, fields: tuple[str, str]
) -> datetime | None:
    """Check an alert's start and end (`fields`: their paths) against the clock; return the
    end to keep."""
    now = datetime.now(UTC)
    problem = time_problem(starts, now)
    if problem:
        raise AlertFormatError(f"{fields[0]}: {problem}")
    if ends is None or ends <= now:
        return ends
    if status == "firing":  # a projected expiry, not an end: still firing
        return None
    if ends > now + AHEAD:
        raise AlertFormatError(f"{fields[1]}: {ends.isoformat()} is more than a day in the future")
    return ends


def alert_window(alert: Alert, before: timedelta, after: timedelta, now: datetime) -> Window:
    """[startsAt - before, (endsAt or now) + after], never past now."""
    if alert.starts_at < EARLIEST:
        raise InputError(
            f"alert {alert.id} starts at {alert.starts_at.isoformat()}, before "
            f"{EARLIEST.date().isoformat()}: no evidence window can be formed"
        )
    try:
        end = min(min(alert.ends_at or now, now) + after, now)
        start = alert.starts_at - before
    except OverflowError:
        raise InputError(
            f"the evidence window of alert {alert.id} leaves the calendar "
            "(check [evidence] before and after)"
        ) from None
    return Window(start=start, end=max(end, start))


def window_cut(
    alert: Alert,
    window: Window,
    *,
    before: timedelta,
    after: timedelta,
    longest: timedelta,
    now: datetime,
) -> bool:
    """Whether `window` was cut at `longest` (the alert's own window, as of `now`, is longer)."""
    whole = alert_window(alert, before, after, now)
    return whole.end > window.end and window.end - window.start >= longest


def earlier(moment: datetime, span: timedelta, what: str) -> datetime:
    """`moment - span`, or a one-line error naming `what` set the span."""
    try:
        return moment - span
    except OverflowError:
        raise InputError(f"{what} reaches before the calendar's first year") from None
