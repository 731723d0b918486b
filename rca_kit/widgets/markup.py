"""HTML for the widgets, built so that untrusted text stays text.

ipywidgets' HTML widgets set `innerHTML` as given: every value (alert labels, summaries, names,
error messages) goes through `text`, every link through `link` (http(s) or a relative path,
nothing else), and tables are put together from those pieces only.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from ..inert import html_text

REPORTS_URL_VARIABLE = "RCA_LAB_REPORTS_URL"  # `rca lab` serves the reports there
_TONES = {"ok": "#1a7f37", "error": "#cf222e", "busy": "#9a6700", "info": "inherit"}


def text(value: Any, limit: int | None = 2000) -> str:
    """Any value as inert HTML text: escaped, without control or bidi characters, bounded."""
    shown = str(html_text("" if value is None else str(value)))
    if limit is not None and len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return html.escape(shown, quote=True)


def safe_href(href: str) -> str | None:
    """`href` if it is an http(s) URL or a relative path (escaped for an attribute), else None."""
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    if parts.scheme in ("http", "https") and parts.netloc:
        return html.escape(href, quote=True)
    if parts.scheme or parts.netloc or href.startswith(("/", "\\")) or not href.strip():
        return None
    return html.escape(href, quote=True)


def link(href: str, label: Any) -> str:
    """An anchor (external ones open in a new tab), or the label alone if `href` is unsafe."""
    safe = safe_href(href)
    if safe is None:
        return text(label)
    external = safe.startswith(("http://", "https://"))
    extra = ' target="_blank" rel="noopener noreferrer"' if external else ""
    return f'<a href="{safe}"{extra}>{text(label)}</a>'


def relative_href(path: str | Path, start: str | Path | None = None) -> str:
    """A file's path relative to `start` (the kernel's folder: its notebook's, in Lab, whose
    link handler opens such links in a Lab tab), percent-encoded."""
    relative = os.path.relpath(Path(path), Path(start) if start else Path.cwd())
    return quote(Path(relative).as_posix())


def served_link(path: str | Path, served: str | Path, label: Any) -> str:
    """A link that opens a file of the `served` folder (the reports) in a new browser tab, as
    `rca lab` serves them (RCA_LAB_REPORTS_URL, e.g. "/rca/reports/"): an HTML page runs its
    own scripts there, where Lab's HTML viewer shows it untrusted (no scripts: blank plots).
    Outside `rca lab`, or for a file elsewhere, a link relative to the kernel's folder."""
    base = os.environ.get(REPORTS_URL_VARIABLE, "")
    try:
        relative = Path(path).resolve().relative_to(Path(served).resolve())
    except (OSError, ValueError):
        relative = None
    if relative is None or not base.startswith("/") or base.startswith("//"):
        return link(relative_href(path), label)
    href = html.escape(base.rstrip("/") + "/" + quote(relative.as_posix()), quote=True)
    return f'<a href="{href}" target="_blank" rel="noopener">{text(label)}</a>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, css: str = "") -> str:
    """A table of cells that are markup already (made with `text` and `link`); no header row
    when every header is empty."""
    cell = "padding:2px 8px;text-align:left;vertical-align:top"
    head = "".join(f"<th style='{cell}'>{text(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td style='{cell}'>{c}</td>" for c in row) + "</tr>" for row in rows
    )
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    return f"<table class='rca-table {text(css)}'>{thead}<tbody>{body}</tbody></table>"


def status(message: Any, tone: str = "info") -> str:
    """One status line: a message coloured by its tone (ok, error, busy, info)."""
    return f"<span style='color:{_TONES.get(tone, 'inherit')}'>{text(message)}</span>"


def html_output(markup: str, plain: str = "") -> dict[str, Any]:
    """A display output of `markup` for an Output widget (rendered by Lab, links included)."""
    return {
        "output_type": "display_data",
        "data": {"text/html": markup, "text/plain": plain or "(see the HTML view)"},
        "metadata": {},
    }
