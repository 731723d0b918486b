"""Evidence notebooks as pages a reader can open: reports/<investigation_id>/<hypothesis_id>.html
beside the review. A page is exported from the notebook's bytes as the review checked them
(never from a notebook missing or changed since its run was recorded), and stamped with their
sha256; it is exported again only when that sha256 or the shared plotly.js changed, or the
stylesheet the page links is gone."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote

from ..fsutil import atomic_write
from ..inert import one_line
from .assets import holds_what_its_name_says, plotly_asset, relative_src
from .evidence_pages import export_evidence_page, stylesheet_asset
from .html import safe_name
from .notebooks import NotebookFacts, read_notebook

_STYLESHEET = re.compile(r'<link href="([^"]+)" rel="stylesheet"')
_STAMP = '<meta name="rca-kit-notebook-sha256" content="{}">'
_STAMPED = re.compile(r'<meta name="rca-kit-notebook-sha256" content="([0-9a-f]{64})">')


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
    notebook: str | None,
    reports_dir: Path,
    investigation_id: str,
    hypothesis_id: str,
    facts: NotebookFacts | None = None,
) -> EvidencePage:
    """The exported page of an evidence notebook as `facts` read it (default: as it is now;
    written if missing or stale); none, and why, for a notebook missing or changed since its
    run was recorded."""
    facts = facts or read_notebook(notebook)
    if facts.problem:
        return EvidencePage(problem=f"{facts.problem}; no page is made from it")
    if not notebook or facts.state in ("none", "unreadable"):
        return EvidencePage()
    if facts.data is None or facts.sha256 is None:
        return EvidencePage(problem="the notebook is too large to show as a page")
    out = evidence_page_path(reports_dir, investigation_id, hypothesis_id)
    if out is None:
        return EvidencePage(problem="its hypothesis id cannot name a file")
    asset = plotly_asset(reports_dir)
    if _fresh(out, facts.sha256, asset.name):
        return EvidencePage(out)
    with tempfile.TemporaryDirectory(prefix="rca-kit-page-") as folder:
        checked = Path(folder) / Path(notebook).name  # the bytes checked, nothing later
        try:
            checked.write_bytes(facts.data)
            styles = relative_src(out, stylesheet_asset(reports_dir))
            export_evidence_page(
                checked, out, plotly_src=relative_src(out, asset), stylesheet_src=styles
            )
            return EvidencePage(_stamp(out, facts.sha256))
        except Exception as exc:  # a kernel wrote the file: whatever it holds, the review is
            # still written, and names the notebook and why it has no page
            why = (str(exc) or type(exc).__name__).replace(str(checked), notebook)
            return EvidencePage(problem=one_line(why, 200))


def _stamp(out: Path, sha256: str) -> Path:
    """Name in the page's head the sha256 of the notebook it was exported from."""
    head, found, body = out.read_text(encoding="utf-8").partition("<head>")
    if not found:  # unstamped: exported again next time
        return out
    return atomic_write(out, f"{head}<head>\n{_STAMP.format(sha256)}{body}")


def _fresh(out: Path, sha256: str, asset_name: str) -> bool:
    """The page was exported from these notebook bytes, for the current plotly.js, and the
    stylesheet it links is still there, whole (checked without exporting anything)."""
    try:
        text = out.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    head = text.split("</head>", 1)[0]
    stamped, linked = _STAMPED.search(head), _STYLESHEET.search(head)
    return (
        stamped is not None
        and stamped[1] == sha256
        and asset_name in text
        and linked is not None
        and holds_what_its_name_says(out.parent / unquote(linked[1]))
    )


class PagesAhead:
    """Evidence pages exported on one background thread as each notebook finishes, while the
    others still run; `wait()` before the review, which then finds them fresh (stamped with
    the sha256 of the bytes exported) or, for a notebook changed since, exports it again."""

    def __init__(self, reports_dir: Path, investigation_id: str) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.reports_dir, self.investigation_id = reports_dir, investigation_id
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rca-kit-pages")

    def add(self, hypothesis_id: str, notebook: Path) -> None:
        """From any thread; ignored once the investigation stopped waiting (`wait`)."""
        try:
            self.executor.submit(
                evidence_page, str(notebook), self.reports_dir, self.investigation_id, hypothesis_id
            )
        except RuntimeError:  # shut down: an interrupted investigation renders no review
            return

    def wait(self) -> None:
        self.executor.shutdown(wait=True)
