"""An evidence notebook's page, without a browser (tests/test_evidence_notebooks.py and
tests/test_browser.py open real ones in Chromium): the stylesheet pages share, heading links
with ids of rca-kit's own, what an invalid notebook is told, and the work an export skips."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pytest

from rca_kit.exceptions import InputError
from rca_kit.figures import PLOTLY_MIMETYPE
from rca_kit.report import evidence_links, evidence_pages
from rca_kit.report.assets import holds_what_its_name_says, relative_src
from rca_kit.report.evidence_markup import clean_code, clean_html
from rca_kit.report.evidence_pages import export_evidence_page, stylesheet_asset

PLOTLY = "../assets/plotly.min.js"
STYLE = re.compile(r'<style type="text/css">(.*?)</style>', re.DOTALL)


def evidence_notebook(path: Path) -> Path:
    """A small executed notebook: headings, code, a stream, a figure."""
    figure = {"data": [{"type": "scatter", "x": [1, 2], "y": [3, 4]}], "layout": {}}
    run = nbformat.v4.new_code_cell("import plotly\nfigure.show()", execution_count=1)
    run.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="lag 42 s\n"),
        nbformat.v4.new_output("display_data", {PLOTLY_MIMETYPE: figure, "text/plain": "fig"}),
    ]
    document = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Backpressure\n## Ingest rate"), run]
    )
    nbformat.write(document, path)
    return path


def v4(*cells: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {"cells": list(cells), "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def code(**fields: Any) -> dict[str, Any]:
    return {"cell_type": "code", "id": "c1", "source": "x", "metadata": {}, **fields}


INVALID = {
    "a code cell without outputs": (
        v4(code(execution_count=None)),
        "not a valid notebook: 'outputs' is a required property at $.cells[0]",
    ),
    "a stream without a name": (
        v4(code(execution_count=1, outputs=[{"output_type": "stream", "text": "x"}])),
        "not a valid notebook: 'name' is a required property at $.cells[0].outputs[0]",
    ),
    "metadata that is a list": (
        {**v4(), "metadata": []},
        "not a valid notebook: [] is not of type 'object' at $.metadata",
    ),
    "a cell id that is markup": (
        v4({"cell_type": "markdown", "id": 'a"><b', "source": "", "metadata": {}}),
        "does not match '^[a-zA-Z0-9-_]+$' at $.cells[0].id",
    ),
    "an unknown cell type with a long source": (
        v4({"cell_type": "weird", "id": "w", "source": "y" * 5000, "metadata": {}}),
        "is not valid under any of the given schemas",
    ),
    "nbformat 3": ({**v4(), "nbformat": 3}, "not an nbformat 4 notebook (nbformat 3)"),
    "no nbformat": (
        {"cells": [], "metadata": {}},
        "not an nbformat 4 notebook (nbformat None)",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_notebook_is_one_line_naming_it(case: str, tmp_path: Path) -> None:
    """nbformat's ValidationError (and a notebook of another version) becomes an InputError:
    one short line with the notebook's path, what is wrong and where; no page is written."""
    document, says = INVALID[case]
    notebook = tmp_path / "01-broken.ipynb"
    notebook.write_text(json.dumps(document), encoding="utf-8")
    out = tmp_path / "reports" / "inv" / "broken.html"
    with pytest.raises(InputError) as raised:
        export_evidence_page(notebook, out, plotly_src=PLOTLY)
    text = str(raised.value)
    assert text.startswith(f"{notebook}: "), text
    assert says in text
    assert "\n" not in text
    assert len(text) < len(str(notebook)) + 260
    assert not out.exists()


def test_pages_link_one_shared_stylesheet(tmp_path: Path) -> None:
    """nbconvert's ~260 KB of CSS is one content-named file in reports/assets/, linked by a
    relative URL the Content-Security-Policy admits; without it, a page carries the same CSS."""
    notebook = evidence_notebook(tmp_path / "02-backpressure.ipynb")
    reports = tmp_path / "reports"
    out = reports / "inv-1" / "backpressure.html"
    css = stylesheet_asset(reports)
    assert css.parent == reports / "assets"
    assert re.fullmatch(r"nbconvert-lab-[0-9.]+-[0-9a-f]{12}\.css", css.name), css.name
    assert holds_what_its_name_says(css)
    assert stylesheet_asset(reports) == css
    assert [p.name for p in css.parent.iterdir()] == [css.name]  # nothing temporary left
    export_evidence_page(notebook, out, plotly_src=PLOTLY, stylesheet_src=relative_src(out, css))
    linked = out.read_text(encoding="utf-8")
    alone = export_evidence_page(notebook, tmp_path / "alone.html", plotly_src=PLOTLY)
    inline = alone.read_text(encoding="utf-8")
    assert f'<link href="../assets/{css.name}" rel="stylesheet">' in linked
    assert "<style" not in linked
    assert "style-src 'self' 'unsafe-inline';" in linked
    assert "\n".join(STYLE.findall(inline)).encode() == css.read_bytes()
    assert len(css.read_bytes()) > 200_000
    assert len(linked) < 20_000 < len(inline) - 200_000


def test_a_page_is_exported_again_when_its_stylesheet_is_gone(tmp_path: Path) -> None:
    """A fresh page is kept as it is; one whose stylesheet was deleted or cut short is
    exported again, and the stylesheet written again."""
    notebook = evidence_notebook(tmp_path / "02-backpressure.ipynb")
    reports = tmp_path / "reports"
    first = evidence_links.evidence_page(str(notebook), reports, "inv-1", "backpressure")
    assert first.problem is None
    assert first.path is not None
    css = stylesheet_asset(reports)
    written = first.path.stat().st_mtime_ns
    assert evidence_links.evidence_page(str(notebook), reports, "inv-1", "backpressure") == first
    assert first.path.stat().st_mtime_ns == written
    for damage in (css.unlink, lambda: css.write_bytes(css.read_bytes()[:1000])):
        damage()
        assert not holds_what_its_name_says(css)
        assert evidence_links.evidence_page(str(notebook), reports, "inv-1", "backpressure")
        assert holds_what_its_name_says(css)
        assert first.path.stat().st_mtime_ns > written
        written = first.path.stat().st_mtime_ns


class Anchors(HTMLParser):
    """Every id on a page (with its tag and class) and every in-page link."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.ids: list[tuple[str, str, str]] = []
        self.links: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.append((str(found["id"]), tag, str(found.get("class"))))
        if tag == "a" and str(found.get("href", "")).startswith("#"):
            self.links.append(str(found["href"])[1:])


def test_heading_links_point_at_ids_rca_kit_gives(tmp_path: Path) -> None:
    """Each Markdown cell heading gets the next heading-N id and a permalink to it; no text
    of the notebook names an id (a heading called rca-kit-figure-0, an output's own ids and
    Markdown headings), every in-page link has its target and every id is unique."""
    notebook = evidence_notebook(tmp_path / "02-backpressure.ipynb")
    document = nbformat.read(notebook, as_version=4)
    document.cells.append(
        nbformat.v4.new_markdown_cell(
            "# rca-kit-figure-0\n<h2 id='rca-kit-figure-0'>posing</h2>\n\n[top](#heading-1)"
        )
    )
    outputs = document.cells[1].outputs
    outputs.append(nbformat.v4.new_output("display_data", {"text/markdown": "# From output"}))
    outputs.append(
        nbformat.v4.new_output(
            "display_data", {"text/html": '<h3 id="heading-9">spoof</h3><a href="#x">x</a>'}
        )
    )
    nbformat.write(document, notebook)
    out = export_evidence_page(notebook, tmp_path / "page.html", plotly_src=PLOTLY)
    page = Anchors(out.read_text(encoding="utf-8"))
    ids = [name for name, _, _ in page.ids]
    assert len(ids) == len(set(ids)), ids
    headings = [(name, tag) for name, tag, _ in page.ids if name.startswith("heading-")]
    assert headings == [
        ("heading-1", "h1"),
        ("heading-2", "h2"),
        ("heading-3", "h1"),
        ("heading-4", "h2"),
    ]
    assert [(name, tag) for name, tag, css in page.ids if "rca-kit-figure" in css] == [
        ("rca-kit-figure-0", "div")
    ]
    assert {n for n in ids if not n.startswith("cell-id=")} == {
        "heading-1",
        "heading-2",
        "heading-3",
        "heading-4",
        "rca-kit-figure-0",
    }
    assert page.links.count("heading-1") == 2  # its permalink, and the notebook's own link
    assert set(page.links) - set(ids) == {"x"}  # only the output's own link has no target


def test_code_stays_as_pygments_wrote_it_and_anything_else_is_cleaned() -> None:
    """Highlighted code (every `<` of the source escaped, only div, pre and span with a class
    added) is kept as it is; a single other tag or attribute sends it through clean_html."""
    from nbconvert.filters.highlight import Highlight2HTML

    source = "x = '<script>alert(1)</script>' & 1  # <img src=x onerror=y>\nprint(x)"
    highlighted = Highlight2HTML(pygments_lexer="ipython3")(source)
    assert "highlight hl-ipython3" in highlighted
    assert clean_code(highlighted) == highlighted
    for tampered in (
        highlighted.replace('<span class="n">', '<span class="n" onmouseover="y">', 1),
        highlighted + "<img src=x onerror=y>",
        '<span class="n" id="rca-kit-figure-0">x</span>',
        "</div></div><script>x()</script>",
        '<pre class="a" style="position:fixed">x</pre>',
    ):
        cleaned = clean_code(tampered)
        assert cleaned == clean_html(tampered)
        for unsafe in ("onmouseover=", "<img", "id=", "<script", "style="):
            assert unsafe not in cleaned, tampered


def test_an_export_runs_bleach_on_the_notebooks_html_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bleach parses the notebook's Markdown and HTML, not the highlighted code of each cell
    (which was half the time an export took)."""
    import bleach  # type: ignore[import-untyped]

    calls: list[str] = []
    original = bleach.clean

    def counted(text: str, **kwargs: Any) -> str:
        calls.append(text)
        return str(original(text, **kwargs))

    monkeypatch.setattr(bleach, "clean", counted)
    notebook = evidence_notebook(tmp_path / "02-backpressure.ipynb")
    document = nbformat.read(notebook, as_version=4)
    document.cells.extend(nbformat.v4.new_code_cell(f"y{n} = {n} * 2") for n in range(5))
    nbformat.write(document, notebook)
    out = export_evidence_page(notebook, tmp_path / "page.html", plotly_src=PLOTLY)
    assert len(calls) == 1  # the Markdown cell
    assert out.read_text(encoding="utf-8").count("highlight hl-ipython3") == 6


def test_warm_up_gets_the_exporter_ready_in_the_background() -> None:
    """`rca investigate` starts it while its notebooks run: nbconvert imported, templates
    compiled and the stylesheet made before the first page is exported."""
    for cached in (evidence_pages._exporter, evidence_pages._stylesheet):
        cached.cache_clear()
    thread = evidence_pages.warm_up()
    assert thread.daemon
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert evidence_pages._exporter.cache_info().currsize == 1
    assert evidence_pages._stylesheet.cache_info().currsize == 1
