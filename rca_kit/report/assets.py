"""The one copy of plotly.js that every page in a reports folder shares.

Pages in `reports/` (reviews, register, index, evidence pages under `reports/<id>/`) load
`reports/assets/plotly-<version>-<sha12>.min.js` by a relative path: one 4.6 MB file on disk,
not one per page. Its name says what it holds, so a page never loads a different build than the
one it was written for; it is written once, atomically, and rewritten only when it is missing
or does not hold what its name says. A page meant to travel alone (`rca report ID
--standalone`) embeds the code instead (`plotly_inline`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from functools import cache
from pathlib import Path
from urllib.parse import quote

from markupsafe import Markup

from ..fsutil import atomic_write

ASSETS = "assets"  # the folder under reports/ for files pages share
_checked: set[Path] = set()  # assets this process has read back whole
_lock = threading.Lock()


@cache
def _plotly() -> tuple[str, bytes]:
    """(file name, code) of the plotly.js build bundled with plotly.py."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    code = get_plotlyjs().encode("utf-8")
    digest = hashlib.sha256(code).hexdigest()[:12]
    return f"plotly-{get_plotlyjs_version()}-{digest}.min.js", code


def plotly_asset(reports_dir: Path) -> Path:
    """The path of the shared plotly.js under `reports_dir/assets/`, written if missing or
    not what its name says."""
    name, code = _plotly()
    path = reports_dir / ASSETS / name
    with _lock:
        try:
            # the whole file is compared once per process; later, a size check catches a
            # file deleted or cut short meanwhile (a long-running `rca serve`)
            same_size = path.stat().st_size == len(code)
            intact = same_size and (path in _checked or path.read_bytes() == code)
        except OSError:
            intact = False
        if not intact:
            atomic_write(path, code)
        _checked.add(path)
    return path


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
