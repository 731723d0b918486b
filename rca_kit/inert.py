"""Text a person reads, made inert: alert labels and everything derived from them are untrusted.

- `one_line`: for terminals, logs and error messages. Control characters (C0, DEL, C1, so ESC,
  CR, LF, TAB), line and paragraph separators, bidi overrides and lone surrogates are shown
  escaped (`\\n`, `\\x1b`, `\\u202e`): one record stays one line and nothing reaches the
  terminal as a command.
- `plain`: for plotly, which renders a subset of HTML (links, styles, line breaks) in titles,
  axis titles, legend names, annotations and hover text. `<` and `>` become entities, and so
  does `&` unless it already starts one (plotly shows entities as the characters they name,
  never as markup): control and bidi characters are dropped, line breaks become spaces.
  `plain(plain(x)) == plain(x)`, so a figure made inert in a notebook stays as it is when a
  reader of that (untrusted) notebook makes it inert again.
- `inert_figure`: `plain` applied to every string of a plotly figure (titles, trace names,
  annotations, hover templates and texts, category labels); the report applies it to every
  figure it embeds, so notebook templates pass text as it is and never escape it themselves.
- `html_text`: for the HTML reports (escaped by jinja2 already): control and bidi characters
  dropped from every printed value, so none reorders or hides the text around it.

Only the standard library: `import rca_kit` stays light.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# C0 and DEL and C1, Arabic letter mark, LRM/RLM, line/paragraph separators, bidi embeddings
# and overrides (U+202A-U+202E), isolates (U+2066-U+2069), lone surrogates
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BREAKS = re.compile("[\t\n\x0b\x0c\r\x85\u2028\u2029]")
_MARKUP = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# `&` that does not start an entity (`&lt;`, `&#60;`, `&#x3c;`), `<` and `>`
_MARKUP_CHARS = re.compile(
    r"&(?![A-Za-z][A-Za-z0-9]{0,31};|#[0-9]{1,7};|#[xX][0-9A-Fa-f]{1,6};)|[<>]"
)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(value: object, limit: int | None = None) -> str:
    """`value` as one inert line for a terminal or a log: unsafe characters shown escaped;
    with `limit`, at most that many characters (the rest an ellipsis)."""
    flat = _UNSAFE.sub(_escaped, str(value))
    return flat if limit is None or len(flat) <= limit else flat[: limit - 1] + "…"


def shown(value: object, limit: int = 60) -> str:
    """A value from untrusted input, quoted, one line and short enough for an error message."""
    return one_line(repr(value), limit)


def html_text(value: Any) -> Any:
    """A value printed in an HTML page (jinja2's `finalize`): text without control and bidi
    characters (line breaks kept); markup (already safe) and other values as they are."""
    if not isinstance(value, str) or hasattr(value, "__html__"):
        return value
    return _UNSAFE.sub(lambda m: m.group() if m.group() in "\n\t" else "", value)


def plain(value: object) -> str:
    """`value` as literal text for plotly: no markup, no line breaks, no control characters."""
    text = _UNSAFE.sub("", _BREAKS.sub(" ", str(value)))
    return _MARKUP_CHARS.sub(lambda m: _MARKUP[m.group()], text)


def inert_figure(figure: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a plotly figure (its JSON form) with every string made `plain`."""
    return {str(key): _inert(value) for key, value in figure.items()}


def _inert(value: Any) -> Any:
    if isinstance(value, str):
        return plain(value)
    if isinstance(value, Mapping):
        return {str(key): _inert(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_inert(item) for item in value]
    return value
