"""Evidence notebooks as pages a reader can open: reports/<investigation_id>/<hypothesis_id>.html
beside the review, exported again only when the notebook or the shared plotly.js changed, or
the stylesheet the page links is gone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote

from ..inert import one_line
from .assets import holds_what_its_name_says, plotly_asset, relative_src
from .evidence_pages import export_evidence_page, stylesheet_asset
from .html import safe_name

_STYLESHEET = re.compile(r'<link href="([^"]+)" rel="stylesheet"')


def evidence_page_path(reports_dir: Path, investigation_id: str, hypothesis_id: str) -> Path | None:
    """Where the evidence page of one hypothesis of one investigation lives (None: an id that
    cannot name a file as it is)."""
    folder, name = safe_name(investigation_id), safe_name(hypothesis_id)
    if folder is None or name is None:
        return None
    return reports_dir / folder / f"{name}.html"


class EvidencePage(NamedTuple):
    """The page of one notebook, or why there is none (no notebook: neither)."""

    path: Path | None = None
    problem: str | None = None


def evidence_page(
    notebook: str | None, reports_dir: Path, investigation_id: str, hypothesis_id: str
) -> EvidencePage:
    """The exported page of an evidence notebook (written if missing or stale)."""
    if not notebook or not Path(notebook).is_file():
        return EvidencePage()
    out = evidence_page_path(reports_dir, investigation_id, hypothesis_id)
    if out is None:
        return EvidencePage(problem="its hypothesis id cannot name a file")
    asset = plotly_asset(reports_dir)
    if _fresh(out, Path(notebook), asset.name):
        return EvidencePage(out)
    try:
        styles = relative_src(out, stylesheet_asset(reports_dir))
        return EvidencePage(
            export_evidence_page(
                Path(notebook), out, plotly_src=relative_src(out, asset), stylesheet_src=styles
            )
        )
    except Exception as exc:  # a kernel wrote the file: whatever it holds, the review is
        # still written, and names the notebook and why it has no page
        return EvidencePage(problem=one_line(str(exc) or type(exc).__name__, 200))


def _fresh(out: Path, notebook: Path, asset_name: str) -> bool:
    """The page was exported from this notebook as it now is, for the current plotly.js, and
    the stylesheet it links is still there, whole (checked without exporting anything)."""
    try:
        if out.stat().st_mtime_ns < notebook.stat().st_mtime_ns:
            return False
        text = out.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    linked = _STYLESHEET.search(text.split("</head>", 1)[0])
    return (
        asset_name in text
        and linked is not None
        and holds_what_its_name_says(out.parent / unquote(linked[1]))
    )
