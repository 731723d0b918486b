"""What a notebook's own HTML and Markdown may be on its evidence page: text structure.

nbconvert runs every HTML and Markdown output, every Markdown cell and the highlighted code
through its `clean_html` filter (the exporter's `sanitize_html`); on evidence pages that filter
is `clean_html` below: the tags and attributes listed here, no ids (the page's own elements are
found by id), no styles, no images or frames (requests), no scripts; anything else is shown
escaped, as text.
"""

from __future__ import annotations

import re
from typing import Any

_STYLE = re.compile(r"<style\b[^>]*>.*?</style\s*>", re.IGNORECASE | re.DOTALL)

_TAGS = frozenset(
    {
        *("a", "abbr", "acronym", "b", "blockquote", "br", "caption", "code", "dd", "del"),
        *("details", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i"),
        *("kbd", "li", "ol", "p", "pre", "s", "samp", "small", "span", "strong", "sub"),
        *("summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "var"),
    }
)
_ATTRIBUTES = {
    "*": ["class"],
    "a": ["href", "title"],
    "abbr": ["title"],
    "acronym": ["title"],
    "table": ["border"],
    "td": ["colspan", "rowspan"],
    "th": ["colspan", "rowspan"],
}


def clean_html(element: Any) -> str:
    """nbconvert's `clean_html` filter for this page: untrusted HTML (outputs, Markdown) with
    only the tags and attributes above; anything else is shown escaped, as text."""
    import bleach  # type: ignore[import-untyped]

    text = element.decode() if isinstance(element, bytes) else str(element)
    text = _STYLE.sub("", text)  # pandas' table styles would read as text; the rest is escaped
    return str(
        bleach.clean(
            text,
            tags=_TAGS,
            attributes=_ATTRIBUTES,
            protocols={"http", "https", "mailto"},
            strip_comments=True,
        )
    )
