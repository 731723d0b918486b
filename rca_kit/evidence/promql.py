"""PromQL query templates: the `{service}` / `{services}` placeholders, filled so that no service
name can change a query's structure, and the chunks a long range query is split into.

A placeholder may only stand inside a double-quoted string (a label matcher's value):
`{service}` becomes the name escaped for that string (backslash, double quote, newline and the
other control characters) and, in the value of a regex matcher (`=~`, `!~`), escaped for RE2
first, so that a name like `.*` matches only itself; `{services}` becomes a regex alternation
`(?:a|b)` of every name, each escaped for RE2 first and for the string second. A template with
a placeholder anywhere else is refused when rca.toml is loaded.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

SERVICE = "{service}"
SERVICES = "{services}"
MAX_POINTS = 11_000  # Prometheus refuses (end - start) / step > 11,000 points per series
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SHORT_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _scan(expr: str) -> list[tuple[int, str, bool]]:
    """Where the placeholders stand (all inside double-quoted strings), each with whether its
    string is a regex matcher's value (after `=~` or `!~`), else ValueError."""
    found: list[tuple[int, str, bool]] = []
    quote: str | None = None
    regex = False
    i = 0
    while i < len(expr):
        char = expr[i]
        token = next((t for t in (SERVICES, SERVICE) if expr.startswith(t, i)), None)
        if quote is None:
            if char == "#":  # a comment runs to the end of the line
                newline = expr.find("\n", i)
                i = len(expr) if newline < 0 else newline
                continue
            if token:
                raise ValueError(
                    f"{token} stands outside a string: write it inside a double-quoted label "
                    f'matcher, like service="{SERVICE}"'
                )
            if char in "\"'`":
                quote = char
                regex = expr[:i].rstrip().endswith(("=~", "!~"))
        elif char == "\\" and quote != "`":
            i += 2  # an escaped character never starts or ends anything
            continue
        elif char == quote:
            quote = None
        elif token and quote != '"':
            raise ValueError(f"{token} must stand inside double quotes, not {quote}")
        elif token:
            found.append((i, token, regex))
            i += len(token)
            continue
        i += 1
    if quote is not None:
        raise ValueError(f"a string opened with {quote} is never closed")
    return found


def placeholders(expr: str) -> set[str]:
    """The placeholders a query template uses (ValueError if one stands outside a string)."""
    return {token for _, token, _ in _scan(expr)}


def escape_string(value: str) -> str:
    """`value` as the body of a PromQL double-quoted string: it reads back as exactly value."""
    out = []
    for char in value:
        code = ord(char)
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"{value!r} holds a lone surrogate: no PromQL string can carry it")
        else:
            out.append(char)
    return "".join(out)


def escape_regex(value: str) -> str:
    """`value` as an RE2 pattern matching exactly that text (Prometheus anchors matchers)."""
    out = []
    for char in value:
        if char.isascii() and (char.isalnum() or char == "_"):
            out.append(char)
        elif char in string.punctuation:
            out.append("\\" + char)  # RE2: a backslash before punctuation makes it literal
        elif char.isascii():
            out.append(f"\\x{ord(char):02x}")  # space and control characters
        else:
            out.append(char)  # nothing outside ASCII is special in RE2
    return "".join(out)


def render(expr: str, *, service: str | None = None, services: Iterable[str] = ()) -> str:
    """The query for one service (`{service}`) or for all of them at once (`{services}`); in a
    regex matcher's value, `{service}` matches exactly the name (its regex syntax escaped)."""
    names = list(services)
    parts: list[str] = []
    last = 0
    for position, token, regex in _scan(expr):
        if token == SERVICE:
            if service is None:
                raise ValueError(f"the query uses {SERVICE} but no service was given")
            value = escape_string(escape_regex(service) if regex else service)
        else:
            if not names:
                raise ValueError(f"the query uses {SERVICES} but no service was given")
            value = escape_string("(?:" + "|".join(escape_regex(n) for n in names) + ")")
        parts.extend((expr[last:position], value))
        last = position + len(token)
    parts.append(expr[last:])
    return "".join(parts)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def chunks(
    start: datetime, end: datetime, step: timedelta, max_points: int = MAX_POINTS
) -> list[tuple[int, int]]:
    """[first, last] evaluation times (epoch ms) of each range query covering start → end.

    Evaluation times sit on multiples of the step (so every chunk, and every rerun, samples the
    same instants); consecutive chunks never share one, so merging them duplicates nothing.
    """
    step_ms = step // timedelta(milliseconds=1)
    if step_ms <= 0 or max_points < 1:
        msg = f"step must be at least 1ms (got {step})"
        raise ValueError(msg)
    first = -(-_ms(start) // step_ms) * step_ms  # the first multiple of the step ≥ start
    last = _ms(end) // step_ms * step_ms
    if last < first:
        return []
    points = (last - first) // step_ms + 1
    return [
        (first + i * step_ms, first + (min(i + max_points, points) - 1) * step_ms)
        for i in range(0, points, max_points)
    ]


def seconds(ms: int) -> str:
    """Epoch milliseconds as the decimal seconds Prometheus takes (exact, no float rounding)."""
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    return f"{sign}{ms // 1000}.{ms % 1000:03d}"
