"""The one shared plotly.js of a reports folder: content-named, written once, repaired."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from plotly.offline import get_plotlyjs_version

from rca_kit.report import assets


def test_the_asset_is_named_after_its_version_and_content(tmp_path: Path) -> None:
    """reports/assets/plotly-<version>-<sha12>.min.js holds exactly the bundled plotly.js."""
    path = assets.plotly_asset(tmp_path)
    data = path.read_bytes()
    assert path.parent == tmp_path / "assets"
    match = re.fullmatch(r"plotly-(.+)-([0-9a-f]{12})\.min\.js", path.name)
    assert match, path.name
    assert match.group(1) == get_plotlyjs_version()
    assert hashlib.sha256(data).hexdigest().startswith(match.group(2))
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_the_asset_is_written_once_and_repaired_when_damaged(tmp_path: Path) -> None:
    """A second page reuses the file; a truncated or edited copy is replaced whole."""
    path = assets.plotly_asset(tmp_path)
    good = path.read_bytes()
    inode = path.stat().st_ino
    assert assets.plotly_asset(tmp_path) == path
    assert path.stat().st_ino == inode  # not rewritten

    path.write_bytes(good[:1000])
    assets.plotly_asset(tmp_path)
    assert path.read_bytes() == good

    assets._checked.discard(path)  # a new process reads the file back whole
    path.write_bytes(b"x" * len(good))
    assets.plotly_asset(tmp_path)
    assert path.read_bytes() == good


def test_pages_link_the_asset_relative_to_themselves(tmp_path: Path) -> None:
    """A review links assets/…, an evidence page one folder down links ../assets/…."""
    name = assets.plotly_asset(tmp_path).name
    assert assets.plotly_src(tmp_path / "inv-1.html", tmp_path) == f"assets/{name}"
    evidence = tmp_path / "inv-1" / "backpressure.html"
    assert assets.plotly_src(evidence, tmp_path) == f"../assets/{name}"


def test_the_inline_copy_cannot_close_its_script_element() -> None:
    """The standalone form embeds plotly.js with every `</script` escaped."""
    assert "</script" not in str(assets.plotly_inline()).lower().replace("<\\/script", "")
    assert len(assets.plotly_inline()) > 1_000_000
