"""The files every page in a reports folder shares, under `reports/assets/`.

Pages in `reports/` (reviews, register, index, evidence pages under `reports/<id>/`) load
`reports/assets/plotly-<version>-<sha12>.min.js` by a relative path: one 4.6 MB file on disk,
not one per page; evidence pages also link one stylesheet (`evidence_pages.stylesheet_asset`).
Each asset's name says what it holds, so a page never loads a different file than the one it
was written for; it is written once, atomically, and rewritten only when it is missing or does
not hold what its name says (`shared_asset`). A page meant to travel alone (`rca report ID
--standalone`) embeds plotly.js instead (`plotly_inline`).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from functools import cache
from pathlib import Path
from urllib.parse import quote

from markupsafe import Markup

from ..fsutil import atomic_write

ASSETS = "assets"  # the folder under reports/ for files pages share
_checked: set[Path] = set()  # assets this process has read back whole
_lock = threading.Lock()
_DIGEST = re.compile(r"-([0-9a-f]{12})(?:\.[A-Za-z0-9]+)+$")  # …-<sha12>.min.js, …-<sha12>.css


def content_name(stem: str, data: bytes, suffix: str) -> str:
    """`<stem>-<first 12 hex digits of data's sha256><suffix>`: a name that says what it holds."""
    return f"{stem}-{hashlib.sha256(data).hexdigest()[:12]}{suffix}"


@cache
def _plotly() -> tuple[str, bytes]:
    """(file name, code) of the plotly.js build bundled with plotly.py."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    code = get_plotlyjs().encode("utf-8")
    return content_name(f"plotly-{get_plotlyjs_version()}", code, ".min.js"), code


def shared_asset(reports_dir: Path, name: str, data: bytes) -> Path:
    """`reports_dir/assets/<name>` holding `data`, written (atomically) if missing or not
    what it should hold."""
    path = reports_dir / ASSETS / name
    with _lock:
        try:
            # the whole file is compared once per process; later, a size check catches a
            # file deleted or cut short meanwhile (a long-running `rca serve`)
            same_size = path.stat().st_size == len(data)
            intact = same_size and (path in _checked or path.read_bytes() == data)
        except OSError:
            intact = False
        if not intact:
            atomic_write(path, data)
        _checked.add(path)
    return path


def plotly_asset(reports_dir: Path) -> Path:
    """The path of the shared plotly.js under `reports_dir/assets/`, written if missing or
    not what its name says."""
    return shared_asset(reports_dir, *_plotly())


def holds_what_its_name_says(path: Path) -> bool:
    """Whether a content-named asset (`content_name`) exists and its bytes match its name:
    what a page written earlier links is still there, whole (no need to know its content)."""
    named = _DIGEST.search(path.name)
    if named is None:
        return False
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12] == named[1]
    except OSError:
        return False


def relative_src(page: Path, target: Path) -> str:
    """`target` as a URL relative to the page that links it (POSIX separators, escaped)."""
    return quote(Path(os.path.relpath(target, page.parent)).as_posix())


def plotly_src(page: Path, reports_dir: Path) -> str:
    """The `<script src>` of the shared plotly.js for a page at `page` (written if needed)."""
    return relative_src(page, plotly_asset(reports_dir))


@cache
def plotly_inline() -> Markup:
    """plotly.js for an inline `<script>` element (a page that must stand alone)."""
    code = _plotly()[1].decode("utf-8")
    return Markup(code.replace("</script", "<\\/script"))  # noqa: S704 - bundled library code
