"""What a notebook's own HTML and Markdown may be on its evidence page: text structure.

nbconvert runs every HTML and Markdown output, every Markdown cell and the highlighted code
through its `clean_html` filter (the exporter's `sanitize_html`); on evidence pages that filter
is `clean_html` below: the tags and attributes listed here, no ids (the page's own elements are
found by id), no styles, no images or frames (requests), no scripts; anything else is shown
escaped, as text.

Code is highlighted by pygments, which escapes every `<`, `>` and `&` of the source and adds
only `div`, `pre` and `span` elements with a class: `clean_code` keeps such markup as it is
(checked, not assumed: anything else goes through `clean_html`), sparing bleach a parse of
every token of every cell.

Headings of Markdown cells then get ids and permalinks of rca-kit's own (`heading_anchors`):
`heading-1`, `heading-2`… in page order, never a name taken from the notebook, so no text in
it can choose an id (nbconvert's own anchors, named after the heading's text, are off).
"""

from __future__ import annotations

import re
from typing import Any

_STYLE = re.compile(r"<style\b[^>]*>.*?</style\s*>", re.IGNORECASE | re.DOTALL)
_CODE_TAG = re.compile(r'</?(?:div|pre|span)(?: class="[\w -]*")?>')
# a heading in `clean_html`'s output: only a class attribute is left, headings never nest, and
# `<` is escaped everywhere but in tags (attribute values included), so this finds only headings
_HEADING = re.compile(r'<h([1-6])((?: class="[^"<>]*")?)>(.*?)</h\1>', re.DOTALL)
# permalinks show when the heading is pointed at (nbconvert's lab styles hide them)
HEADING_CSS = """
.jp-RenderedMarkdown a.anchor-link { display: inline; visibility: hidden; margin-left: 8px;
  text-decoration: none; }
.jp-RenderedMarkdown :is(h1, h2, h3, h4, h5, h6):hover > a.anchor-link { visibility: visible; }
"""

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


def clean_code(html: Any) -> str:
    """Highlighted code as it is when every `<` in it starts a div, pre or span element with
    at most a class (what pygments writes), else `clean_html` of it."""
    text = html.decode() if isinstance(html, bytes) else str(html)
    return text if "<" not in _CODE_TAG.sub("", text) else clean_html(text)


def heading_anchors(html: str, resources: Any) -> str:
    """`html` (a Markdown cell after `clean_html`) with each heading given the page's next
    `heading-N` id and a permalink to it; `resources.rca_kit.headings` counts them per page."""
    seen: list[str] = resources["rca_kit"]["headings"]

    def anchored(heading: re.Match[str]) -> str:
        seen.append(f"heading-{len(seen) + 1}")
        level, attributes, text = heading.groups()
        link = f'<a class="anchor-link" href="#{seen[-1]}">¶</a>'
        return f'<h{level} id="{seen[-1]}"{attributes}>{text}{link}</h{level}>'

    return _HEADING.sub(anchored, str(html))
